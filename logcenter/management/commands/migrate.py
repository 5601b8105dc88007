"""`manage.py migrate`, run as the owner role (MIGRATION_DATABASE_URL) when there is one,
and followed by the app role's privileges (logcenter.engines.postgres.db_roles.after_migrate)."""

from django.core.management.commands.migrate import Command as DjangoMigrate

from logcenter.engines.postgres import db_roles


class Command(DjangoMigrate):
    def handle(self, *args, **options):
        alias = options["database"]
        with db_roles.as_owner(alias):
            super().handle(*args, **options)
            db_roles.after_migrate(alias)
