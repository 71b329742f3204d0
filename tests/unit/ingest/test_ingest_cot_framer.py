"""The TCP framer: events split across reads, several per read, declarations, and hostile streams."""

from __future__ import annotations

import pytest

from concord.ingest.cot import CotStreamFramer, FramerError

EVENT_A = (
    b'<event version="2.0" uid="A" type="a-f-G-U-C" time="2026-03-01T12:00:00Z">'
    b'<point lat="1" lon="2"/><detail><remarks>a &gt; b</remarks></detail></event>'
)
EVENT_B = b'<event uid="B" type="t-x-c-t" how="m-g" remarks="x > y"><detail/></event >'
SELF_CLOSED = b'<event uid="C" type="t-x-c-t" note="a/>b"/>'
DECL = b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def test_events_back_to_back_in_one_read() -> None:
    framer = CotStreamFramer()
    assert framer.feed(DECL + EVENT_A + EVENT_B + b"\r\n" + DECL + SELF_CLOSED) == [
        EVENT_A,
        EVENT_B,
        SELF_CLOSED,
    ]
    assert framer.buffered_bytes == 0
    assert framer.finish() == []


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1000])
def test_events_split_across_reads_at_any_boundary(size: int) -> None:
    stream = DECL + EVENT_A + b"\n" + DECL + EVENT_B + SELF_CLOSED + EVENT_A
    framer = CotStreamFramer()
    events: list[bytes] = []
    for start in range(0, len(stream), size):
        events.extend(framer.feed(stream[start : start + size]))
    assert events == [EVENT_A, EVENT_B, SELF_CLOSED, EVENT_A]
    assert framer.finish() == []
    assert framer.take_rejections() == []


def test_frames_carry_stream_offsets() -> None:
    framer = CotStreamFramer()
    stream = DECL + EVENT_A + EVENT_B
    frames = framer.feed_frames(stream)
    assert [f.offset for f in frames] == [len(DECL), len(DECL) + len(EVENT_A)]


def test_truncated_event_at_end_of_stream_is_rejected() -> None:
    framer = CotStreamFramer()
    assert framer.feed(EVENT_A + EVENT_B[:30]) == [EVENT_A]
    rejections = framer.finish()
    assert [r.code for r in rejections] == ["malformed-xml"]
    assert rejections[0].offset == len(EVENT_A)


def test_junk_between_events_is_skipped_and_reported() -> None:
    framer = CotStreamFramer()
    assert framer.feed(b"hello\x00\xff<foo/>" + EVENT_A + b"<eventually/>" + EVENT_B) == [EVENT_A, EVENT_B]
    rejections = framer.take_rejections()
    assert [r.code for r in rejections] == ["malformed-xml", "malformed-xml"]
    assert rejections[0].offset == 0
    assert not framer.must_close


def test_endless_event_is_rejected_and_closes_the_stream_with_bounded_memory() -> None:
    framer = CotStreamFramer(max_event_bytes=4096)
    assert framer.feed(EVENT_A) == [EVENT_A]
    framer.feed(b'<event uid="endless" type="a-f-G"><detail>')
    chunk = b"<remarks>spam</remarks>" * 100
    for _ in range(10):
        if framer.must_close:
            break
        framer.feed(chunk)
        assert framer.buffered_bytes <= 2 * 4096
    assert framer.must_close
    assert [r.code for r in framer.take_rejections()] == ["oversized"]
    assert framer.buffered_bytes == 0
    with pytest.raises(FramerError):
        framer.feed(EVENT_A)


def test_endless_start_tag_and_declaration_are_bounded() -> None:
    tag = CotStreamFramer(max_event_bytes=1024)
    tag.feed(b'<event uid="' + b"x" * 5000)
    assert tag.must_close and tag.take_rejections()[0].code == "oversized"
    decl = CotStreamFramer(max_event_bytes=1024)
    decl.feed(b"<?xml " + b"v" * 5000)
    assert decl.must_close and decl.take_rejections()[0].code == "oversized"


def test_garbage_that_never_stops_closes_the_stream() -> None:
    framer = CotStreamFramer(max_event_bytes=1024, max_junk_bytes=8192)
    sent = 0
    while not framer.must_close:
        framer.feed(b"GET / HTTP/1.1\r\n<html>" * 50)
        sent += 1
        assert framer.buffered_bytes <= 2048
        assert sent < 100, "the framer must give up on garbage"
    codes = [r.code for r in framer.take_rejections()]
    assert codes[-1] == "oversized"


def test_valid_events_before_the_overflow_still_go_through() -> None:
    framer = CotStreamFramer(max_event_bytes=1024)
    events = framer.feed(EVENT_A + EVENT_B + b"<event uid='z'>" + b"a" * 5000)
    assert events == [EVENT_A, EVENT_B]
    assert framer.must_close


def test_one_huge_read_is_processed_in_slices() -> None:
    framer = CotStreamFramer(max_event_bytes=1024)
    events = framer.feed((EVENT_A + b"\n") * 2000)
    assert len(events) == 2000
    assert not framer.must_close


def test_doctype_in_a_stream_is_forbidden() -> None:
    framer = CotStreamFramer()
    framer.feed(DECL + b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + EVENT_A)
    assert framer.must_close
    assert [r.code for r in framer.take_rejections()] == ["entity-forbidden"]


def test_protobuf_tak_protocol_is_not_mistaken_for_xml() -> None:
    framer = CotStreamFramer(max_event_bytes=1024, max_junk_bytes=2048)
    # TAK protocol version 1 frames start with the magic byte 0xbf; Concord speaks XML only.
    assert framer.feed(b"\xbf\x01\xbf" + bytes(range(256)) * 20) == []
    assert framer.must_close


def test_slow_drip_is_not_quadratic() -> None:
    framer = CotStreamFramer(max_event_bytes=64 * 1024)
    body = b'<event uid="slow" type="a-f-G"><detail>' + b"<x/>" * 10000
    for byte in body:
        framer.feed(bytes([byte]))
    assert framer.feed(b"</event>") == [body + b"</event>"]


def test_rejects_a_tiny_event_limit() -> None:
    with pytest.raises(ValueError):
        CotStreamFramer(max_event_bytes=10)


def test_many_tiny_events_in_one_read_all_come_out() -> None:
    framer = CotStreamFramer(max_event_bytes=1024)
    assert len(framer.feed(b"<event/>\n" * 20_000)) == 20_000
    assert framer.buffered_bytes == 0
