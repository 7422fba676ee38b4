"""Linking and unlinking EVE characters: the pipelines between an SSO login and ``Character``."""

from __future__ import annotations

import logging
from typing import Any

from allauth.socialaccount.models import SocialAccount, SocialLogin
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from accounts import crypto
from accounts.models import Character
from accounts.signals import character_linked, character_unlinked
from accounts.sso import identity_from_claims, token_revoke

log = logging.getLogger(__name__)


@sensitive_variables("access_token", "refresh_token")
def character_link(
    *,
    user: AbstractBaseUser,
    claims: dict[str, Any],
    access_token: str,
    refresh_token: str,
    social_account: SocialAccount | None = None,
) -> Character:
    """Create or update ``user``'s character from a verified SSO login and store its tokens."""
    identity = identity_from_claims(claims)
    with transaction.atomic():
        character = (
            Character.objects.select_for_update().filter(character_id=identity.character_id).first()
        )
        if character is not None and character.owner_hash != identity.owner_hash:
            # Sold to another EVE account: the previous owner's link and data go.
            log.info("character %s changed EVE account; unlinking it", identity.character_id)
            character_unlink(character=character, reason="transferred", revoke=False)
            character = None
        if (
            character is not None
            and character.owner_id != user.pk
            and character.token_refreshed_at is None
        ):
            # Known only from another user's ledger import, never from an SSO login: its rows
            # are that user's word, not ESI's, and must not follow the character to whoever
            # proves control (a planted history). They go; the new owner's sync refills.
            log.info("character %s: dropping another user's unproven import", character.pk)
            character_unlink(character=character, reason="unlinked", revoke=False)
            character = None
        if character is None:
            character = Character(character_id=identity.character_id)
        elif character.owner_id != user.pk:
            # Same EVE account on another Lenny user: whoever proves control last holds it.
            log.info("character %s moves to another Lenny user", identity.character_id)
        previous_account_id = character.social_account_id
        character.owner = user
        character.name = identity.name
        character.owner_hash = identity.owner_hash
        character.scopes = identity.scopes
        character.access_token = access_token
        character.refresh_token = refresh_token
        character.access_token_expires_at = identity.expires_at
        character.token_refreshed_at = timezone.now()
        character.needs_relogin = False
        character.token_error = ""
        if social_account is not None:
            character.social_account = social_account
        character.save()
        if previous_account_id and previous_account_id != character.social_account_id:
            SocialAccount.objects.filter(pk=previous_account_id).delete()
        # Apps that keep jobs per character (the ledger's sync schedules) set them up now.
        character_linked.send(sender=Character, character=character)
    return character


def character_link_from_login(*, sociallogin: SocialLogin) -> Character | None:
    """Store the character of a finished allauth login (its token arrives encrypted)."""
    token = sociallogin.token
    if token is None or not token.token:
        log.warning("EVE SSO login without a token; character not stored")
        return None
    return character_link(
        user=sociallogin.user,
        claims=sociallogin.account.extra_data,
        access_token=crypto.decrypt(token.token),
        refresh_token=crypto.decrypt(token.token_secret) if token.token_secret else "",
        social_account=sociallogin.account,
    )


def character_unlink(
    *, character: Character, reason: str = "unlinked", revoke: bool = True
) -> None:
    """Remove a character, its allauth login and (by cascade) its data; revoke its token."""
    refresh_token = character.refresh_token
    with transaction.atomic():
        # Apps that keep jobs per character stop them (they own them; accounts only announces).
        character_unlinked.send(sender=Character, character=character, reason=reason)
        if character.social_account_id:
            SocialAccount.objects.filter(pk=character.social_account_id).delete()
        Character.objects.filter(pk=character.pk).delete()
    if revoke and refresh_token:
        transaction.on_commit(lambda: token_revoke(refresh_token))


def character_unlink_allowed(*, character: Character) -> bool:
    """False when this character is its owner's only way to log in (no password set)."""
    owner = character.owner
    return owner.has_usable_password() or owner.characters.exclude(pk=character.pk).exists()
