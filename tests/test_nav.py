"""The main nav (``{% main_nav %}``, rendered once per process for each section and user name):
it follows who is logged in and where they are, and its logout form carries the answer's
CSRF token."""

from __future__ import annotations

import re

import pytest
from django.template import RequestContext, Template
from django.test import Client, RequestFactory
from django.urls import resolve

pytestmark = pytest.mark.django_db

# The nav as base.html wrote it before it was kept: the kept one must read the same.
NAV_AS_IT_WAS = """{% load main_nav %}<nav aria-label="Main">
      <ul><li><a href="{% url 'home' %}" class="brand"><strong>Lenny</strong></a></li></ul>
      <ul>
        <li><a href="{% url 'market:home' %}" {% if request.resolver_match.app_name == 'market' %}aria-current="page"{% endif %}>Market</a></li>
        <li><a href="{% url 'stores:dashboard' %}" {% if request.resolver_match.app_name == 'stores' %}aria-current="page"{% endif %}>Stores</a></li>
        {% if user.is_authenticated %}
          <li><a href="{% url 'ledger:home' %}" {% if request.resolver_match.app_name == 'ledger' %}aria-current="page"{% endif %}>Ledger</a></li>
          <li><a href="{% url 'accounts:profile' %}" {% if request.resolver_match.app_name == 'accounts' %}aria-current="page"{% endif %}>Account ({{ user.username }})</a></li>
          <li><form method="post" action="{% url 'account_logout' %}" class="inline">{% csrf_token %}<button type="submit" class="outline secondary small">Log out</button></form></li>
        {% else %}
          <li><a href="{% url 'account_login' %}">Log in</a></li>
          <li><a href="{% url 'account_signup' %}" role="button" class="small">Sign up</a></li>
        {% endif %}
      </ul>
    </nav>|{% main_nav %}"""


def nav(html: str) -> str:
    return re.search(r'<nav aria-label="Main">.*?</nav>', html, re.S).group(0)


@pytest.mark.parametrize("path", ["/", "/market/", "/stores/", "/account/", "/ledger/"])
@pytest.mark.parametrize("who", ["anonymous", "alice", "a <b>&amp; name"])
def test_the_kept_nav_reads_as_the_template_did(path, who, django_user_model):
    from django.contrib.auth.models import AnonymousUser

    request = RequestFactory().get(path)
    request.resolver_match = resolve(path)
    request.user = (
        AnonymousUser()
        if who == "anonymous"
        else django_user_model.objects.create_user(who, "", "correct horse 9")
    )
    template = Template(NAV_AS_IT_WAS)
    for _ in range(2):  # rendered, then kept
        before, after = template.render(RequestContext(request)).split("|")
        assert after == before


def test_logging_out_changes_the_nav(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    html = nav(client.get("/market/").content.decode())
    assert "Account (alice)" in html and "Log out" in html and "Log in" not in html
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)

    # The logout form's token is this answer's own, and works.
    assert client.post("/accounts/logout/", {"csrfmiddlewaretoken": token}).status_code == 302
    html = nav(client.get("/market/").content.decode())
    assert "Log in" in html and "Sign up" in html and "alice" not in html


def test_the_nav_follows_a_new_user_name_and_the_section(client, user):
    client.force_login(user)
    assert "Account (alice)" in nav(client.get("/").content.decode())
    user.username = "alicia"
    user.save()
    html = nav(client.get("/market/").content.decode())
    assert "Account (alicia)" in html and "alice)" not in html
    assert re.search(r'href="/market/" aria-current="page">Market<', html)
    html = nav(client.get("/stores/").content.decode())
    assert re.search(r'href="/stores/" aria-current="page">Stores<', html)
    assert 'href="/market/" aria-current' not in html
