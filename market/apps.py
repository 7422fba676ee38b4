from django.apps import AppConfig


class MarketConfig(AppConfig):
    name = "market"
    verbose_name = "EVE market"

    def ready(self) -> None:
        from lenny.signals import web_process_started
        from market.models import history_landed, snapshot_landed
        from market.prewarm import prewarm_start
        from market.universe import snapshot_landed_queue
        from market.warmup import history_landed_warm, snapshot_landed_warm

        snapshot_landed.connect(snapshot_landed_warm, dispatch_uid="market.desk.book_tops_warm")
        history_landed.connect(history_landed_warm, dispatch_uid="market.desk.history_warm")
        # Types the snapshot sells that the SDE lacks: resolved from ESI in a task of their own.
        snapshot_landed.connect(snapshot_landed_queue, dispatch_uid="market.universe.types_queue")
        # Each web process prepares the desk's views for every new snapshot (market.prewarm).
        web_process_started.connect(prewarm_start, dispatch_uid="market.desk.prewarm")
