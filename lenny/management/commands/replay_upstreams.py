from django.core.management.base import BaseCommand

from lenny.replay import replay_server_build, upstream_settings


class Command(BaseCommand):
    help = "Serve the replay upstreams (ESI, EVE SSO, Scryfall, card stores) on loopback."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8700)
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args, host: str, port: int, **options):
        server = replay_server_build(host, port)
        self.stdout.write(f"replay upstreams on {server.base_url} — point Lenny at them with:")
        for name, value in upstream_settings(server.base_url).items():
            self.stdout.write(f"  {name}={value}")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
