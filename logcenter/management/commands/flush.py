"""`manage.py flush` (and the test runner's flush between transactional tests), run as the
owner role: the app role may not empty log tables, which is the point of it."""

from django.core.management.commands.flush import Command as DjangoFlush

from logcenter.engines.postgres import db_roles


class Command(DjangoFlush):
    def handle(self, **options):
        with db_roles.as_owner(options["database"]):
            super().handle(**options)
