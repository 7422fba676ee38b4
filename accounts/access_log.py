"""Gunicorn's logger with secrets masked: the OAuth callback's code and state, tokens, cookies.

EVE SSO sends the pilot back to /accounts/eveonline/login/callback/?code=…&state=…, and
gunicorn's access log writes the whole request line (and the Referer) as it came. Every access
line and every error line gunicorn writes passes through accounts.redaction first. Used by
`manage.py run` (`--logger-class accounts.access_log.RedactingGunicornLogger`).
"""

from __future__ import annotations

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
        atoms = super().atoms(resp, req, environ, request_time)
        for name, value in atoms.items():
            header = name[1:-2].lower() if name.startswith("{") else ""
            if header in SECRET_HEADERS:
                atoms[name] = REDACTED
            elif isinstance(value, str):
                atoms[name] = redact(value)
        return atoms
