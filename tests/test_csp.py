"""The Content-Security-Policy: scripts only from Lenny or with the request's nonce, and no
template relies on what the policy forbids (inline handlers, eval-based htmx features)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DIRS = [ROOT / "templates", *ROOT.glob("*/templates")]
TEMPLATES = sorted(p for d in TEMPLATE_DIRS for p in d.rglob("*.html"))

pytestmark = pytest.mark.django_db


def _directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


@pytest.mark.embedded
@pytest.mark.parametrize("path", ["/", "/market/", "/accounts/login/", "/admin/login/"])
def test_every_page_sends_a_policy_that_needs_a_nonce_for_inline_scripts(client, path):
    r = client.get(path)
    assert r.status_code == 200
    policy = _directives(r["Content-Security-Policy"])
    scripts = policy["script-src"]
    assert "'self'" in scripts
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    # django-csp adds the nonce only to pages that used it: the rest allow no inline script.
    assert [s for s in scripts if s != "'self'" and not s.startswith("'nonce-")] == []
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]


def test_the_inline_script_on_the_want_list_carries_the_responses_nonce(client, user):
    client.force_login(user)
    r = client.get("/stores/")
    nonce = re.search(r"'nonce-([^']+)'", r["Content-Security-Policy"]).group(1)
    # A fresh nonce for every response.
    assert f"'nonce-{nonce}'" not in client.get("/stores/")["Content-Security-Policy"]
    html = r.content.decode()
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
    assert inline, "the autocomplete script is inline"
    for attrs in inline:
        if 'type="application/json"' in attrs:
            continue  # data, not code
        assert f'nonce="{nonce}"' in attrs


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_template_uses_what_the_policy_forbids(template):
    text = template.read_text()
    # Inline event handlers (onclick=, onsubmit=, …) cannot carry a nonce.
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", text), "inline event handler"
    assert "javascript:" not in text
    # htmx features that evaluate strings: hx-on, js: values, [filters] in hx-trigger.
    assert not re.search(r"\bhx-on\b|hx-on:|hx-on::", text), "hx-on needs eval"
    assert not re.search(r"hx-(vals|vars)=['\"]\s*js:", text), "js: values need eval"
    assert not re.search(r"hx-vars=", text), "hx-vars always evaluates"
    for trigger in re.findall(r"hx-trigger=\"([^\"]*)\"|hx-trigger='([^']*)'", text):
        assert "[" not in "".join(trigger), "an hx-trigger filter needs eval"
    # Every executable inline script carries the nonce.
    for attrs in re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", text):
        if "application/json" in attrs or "text/template" in attrs:
            continue
        assert "request.csp_nonce" in attrs, "inline <script> without the nonce"


def test_the_policy_is_clean_under_check_deploy_style_settings(settings):
    policy = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert "'unsafe-inline'" not in policy["script-src"]


def test_portraits_from_eves_image_server_are_allowed_and_follow_the_setting(client, settings):
    img = _directives(client.get("/")["Content-Security-Policy"])["img-src"]
    assert img == ["'self'", "data:", "https://images.evetech.net"]
    settings.EVE_IMAGE_BASE_URL = "http://127.0.0.1:8765/images"
    img = _directives(client.get("/")["Content-Security-Policy"])["img-src"]
    assert img[-1] == "http://127.0.0.1:8765"
