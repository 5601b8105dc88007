"""The destination types, each speaking its receiver's own protocol (base.Protocol)."""

from logcenter.streams.protocols.base import DeliveryFailed, Protocol  # noqa: F401
from logcenter.streams.protocols.webhook import Webhook

PROTOCOLS = {protocol.type: protocol for protocol in (Webhook,)}


def protocol_for(destination, credentials=None) -> Protocol:
    return PROTOCOLS[destination.type](destination, credentials)
