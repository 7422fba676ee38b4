from django.urls import path

from market.ledger import export_views, views

app_name = "ledger"
urlpatterns = [
    path("", views.home, name="home"),
    path("transactions/", views.transactions, name="transactions"),
    path("profit/", views.profit, name="profit"),
    path("orders/", views.orders, name="orders"),
    path("orders/table/", views.orders_table, name="orders_table"),
    path("refresh/", views.refresh, name="refresh"),
    path("refresh/progress/", views.refresh_progress, name="refresh_progress"),
    path("preferences/", views.preferences, name="preferences"),
    path("data/", export_views.data, name="data"),
    path("export/", export_views.export, name="export"),
    path("import/", export_views.import_, name="import"),
]
