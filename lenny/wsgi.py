import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lenny.settings")
application = get_wsgi_application()

from lenny.signals import web_process_started  # noqa: E402  (the apps are loaded now)

web_process_started.send(sender=application.__class__)
