from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts import characters as character_service
from accounts.forms import TradingProfileForm
from accounts.models import Character, TradingProfile
from accounts.sso import sso_configured
from accounts.tokens import TokenInvalid, TokenUnavailable, access_token_refresh


def _own_character(request: HttpRequest, character_id: int) -> Character:
    return get_object_or_404(Character.objects.owned_by(request.user), character_id=character_id)


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    characters = Character.objects.owned_by(request.user)
    trading_profile = TradingProfile.objects.filter(user=request.user).first() or TradingProfile(
        user=request.user
    )
    return render(
        request,
        "accounts/profile.html",
        {
            "characters": characters,
            "sso_configured": sso_configured(),
            "form": TradingProfileForm(instance=trading_profile),
            "fee_rates": trading_profile.fee_rates(),
        },
    )


@login_required
@require_POST
def trading_profile_update(request: HttpRequest) -> HttpResponse:
    trading_profile = TradingProfile.for_user(request.user)
    form = TradingProfileForm(request.POST, instance=trading_profile)
    saved = form.is_valid()
    if saved:
        form.save()
    else:
        trading_profile = TradingProfile.objects.get(
            pk=trading_profile.pk
        )  # the form's copy holds the bad input
    context = {"form": form, "fee_rates": trading_profile.fee_rates(), "saved": saved}
    if request.htmx:
        return render(request, "accounts/profile.html#trading_profile", context)
    if saved:
        messages.success(request, "Trading profile saved.")
        return redirect("accounts:profile")
    context.update(
        characters=Character.objects.owned_by(request.user), sso_configured=sso_configured()
    )
    return render(request, "accounts/profile.html", context, status=400)


@login_required
def character_detail(request: HttpRequest, character_id: int) -> HttpResponse:
    character = _own_character(request, character_id)
    return render(
        request,
        "accounts/character.html",
        {"character": character, "sso_configured": sso_configured()},
    )


@login_required
@require_POST
def character_refresh(request: HttpRequest, character_id: int) -> HttpResponse:
    character = _own_character(request, character_id)
    try:
        access_token_refresh(character=character)
    except TokenInvalid as exc:
        messages.warning(request, str(exc))
    except TokenUnavailable as exc:
        messages.error(request, f"{character.name}: token not refreshed, try again later ({exc}).")
    else:
        messages.success(request, f"{character.name}: token refreshed.")
    return redirect("accounts:profile")


@login_required
@require_POST
def character_unlink(request: HttpRequest, character_id: int) -> HttpResponse:
    character = _own_character(request, character_id)
    if not character_service.character_unlink_allowed(character=character):
        messages.error(
            request,
            f"{character.name} is how you log in to Lenny: set a password first, "
            "or you could not log in again.",
        )
        return redirect("accounts:profile")
    character_service.character_unlink(character=character)
    messages.success(request, f"{character.name} is unlinked; Lenny forgot its tokens and data.")
    return redirect("accounts:profile")
