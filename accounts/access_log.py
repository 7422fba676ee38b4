"""Gunicorn's logger with secrets masked: the OAuth callback's code and state, tokens, cookies.

EVE SSO sends the pilot back to /accounts/eveonline/login/callback/?code=…&state=…, and
gunicorn's access log writes the whole request line (and the Referer) as it came. Every access
line and every error line gunicorn writes passes through accounts.redaction first. Used by
`manage.py run` (`--logger-class accounts.access_log.RedactingGunicornLogger`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from gunicorn.glogging import Logger

from accounts.redaction import REDACTED, RedactTokensLogFilter, redact

# Request or response headers whose whole value is a credential.
SECRET_HEADERS = {"authorization", "cookie", "set-cookie", "x-csrftoken", "proxy-authorization"}


class RedactingGunicornLogger(Logger):
    def setup(self, cfg) -> None:
        super().setup(cfg)
        # Error lines ("Error handling request /path?code=…") get the same treatment.
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactTokensLogFilter) for f in log.filters):
                log.addFilter(RedactTokensLogFilter())

    def atoms(self, resp, req, environ, request_time) -> dict:
        # Only what the line prints is kept and masked: gunicorn offers every request header,
        # response header and environ variable (about fifty), and masking them all cost a
        # tenth of a JSON answer's CPU. An atom the format does not name is never written.
        atoms = super().atoms(resp, req, environ, request_time)
        shown = {}
        for name in _format_atoms(self.cfg.access_log_format):
            if name not in atoms:
                continue
            value = atoms[name]
            if _header(name) in SECRET_HEADERS:
                shown[name] = REDACTED
            elif isinstance(value, str):
                shown[name] = redact(value)
            else:
                shown[name] = value
        return shown


def _header(atom: str) -> str:
    """The header an atom prints, in lower case: ``{cookie}i`` and the environ's
    ``{http_cookie}e`` are both "cookie"; "" for the other atoms."""
    if not atom.startswith("{"):
        return ""
    name, kind = atom[1:-2], atom[-1]
    if kind == "e" and name.startswith("http_"):
        return name.removeprefix("http_").replace("_", "-")
    return name


@lru_cache(maxsize=8)
def _format_atoms(access_log_format: str) -> tuple[str, ...]:
    """The atoms an access log format prints: ``%(r)s`` → "r", ``%({Cookie}i)s`` → "{cookie}i"
    (gunicorn looks header and environ atoms up in lower case)."""
    names = re.findall(r"%\(([^)]+)\)", access_log_format)
    return tuple(dict.fromkeys(n.lower() if n.startswith("{") else n for n in names))
