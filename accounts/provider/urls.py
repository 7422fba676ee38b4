from django.urls import include, path

from accounts.sso import PROVIDER_ID, oauth2_callback, oauth2_login

# Mounted by allauth under /accounts/: the login and the callback registered with CCP,
# /accounts/eveonline_v2/login/callback/.
urlpatterns = [
    path(
        f"{PROVIDER_ID}/",
        include(
            [
                path("login/", oauth2_login, name=f"{PROVIDER_ID}_login"),
                path("login/callback/", oauth2_callback, name=f"{PROVIDER_ID}_callback"),
            ]
        ),
    )
]
