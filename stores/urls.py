from django.urls import path

from stores import views

app_name = "stores"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("cards/suggest", views.card_suggest, name="card_suggest"),
    path("wants/add", views.want_add, name="want_add"),
    path("wants/<int:pk>/", views.want_row, name="want_row"),
    path("wants/<int:pk>/amount", views.want_amount, name="want_amount"),
    path("wants/<int:pk>/delete", views.want_delete, name="want_delete"),
    path("wants/<int:pk>/specs/add", views.want_spec_add, name="want_spec_add"),
    path("specs/<int:pk>/delete", views.want_spec_delete, name="want_spec_delete"),
    path("wants/import", views.decklist_import, name="decklist_import"),
    path("wants/import/confirm", views.decklist_confirm, name="decklist_confirm"),
    path("wants/export.txt", views.wants_export, name="wants_export"),
    path("stock/summary", views.stock_summary, name="stock_summary"),
    path("stock/check", views.stock_check, name="stock_check"),
    path("alerts/", views.alerts, name="alerts"),
    path("alerts/read", views.alerts_read, name="alerts_read"),
    path("preferred", views.preferred_stores, name="preferred_stores"),
    path("catalog/status", views.catalog_status_view, name="catalog_status"),
]
