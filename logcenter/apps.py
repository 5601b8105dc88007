from django.apps import AppConfig


class LogcenterConfig(AppConfig):
    name = "logcenter"
    verbose_name = "Logs"

    def ready(self):
        from . import tasks  # noqa: F401  (connects the task-failure reporting)
