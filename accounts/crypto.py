"""Encryption of secrets at rest (EVE SSO tokens) with Fernet keys from FIELD_ENCRYPTION_KEYS.

The first key encrypts; every listed key decrypts, so rotating is: put a new key first, keep the
old ones after it, run ``manage.py rotate_token_keys``, then drop the old keys. With no keys set
(the embedded default) one key is derived from SECRET_KEY so a newcomer needs no set-up;
production requires explicit keys (see settings).
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

__all__ = ["InvalidToken", "decrypt", "encrypt", "fernet", "keys_validate", "rotate"]


def _derived_key(secret_key: str) -> bytes:
    digest = hashlib.sha256(b"lenny field encryption\x00" + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest)


def keys_validate(keys: list[str]) -> list[str]:
    """Return a clear problem for each key that is not a Fernet key (empty list: all good)."""
    problems = []
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.strip().encode())
        except (ValueError, TypeError):
            problems.append(
                f"FIELD_ENCRYPTION_KEYS key #{position} is not a Fernet key "
                "(32 url-safe base64-encoded bytes, e.g. from "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)"
            )
    return problems


@cache
def fernet() -> MultiFernet:
    keys = [k.strip() for k in settings.FIELD_ENCRYPTION_KEYS if k.strip()]
    problems = keys_validate(keys)
    if problems:
        raise ImproperlyConfigured("; ".join(problems))
    if not keys:
        return MultiFernet([Fernet(_derived_key(settings.SECRET_KEY))])
    return MultiFernet([Fernet(k.encode()) for k in keys])


@receiver(setting_changed)
def _forget_keys(*, setting: str, **kwargs: object) -> None:
    if setting in ("FIELD_ENCRYPTION_KEYS", "SECRET_KEY"):
        fernet.cache_clear()


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode("ascii")


def decrypt(ciphertext: str) -> str:
    """Decrypt with any configured key; raises ``InvalidToken`` when none fits."""
    return fernet().decrypt(ciphertext.encode("ascii")).decode()


def rotate(ciphertext: str) -> str:
    """Re-encrypt with the newest key (raises ``InvalidToken`` when no key fits)."""
    return fernet().rotate(ciphertext.encode("ascii")).decode("ascii")
