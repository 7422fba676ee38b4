from django.apps import AppConfig


class MarketConfig(AppConfig):
    name = "market"
    verbose_name = "EVE market"

    def ready(self) -> None:
        from market.models import history_landed, snapshot_landed
        from market.warmup import history_landed_warm, snapshot_landed_warm

        snapshot_landed.connect(snapshot_landed_warm, dispatch_uid="market.desk.book_tops_warm")
        history_landed.connect(history_landed_warm, dispatch_uid="market.desk.history_warm")
