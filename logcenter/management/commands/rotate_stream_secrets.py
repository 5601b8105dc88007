"""Re-encrypt every destination's credentials with the first of LOGCENTER_SECRETS_KEYS.

    manage.py rotate_stream_secrets

Rotation: put the new key first in LOGCENTER_SECRETS_KEYS (the old one after it), restart,
run this, then drop the old key. The values do not change, so no audit event is written;
a token no key opens is reported (its destination needs its credentials typed again)."""

from django.core.management.base import BaseCommand

from logcenter.streams import secrets
from logcenter.streams.models import Destination


class Command(BaseCommand):
    help = "Re-encrypt stream destinations' credentials with the newest key."

    def handle(self, *args, **options):
        rotated, unreadable = 0, []
        for pk, name, token in Destination.objects.exclude(credentials="").values_list(
                "pk", "name", "credentials"):
            try:
                fresh = secrets.rotate(token)
            except Exception:  # InvalidToken: no configured key opens it
                unreadable.append(name)
                continue
            Destination.objects.filter(pk=pk, credentials=token).update(credentials=fresh)
            rotated += 1
        self.stdout.write(f"{rotated} destination(s) re-encrypted.")
        for name in unreadable:
            self.stderr.write(f"{name}: its credentials open with no configured key; "
                              "enter them again.")
