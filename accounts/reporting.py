"""Error reports (Django's debug page, mails to admins) with tokens masked in every frame."""

from __future__ import annotations

import re
from typing import Any

from django.views.debug import SafeExceptionReporterFilter

from accounts.redaction import redact


class _Shown:
    """A frame variable as the report shows it: its repr, with the secrets masked."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _shown(value: Any) -> _Shown:
    try:
        text = repr(value)
    except Exception as exc:
        text = f"<unprintable {type(value).__name__}: {type(exc).__name__}>"
    return _Shown(redact(text))


SENSITIVE_NAMES = re.compile(r"(?i)token|secret|password|authorization|\bcode\b")


class TokenRedactingReporterFilter(SafeExceptionReporterFilter):
    def is_active(self, request: Any) -> bool:
        # Also on DEBUG pages: a token shown there ends up in screenshots and bug reports.
        return True

    def get_traceback_frame_variables(self, request: Any, tb_frame: Any) -> list[tuple[str, Any]]:
        variables = super().get_traceback_frame_variables(request, tb_frame)
        return [
            (name, self.cleansed_substitute if SENSITIVE_NAMES.search(name) else _shown(value))
            for name, value in variables
        ]

    def get_post_parameters(self, request: Any) -> Any:
        params = super().get_post_parameters(request)
        if not params:
            return params
        params = params.copy()
        for key in list(params):
            if SENSITIVE_NAMES.search(key):
                params[key] = self.cleansed_substitute
        return params
