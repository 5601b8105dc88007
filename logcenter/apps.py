from django.apps import AppConfig


class LogcenterConfig(AppConfig):
    name = "logcenter"
    verbose_name = "Logs"

    def ready(self):
        from . import signals, tasks  # noqa: F401  (rollup upkeep, task-failure reporting)
