from django.core.management.base import BaseCommand, CommandError

from accounts.models import ApiKey
from accounts.services import api_key_create, find_user


class Command(BaseCommand):
    help = "Create an API key for a user and print only its secret (for operators' scripts)."

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, help="username or email of the owner")
        parser.add_argument("--name", required=True, help="a label for the key")
        parser.add_argument("--scopes", default="read", help="comma-separated: read,ingest")
        parser.add_argument("--kinds", default="",
                            help="for an ingest key: the kinds it may write, e.g. usage,auth,system")
        parser.add_argument("--group", default="default")

    def handle(self, *args, user, name, scopes, group, kinds, **options):
        owner = find_user(user)
        if owner is None:
            raise CommandError(f"No user '{user}'.")
        wanted = [s.strip() for s in scopes.split(",") if s.strip()]
        unknown = set(wanted) - set(ApiKey.Scope.values)
        if not wanted or unknown:
            raise CommandError(f"Scopes must be among {', '.join(ApiKey.Scope.values)}.")
        try:
            _, secret = api_key_create(actor=None, owner=owner, name=name, scopes=wanted,
                                       group=group,
                                       kinds=[k.strip() for k in kinds.split(",") if k.strip()])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(secret)
