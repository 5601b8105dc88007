"""The destination types, each speaking its receiver's own protocol (base.Protocol).

A type is known by its Destination.Type value and the class that speaks it, loaded when
first needed (a type's client library loads only where it is used)."""

from django.utils.module_loading import import_string

from logcenter.streams.protocols.base import DeliveryFailed, Protocol  # noqa: F401

CLASSES = {
    "splunk_hec": "logcenter.streams.protocols.splunk.SplunkHec",
    "elasticsearch": "logcenter.streams.protocols.elasticsearch.ElasticsearchBulk",
    "datadog": "logcenter.streams.protocols.datadog.DatadogLogs",
    "cloudwatch": "logcenter.streams.protocols.cloudwatch.CloudWatchLogs",
    "webhook": "logcenter.streams.protocols.webhook.Webhook",
    "s3": "logcenter.streams.protocols.s3.S3Objects",
}


def protocol_class(type_) -> type[Protocol] | None:
    path = CLASSES.get(type_)
    return import_string(path) if path else None


def protocol_for(destination, credentials=None) -> Protocol:
    return protocol_class(destination.type)(destination, credentials)
