from django.contrib import admin
from django.urls import include, path

from lenny import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("accounts/", include("allauth.urls")),
    path("account/", include("accounts.urls")),
    path("market/", include("market.urls")),
    path("ledger/", include("market.ledger.urls")),
    path("api/market/", include("market.api_urls")),
    path("stores/", include("stores.urls")),
    path("admin/", admin.site.urls),
]

handler404 = "lenny.views.page_not_found"
handler500 = "lenny.views.server_error"
