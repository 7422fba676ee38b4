from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "market.ledger"
    label = "ledger"
    verbose_name = "Pilot's ledger"

    def ready(self) -> None:
        from market.ledger.receivers import receivers_connect

        receivers_connect()
