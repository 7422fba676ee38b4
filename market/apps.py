from django.apps import AppConfig


class MarketConfig(AppConfig):
    name = "market"
    verbose_name = "EVE market"

    def ready(self) -> None:
        from market.models import snapshot_landed
        from market.warmup import snapshot_landed_warm

        snapshot_landed.connect(snapshot_landed_warm, dispatch_uid="market.desk.book_tops_warm")
