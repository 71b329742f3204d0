"""Feed parsers: CoT (TAK), AIS (NMEA 0183) and JSON/GeoJSON bytes in, valid Observations out.

Every decoder follows the contract of :mod:`concord.ingest.base`: bad records are rejected with a
stable code and counted, never raised; good records become :class:`~concord.domain.Observation`
values carrying the feed's agency and marking.
"""

from concord.ingest.ais import AisDecoder, Line, LineSplitter, VesselRegistry, iter_lines
from concord.ingest.base import (
    REJECT_CODES,
    ChatMessage,
    Decoder,
    DecodeResult,
    IngestStats,
    Ping,
    RejectCode,
    Rejection,
    TimeWindow,
    VesselInfo,
)
from concord.ingest.cot import (
    CotDecoder,
    CotFrame,
    CotStreamFramer,
    FramerError,
    build_pong,
    target_kind_for,
)
from concord.ingest.files import FORMATS, FileChunk, FileFormat, iter_file
from concord.ingest.geojson import JsonBatchDecoder, observation_item, parse_json_batch

__all__ = [
    "FORMATS",
    "REJECT_CODES",
    "AisDecoder",
    "ChatMessage",
    "CotDecoder",
    "CotFrame",
    "CotStreamFramer",
    "DecodeResult",
    "Decoder",
    "FileChunk",
    "FileFormat",
    "FramerError",
    "IngestStats",
    "JsonBatchDecoder",
    "Line",
    "LineSplitter",
    "Ping",
    "RejectCode",
    "Rejection",
    "TimeWindow",
    "VesselInfo",
    "VesselRegistry",
    "build_pong",
    "iter_file",
    "iter_lines",
    "observation_item",
    "parse_json_batch",
    "target_kind_for",
]
