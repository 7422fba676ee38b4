from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("", views.profile, name="profile"),
    path("trading-profile/", views.trading_profile_update, name="trading_profile"),
    path("characters/<int:character_id>/", views.character_detail, name="character"),
    path(
        "characters/<int:character_id>/refresh/", views.character_refresh, name="character_refresh"
    ),
    path("characters/<int:character_id>/unlink/", views.character_unlink, name="character_unlink"),
]
