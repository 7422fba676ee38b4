from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path

from lenny.health import health_report
from lenny.models import JobRun


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    list_display = ["name", "last_success", "last_failure", "last_duration", "runs", "failures"]
    readonly_fields = [f.name for f in JobRun._meta.fields]
    search_fields = ["name"]

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
            "report": report,
        }
        return TemplateResponse(request, "admin/lenny/health.html", context)

    def changelist_view(self, request, extra_context=None):
        healthy, _ = health_report()
        extra_context = {**(extra_context or {}), "healthy": healthy}
        return super().changelist_view(request, extra_context)
