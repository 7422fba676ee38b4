from django.urls import path

from market import sde_views, trading_views, views
from market.structures import views as structure_views

app_name = "market"
urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.type_search_view, name="type_search"),
    path("groups/<int:group_id>/", views.market_group, name="market_group"),
    path("types/<int:type_id>/", views.type_detail, name="type_detail"),
    path("trading/", trading_views.station_trading_view, name="station_trading"),
    path("hauling/", views.hauling_view, name="hauling"),
    path("static-data/status/", sde_views.sde_status_view, name="sde_status"),
    path("structures/", structure_views.structures_list, name="structures"),
    path("structures/search/", structure_views.structures_search, name="structures_search"),
    path("structures/add/", structure_views.structure_add, name="structure_add"),
    path(
        "structures/<int:structure_id>/",
        structure_views.structure_detail,
        name="structure_detail",
    ),
    path(
        "structures/<int:structure_id>/stop/",
        structure_views.structure_stop_view,
        name="structure_stop",
    ),
    path(
        "structures/<int:structure_id>/resume/",
        structure_views.structure_resume_view,
        name="structure_resume",
    ),
    path(
        "structures/<int:structure_id>/take-over/",
        structure_views.structure_take_over_view,
        name="structure_take_over",
    ),
]
