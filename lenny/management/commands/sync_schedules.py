from django.core.management.base import BaseCommand

from lenny.schedules import schedules_sync


class Command(BaseCommand):
    help = "Create or update the periodic jobs that the apps declare (safe to run any time)."

    def handle(self, *args, **options):
        report = schedules_sync()
        for state in ("created", "updated", "removed"):
            for name in report[state]:
                self.stdout.write(f"{state}: {name}")
        self.stdout.write(
            f"schedules: {len(report['created'])} created, {len(report['updated'])} updated, "
            f"{len(report['unchanged'])} unchanged, {len(report['removed'])} removed"
        )
