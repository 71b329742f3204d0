"""Importing recorded feeds from files: CoT event logs, AIS NMEA recordings, JSON/GeoJSON batches.

:func:`iter_file` reads a file in chunks and yields a :class:`FileChunk` per chunk: the decode result
and how many bytes have been read so far, so a caller can drive a progress bar and hand
observations to the pipeline in batches without holding the whole file. CoT and AIS files are
streamed with the same framer and line reader as live feeds (same size limits); a JSON file is read
whole, after a size check.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, get_args

from concord.domain.marking import Marking
from concord.ingest.ais import DEFAULT_MAX_LINE_BYTES, AisDecoder, LineSplitter
from concord.ingest.base import DecodeResult, Rejection, TimeWindow
from concord.ingest.cot import DEFAULT_MAX_EVENT_BYTES, CotDecoder
from concord.ingest.geojson import DEFAULT_MAX_ITEMS, JsonBatchDecoder

__all__ = ["DEFAULT_MAX_JSON_FILE_BYTES", "FORMATS", "FileChunk", "FileFormat", "iter_file"]

FileFormat = Literal["cot", "ais", "geojson"]
FORMATS: tuple[FileFormat, ...] = get_args(FileFormat)
DEFAULT_MAX_JSON_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FileChunk:
    """The result of decoding one chunk of a file, with progress in bytes."""

    result: DecodeResult
    bytes_read: int
    total_bytes: int


def iter_file(
    path: str | os.PathLike[str],
    fmt: FileFormat,
    *,
    agency: str,
    received_at: datetime,
    marking: Marking | None = None,
    window: TimeWindow | None = None,
    chunk_bytes: int = 1024 * 1024,
    partial: bool = True,
    max_json_bytes: int = DEFAULT_MAX_JSON_FILE_BYTES,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    exercise: bool = False,
) -> Iterator[FileChunk]:
    """Decode ``path`` as ``fmt``, yielding results chunk by chunk.

    ``received_at`` is the import time the time window is measured against; pass
    ``window=TimeWindow.unbounded()`` to replay an old recording. Observation sources are
    ``<fmt>-file:<agency>`` so imported data stays distinguishable from live feeds.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if chunk_bytes < 1:
        raise ValueError("chunk_bytes must be positive")
    file_path = Path(path)
    total = file_path.stat().st_size
    feed = f"{fmt}-file:{agency}"
    if fmt == "cot":
        cot = CotDecoder(
            agency, marking, feed=feed, window=window, max_event_bytes=max_event_bytes, exercise=exercise
        )
        yield from _iter_cot(file_path, cot, received_at, chunk_bytes, total)
    elif fmt == "ais":
        ais = AisDecoder(
            agency, marking, feed=feed, window=window, max_line_bytes=max_line_bytes, exercise=exercise
        )
        yield from _iter_ais(file_path, ais, received_at, chunk_bytes, total)
    else:
        batch = JsonBatchDecoder(
            agency,
            marking,
            feed=feed,
            window=window,
            partial=partial,
            max_items=max(DEFAULT_MAX_ITEMS, total // 64),
            max_bytes=max_json_bytes,
            exercise=exercise,
        )
        yield from _iter_json(file_path, batch, received_at, total)


def _iter_cot(
    path: Path, decoder: CotDecoder, received_at: datetime, chunk_bytes: int, total: int
) -> Iterator[FileChunk]:
    framer = decoder.new_framer()
    read = 0
    with path.open("rb") as stream:
        while chunk := stream.read(chunk_bytes):
            read += len(chunk)
            frames = framer.feed_frames(chunk)
            result = decoder.decode_frames(frames, received_at=received_at)
            rejections = tuple(framer.take_rejections())
            yield FileChunk(
                result=result.merge(DecodeResult(rejections=rejections)), bytes_read=read, total_bytes=total
            )
            if framer.must_close:
                return
    yield FileChunk(
        result=DecodeResult(rejections=tuple(framer.finish())), bytes_read=read, total_bytes=total
    )


def _iter_ais(
    path: Path, decoder: AisDecoder, received_at: datetime, chunk_bytes: int, total: int
) -> Iterator[FileChunk]:
    splitter = LineSplitter(decoder.max_line_bytes)
    read = 0
    with path.open("rb") as stream:
        while chunk := stream.read(chunk_bytes):
            read += len(chunk)
            result = decoder.decode_lines(splitter.feed(chunk), received_at=received_at)
            yield FileChunk(result=result, bytes_read=read, total_bytes=total)
    last = decoder.decode_lines(splitter.finish(), received_at=received_at).merge(decoder.finish())
    yield FileChunk(result=last, bytes_read=read, total_bytes=total)


def _iter_json(
    path: Path, decoder: JsonBatchDecoder, received_at: datetime, total: int
) -> Iterator[FileChunk]:
    if total > decoder.max_bytes:
        rejection = Rejection(
            feed=decoder.feed, code="oversized", reason=f"file of {total} bytes exceeds {decoder.max_bytes}"
        )
        yield FileChunk(result=DecodeResult(rejections=(rejection,)), bytes_read=0, total_bytes=total)
        return
    data = path.read_bytes()
    yield FileChunk(
        result=decoder.decode(data, received_at=received_at), bytes_read=len(data), total_bytes=total
    )
