from django.apps import AppConfig


class LogcenterConfig(AppConfig):
    name = "logcenter"
    verbose_name = "Logs"

    def ready(self):
        from logcenter import kinds  # noqa: F401  (registers the gateway's four log kinds)
        from logcenter import signals, tasks  # noqa: F401  (rollup upkeep, task-failure reporting)
        from logcenter.web.log_filters import install as scrub_request_lines

        scrub_request_lines()  # no `?key=` secret in the servers' request lines
