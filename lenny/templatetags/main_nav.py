"""``{% main_nav %}``: the nav at the top of every page, rendered once per process and kept.

It shows only the section the page is in, whether someone is logged in and their user name,
and URLs: ten URL reversals and as many tags on every page, for a few dozen different
answers. Each is rendered once (with a mark for the CSRF token) under a key made of all it
shows, and kept in a small per-process table; the CSRF input is the answer's own.
"""

from __future__ import annotations

from django import template
from django.conf import settings
from django.template.defaulttags import CsrfTokenNode
from django.template.loader import get_template
from django.urls import get_script_prefix, get_urlconf
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

TEMPLATE = "_nav.html"
# What the csrf_token tag writes for this mark (escaping keeps user text from writing it).
CSRF_MARK = "csrf-token-of-the-answer"
CSRF_MARK_INPUT = f'<input type="hidden" name="csrfmiddlewaretoken" value="{CSRF_MARK}">'
# Sections x logged out or each user name seen: past this many, start again (a name changed
# or an unusual crowd; a rendering is ~0.5 ms).
KEEP_AT_MOST = 2048

_kept: dict[tuple, str] = {}


def _nav_render(key: tuple) -> str:
    _prefix, _urlconf, section, signed_in, username = key
    context = {
        "section": section,
        "signed_in": signed_in,
        "username": username,
        "csrf_token": CSRF_MARK,
    }
    return get_template(TEMPLATE).render(context).strip()


@register.simple_tag(takes_context=True)
def main_nav(context: template.Context) -> SafeString:
    request = context.get("request")
    match = getattr(request, "resolver_match", None)
    user = context.get("user")
    signed_in = bool(getattr(user, "is_authenticated", False))
    key = (
        get_script_prefix(),
        get_urlconf() or settings.ROOT_URLCONF,
        getattr(match, "app_name", ""),
        signed_in,
        user.username if signed_in else "",
    )
    if settings.DEBUG:
        # Templates are read again on every page while developing: so is the nav.
        html = _nav_render(key)
    else:
        html = _kept.get(key)
        if html is None:
            if len(_kept) >= KEEP_AT_MOST:
                _kept.clear()
            html = _kept[key] = _nav_render(key)
    if signed_in:
        # The answer's own token, as {% csrf_token %} would write it here.
        html = html.replace(CSRF_MARK_INPUT, CsrfTokenNode().render(context))
    return mark_safe(html)
