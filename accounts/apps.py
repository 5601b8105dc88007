from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from django.apps import apps
        from django.db.models.signals import post_migrate

        from accounts import schema, signals  # noqa: F401

        # After the last app's signal (migrate sends one per app with models, in
        # INSTALLED_APPS order): by then every permission the roles name has been created,
        # also those of a kind registered by an app listed after logcenter.
        last = [config for config in apps.get_app_configs() if config.models_module][-1]
        post_migrate.connect(_sync_roles, sender=last)


def _sync_roles(sender, **kwargs):
    # Also after a test database flush, which empties the groups and plans the data
    # migrations made.
    from accounts.plans import ensure_default_plans
    from accounts.roles import sync_roles

    sync_roles()
    ensure_default_plans()
