from django.urls import path

from market import sde_views, trading_views, views

app_name = "market"
urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.type_search_view, name="type_search"),
    path("groups/<int:group_id>/", views.market_group, name="market_group"),
    path("types/<int:type_id>/", views.type_detail, name="type_detail"),
    path("trading/", trading_views.station_trading_view, name="station_trading"),
    path("hauling/", views.hauling_view, name="hauling"),
    path("static-data/status/", sde_views.sde_status_view, name="sde_status"),
]
