from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from accounts.crypto import keys_validate


@register()
def field_encryption_keys_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    keys = [k.strip() for k in settings.FIELD_ENCRYPTION_KEYS if k.strip()]
    return [
        Error(problem, hint="Tokens at rest cannot be encrypted.", id="accounts.E001")
        for problem in keys_validate(keys)
    ]
