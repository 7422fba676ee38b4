from django.apps import AppConfig


class LennyConfig(AppConfig):
    name = "lenny"
    verbose_name = "Lenny"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from lenny.schedules import sync_after_migrate

        post_migrate.connect(sync_after_migrate, sender=self)
