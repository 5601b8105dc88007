from django.apps import AppConfig


class FifthKindConfig(AppConfig):
    name = "tests.fifth_kind"
    label = "fifth_kind"
    verbose_name = "Deploy events (tests only)"

    def ready(self):
        from tests.fifth_kind import kind  # noqa: F401  (registers the kind)
