from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    # Not "Accounts": allauth's account app already has that name in the admin.
    verbose_name = "EVE pilots"

    def ready(self) -> None:
        from accounts import checks  # noqa: F401  (registers the system checks)
        from accounts.receivers import receivers_connect

        receivers_connect()
