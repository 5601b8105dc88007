"""Streams: log rows delivered to the systems where security teams work (Splunk, Elasticsearch,
Datadog, CloudWatch Logs, a webhook, S3-compatible storage), at least once, in order per
destination, from a cursor that can be moved back (replay).

- models: Destination (its settings, encrypted credentials, cursor and health);
- secrets: credentials encrypted at rest (Fernet);
- documents: the event document every destination receives (and its ECS form);
- protocols: one sender per destination type, speaking that system's own API;
- delivery: the pump (lock, safe horizon, batch, send, advance), retries, pause, replay;
- services: creating, changing, pausing, resuming and replaying destinations (audited).
"""
