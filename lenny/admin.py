from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path

from lenny.health import health_report
from lenny.models import JobRun


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "last_success",
        "last_failure",
        "duration",
        "runs",
        "failures",
        "consecutive_failures",
    ]
    readonly_fields = [f.name for f in JobRun._meta.fields if f.name != "last_duration"] + [
        "duration"
    ]
    exclude = ["last_duration"]
    search_fields = ["name"]

    @admin.display(description="last duration", ordering="last_duration")
    def duration(self, run: JobRun) -> str:
        return run.duration_text

    def has_add_permission(self, request):
        return False

    def get_urls(self):
        return [
            path("health/", self.admin_site.admin_view(self.health_view), name="lenny_health"),
            *super().get_urls(),
        ]

    def health_view(self, request):
        healthy, report = health_report()
        context = {
            **self.admin_site.each_context(request),
            "title": "Health",
            "healthy": healthy,
            "status": report["status"],
            "report": report,
        }
        return TemplateResponse(request, "admin/lenny/health.html", context)

    def changelist_view(self, request, extra_context=None):
        healthy, _ = health_report()
        extra_context = {**(extra_context or {}), "healthy": healthy}
        return super().changelist_view(request, extra_context)
