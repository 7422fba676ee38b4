from django.db import models
from django.utils import timezone

from lenny.lib.timefmt import duration_format

__all__ = ["JobRun", "duration_format"]


class JobRun(models.Model):
    """The latest outcome of one periodic job, for /healthz and the admin."""

    name = models.CharField(max_length=100, unique=True)
    last_started = models.DateTimeField(null=True, blank=True)
    last_success = models.DateTimeField(null=True, blank=True)
    last_failure = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_duration = models.FloatField(null=True, blank=True)
    runs = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    # Failed runs since the last success: /healthz calls a job failing from a few in a row.
    consecutive_failures = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def success_age(self) -> float | None:
        if self.last_success is None:
            return None
        return (timezone.now() - self.last_success).total_seconds()

    @property
    def duration_text(self) -> str:
        """The last run's duration as people read it (``18.3 s``), not a raw float."""
        return duration_format(self.last_duration)

    @property
    def healthy(self) -> bool:
        return self.last_failure is None or (
            self.last_success is not None and self.last_success > self.last_failure
        )
