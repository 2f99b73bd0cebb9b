"""manage.py create_api_key NAME --scope read,write[,followups] [--kinds a,b] [--rate 600]

Prints the key once; only its hash is stored. `--revoke` revokes the key called NAME instead."""

from django.core.management.base import BaseCommand, CommandError

from cstrack.errors import DomainValidationError
from cstrack.models import ApiKey
from tickets.api.keys import SCOPES, apikey_create, apikey_revoke


def _csv(value: str) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


class Command(BaseCommand):
    help = "Create an API key for an integration (printed once), or revoke one."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--scope", default="read", help=f"Comma-separated: {', '.join(SCOPES)}")
        parser.add_argument("--kinds", default="", help="Comma-separated kind codes (default: every kind)")
        parser.add_argument("--rate", type=int, default=600, help="Requests per minute")
        parser.add_argument("--revoke", action="store_true", help="Revoke the key called NAME")

    def handle(self, *args, name, scope, kinds, rate, revoke, **options):
        if revoke:
            key = ApiKey.objects.filter(name=name).first()
            if key is None:
                raise CommandError(f"no API key called {name!r}")
            apikey_revoke(key)
            self.stdout.write(f"revoked {key.name} ({key.prefix})")
            return
        try:
            key, plain = apikey_create(name=name, scopes=_csv(scope), kinds=_csv(kinds), rate_per_minute=rate)
        except DomainValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.field_errors.items())) from None
        self.stderr.write(f"API key for {key.name} (scopes: {scope}; kinds: {kinds or 'all'}). Shown once:")
        self.stdout.write(plain)
