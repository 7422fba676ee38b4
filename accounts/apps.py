from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    # Not "Accounts": allauth's account app already has that name in the admin.
    verbose_name = "EVE pilots"

    def ready(self) -> None:
        from accounts import checks, signals  # noqa: F401  (registers checks and receivers)
