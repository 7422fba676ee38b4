from django.urls import path

from market import api

app_name = "market_api"
urlpatterns = [
    path("orders", api.orders, name="orders"),
    path("history", api.history, name="history"),
    path("station-trading", api.station_trading_api, name="station_trading"),
    path("hauling", api.hauling_api, name="hauling"),
    path("station-volume", api.station_volume_api, name="station_volume"),
]
