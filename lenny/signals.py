"""What the project announces to the apps (``lenny`` imports no app; apps listen)."""

from django.dispatch import Signal

# Sent once by ``lenny.wsgi`` when a web server process has loaded the application (in
# gunicorn, in each worker after the fork): the place to start a process's background threads,
# which management commands, task workers and tests must not run.
web_process_started = Signal()
