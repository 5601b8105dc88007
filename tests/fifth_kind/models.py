from django.db import models

from logcenter.models import LogEnvelope, Result, envelope_indexes, log_permissions


class DeployEvent(LogEnvelope):
    service = models.CharField(max_length=64)
    version = models.CharField(max_length=64)
    environment = models.CharField(max_length=32, default="production")
    result = models.CharField(max_length=16, choices=Result.choices, default=Result.SUCCESS)
    message = models.TextField(blank=True, default="")

    class Meta(LogEnvelope.Meta):
        permissions = log_permissions("deployevent", "deploy events")
        indexes = envelope_indexes("deploy", "service", "version", "environment", "result")

    def __str__(self):
        return f"{self.service} {self.version} to {self.environment}"
