"""The live WebSocket stream of the web COP: protocol encoding and the per-viewer-class fan-out hub.

See docs/stream.md for the protocol. :class:`StreamHub` subscribes once to the picture service and
offers every change to every connection, released and serialised once per viewer class.
"""

from concord.egress._stream_hub import Channel, StreamClient, StreamConfig, StreamHub, describe, viewer_class
from concord.egress._stream_protocol import (
    CLOSE_AUTH,
    CLOSE_BAD_CLIENT,
    CLOSE_BUSY,
    CLOSE_SLOW_CONSUMER,
    CLOSE_TOO_BIG,
    STREAM_KINDS,
    AuthMessage,
    FilterMessage,
    Item,
    ItemMeta,
    PingMessage,
    StreamFilter,
    encode,
    encode_remove,
    encode_upsert,
    parse_client_message,
)

__all__ = [
    "CLOSE_AUTH",
    "CLOSE_BAD_CLIENT",
    "CLOSE_BUSY",
    "CLOSE_SLOW_CONSUMER",
    "CLOSE_TOO_BIG",
    "STREAM_KINDS",
    "AuthMessage",
    "Channel",
    "FilterMessage",
    "Item",
    "ItemMeta",
    "PingMessage",
    "StreamClient",
    "StreamConfig",
    "StreamFilter",
    "StreamHub",
    "describe",
    "encode",
    "encode_remove",
    "encode_upsert",
    "parse_client_message",
    "viewer_class",
]
