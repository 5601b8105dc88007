from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from django.apps import apps
        from django.db.models.signals import post_migrate

        from accounts import schema, signals  # noqa: F401

        # After the logcenter app (listed last): by then every permission the roles
        # name has been created.
        post_migrate.connect(_sync_roles, sender=apps.get_app_config("logcenter"))


def _sync_roles(sender, **kwargs):
    # Also after a test database flush, which empties the groups the data migration made.
    from accounts.roles import sync_roles

    sync_roles()
