from django.apps import AppConfig


class LogcenterConfig(AppConfig):
    name = "logcenter"
    verbose_name = "Logs"
