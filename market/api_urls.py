from django.urls import path

from market import api
from market.structures import views as structure_views

app_name = "market_api"
urlpatterns = [
    path("orders", api.orders, name="orders"),
    path("history", api.history, name="history"),
    path("station-trading", api.station_trading_api, name="station_trading"),
    path("hauling", api.hauling_api, name="hauling"),
    path("station-volume", api.station_volume_api, name="station_volume"),
    path("structures", structure_views.structures_api, name="structures"),
    path("structures/<int:structure_id>", structure_views.structure_api, name="structure"),
]
