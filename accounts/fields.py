from __future__ import annotations

import logging
from typing import Any

from django.db import models

from accounts import crypto

log = logging.getLogger(__name__)


class EncryptedTextField(models.TextField):
    """Text stored Fernet-encrypted; Python code only ever sees the plaintext.

    Empty stays empty (nothing to hide, and it keeps "no token" queryable). A value no configured
    key can decrypt (a key was dropped too early) reads as empty, so the token service treats the
    character as needing a new login instead of crashing every page that loads it.
    """

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if not value:
            return value
        try:
            return crypto.decrypt(value)
        except crypto.InvalidToken:
            log.error(
                "%s.%s: a stored value matches none of FIELD_ENCRYPTION_KEYS; treating it as empty",
                self.model.__name__,
                self.name,
            )
            return ""

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if not value:
            return value
        return crypto.encrypt(value)

    def value_to_string(self, obj: models.Model) -> str:
        # Dumps (dumpdata, serializers) leave secrets out: a restored character logs in again.
        return ""
