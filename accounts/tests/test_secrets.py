"""Tokens at rest are encrypted and never show in clear: database, admin, dumps, logs, error pages."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection
from django.test import RequestFactory
from django.views.debug import ExceptionReporter

from accounts.models import Character
from accounts.redaction import RedactTokensLogFilter
from accounts.tokens import TokenInvalid, access_token_get

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
OLD_KEY, NEW_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def raw_token_columns(character: Character) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT access_token, refresh_token FROM accounts_character WHERE id = %s",
            [character.pk],
        )
        return cursor.fetchone()


def test_the_database_columns_do_not_hold_the_tokens(make_character, user):
    character = make_character(user)
    raw_access, raw_refresh = raw_token_columns(character)

    assert character.access_token not in raw_access
    for part in character.access_token.split("."):
        assert part not in raw_access
    assert character.refresh_token not in raw_refresh
    assert raw_access.startswith("gAAAAA") and raw_refresh.startswith("gAAAAA")  # Fernet
    assert Character.objects.get(pk=character.pk).refresh_token == character.refresh_token


def test_old_keys_still_decrypt_and_rotation_moves_tokens_to_the_new_key(
    make_character, user, settings
):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    character = make_character(user)
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    assert Character.objects.get(pk=character.pk).refresh_token == character.refresh_token
    before = raw_token_columns(character)

    out = io.StringIO()
    call_command("rotate_token_keys", stdout=out)

    assert "re-encrypted the tokens of 1 character(s)" in out.getvalue()
    assert raw_token_columns(character) != before
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    stored = Character.objects.get(pk=character.pk)
    assert (stored.access_token, stored.refresh_token) == (
        character.access_token,
        character.refresh_token,
    )


def test_a_token_no_key_can_read_means_a_new_login_not_a_crash(make_character, user, settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    character = make_character(user, expires_in=10)
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]  # the old key was dropped too early

    stored = Character.objects.get(pk=character.pk)
    assert stored.refresh_token == ""
    with pytest.raises(TokenInvalid):
        access_token_get(character=stored)
    assert Character.objects.get(pk=character.pk).needs_relogin


def test_a_malformed_key_fails_the_system_check(settings):
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    with pytest.raises(SystemCheckError, match="FIELD_ENCRYPTION_KEYS key #1 is not a Fernet key"):
        call_command("check")


def test_production_refuses_to_start_without_encryption_keys():
    env = {k: v for k, v in os.environ.items() if k != "FIELD_ENCRYPTION_KEYS"}
    env.update(LENNY_PRODUCTION="1", SECRET_KEY="x" * 60, ALLOWED_HOSTS="lenny.example.com")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "Set FIELD_ENCRYPTION_KEYS" in result.stderr


def test_the_admin_never_shows_a_token(make_character, user, admin_client):
    character = make_character(user)
    raw_access, raw_refresh = raw_token_columns(character)
    for url in ["/admin/accounts/character/", f"/admin/accounts/character/{character.pk}/change/"]:
        page = admin_client.get(url).content.decode()
        assert "Lenny Demo Pilot" in page
        for secret in (character.access_token, character.refresh_token, raw_access, raw_refresh):
            assert secret not in page


def test_dumps_leave_the_tokens_out(make_character, user):
    character = make_character(user)
    out = io.StringIO()
    call_command("dumpdata", "accounts.character", stdout=out)
    assert "Lenny Demo Pilot" in out.getvalue()
    assert character.refresh_token not in out.getvalue()
    assert character.access_token not in out.getvalue()


def test_logs_never_show_a_token(make_character, user):
    character = make_character(user)
    console = next(
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, RedactTokensLogFilter) for f in h.filters)
    )
    previous = console.setStream(io.StringIO())
    log = logging.getLogger("accounts.tests")
    log.error(
        "token answer %s",
        {"access_token": character.access_token, "refresh_token": character.refresh_token},
    )
    log.error("sent grant_type=refresh_token&refresh_token=%s", character.refresh_token)
    try:
        raise RuntimeError(f"upstream said Bearer {character.access_token}")
    except RuntimeError:
        log.exception("call failed")
    err = console.setStream(previous).getvalue()

    assert "token answer" in err and "call failed" in err
    assert character.access_token not in err and character.refresh_token not in err
    assert "'access_token': '********'" in err and "refresh_token=********" in err
    assert "Bearer ********" in err


def test_the_log_filter_masks_messages_and_tracebacks(make_character, user):
    character = make_character(user)
    try:
        raise ValueError(character.access_token)
    except ValueError:
        record = logging.LogRecord(
            "x",
            logging.ERROR,
            __file__,
            1,
            "refresh_token: %s",
            (character.refresh_token,),
            sys.exc_info(),
        )
    assert RedactTokensLogFilter().filter(record)
    assert record.getMessage() == "refresh_token: ********"
    assert character.access_token not in record.exc_text


def test_error_reports_never_show_a_token(make_character, user, settings):
    settings.DEBUG = True  # the debug page shows every frame's variables
    character = make_character(user)

    def refresh(character: Character) -> None:
        answer = {"access_token": character.access_token, "refresh_token": character.refresh_token}
        body = f"grant_type=refresh_token&refresh_token={character.refresh_token}"
        refresh_token = character.refresh_token
        raise RuntimeError(f"boom {len(answer)} {len(body)} {len(refresh_token)}")

    request = RequestFactory().post(
        "/accounts/eveonline_v2/login/callback/", {"code": "abc", "state": "xyz"}
    )
    try:
        refresh(character)
    except RuntimeError:
        reporter = ExceptionReporter(request, *sys.exc_info())
    for report in (reporter.get_traceback_html(), reporter.get_traceback_text()):
        assert "boom" in report and "refresh_token" in report
        assert character.access_token not in report
        assert character.refresh_token not in report
