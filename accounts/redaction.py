"""Keep tokens out of logs and error reports.

Imported by the logging configuration, before Django's apps are loaded: standard library only.
"""

from __future__ import annotations

import logging
import re

REDACTED = "********"

_PATTERNS = [
    # key=value / "key": "value" / key: value for the OAuth secrets.
    (
        re.compile(
            r"""(?i)\b(refresh_token|access_token|client_secret|id_token|code|token|token_secret)"""
            r"""(\\?["']?\s*[:=]\s*\\?["']?)([^&\s"'\\,;}\]]+)"""
        ),
        rf"\1\2{REDACTED}",
    ),
    # Query parameters that carry a secret, in any URL (an access log's request line, a
    # Referer): OAuth's code and state, tokens, passwords.
    (
        re.compile(
            r"""(?i)([?&](?:amp;)?(?:code|state|session_state|token|access_token|refresh_token|"""
            r"""id_token|client_secret|password|secret|key)=)[^&\s"'#]*"""
        ),
        rf"\1{REDACTED}",
    ),
    (re.compile(r"(?i)\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+"), rf"\1 {REDACTED}"),
    # JWTs (EVE SSO access tokens) wherever else they turn up: header.payload.signature.
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "[redacted JWT]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactTokensLogFilter(logging.Filter):
    """Rewrites each record's message and traceback text with the secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is logging's problem, not ours
            return True
        record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
