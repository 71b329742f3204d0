"""The TAK fan-out without sockets: release and encode once per viewer class, echo, deletes, TLP:RED."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from defusedxml import ElementTree as SafeET
from hypothesis import given, settings
from hypothesis import strategies as st

from concord.adapters.clock import ManualClock
from concord.domain.agreement import Agreement, AgreementSigned
from concord.domain.identity import Agency, AgencyKind, Role, Viewer
from concord.domain.marking import Marking, Tlp
from concord.domain.observation import TargetKind
from concord.domain.record import RecordRow
from concord.domain.track import Track, TrackStatus
from concord.egress.cot import encode_released
from concord.ingest import ChatMessage
from concord.services.records import track_row
from concord.services.tak import TakHub
from concord.sharing import Released, ReleaseGate, ReleasePolicies

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class FakePeer:
    viewer: Viewer
    exercise: bool = False
    own_uids: set[str] = field(default_factory=set)
    sent: list[bytes] = field(default_factory=list)

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    @property
    def events(self) -> list[bytes]:
        return [e for chunk in self.sent for e in chunk.split(b"</event>") if e.strip()]


@dataclass
class Gates:
    gate: ReleaseGate


def viewer(user: str, agency: str, clearance: str = "RESTRICTED") -> Viewer:
    return Viewer(user_id=user, agency=agency, roles=frozenset({Role.OPERATOR}), clearance=clearance)


def hub_and_gate() -> tuple[TakHub, ReleaseGate, ManualClock]:
    gate = ReleaseGate(
        policies=ReleasePolicies.load(),
        agencies=[
            Agency("BP", "Border Police", AgencyKind.BORDER_POLICE),
            Agency("CG", "Coast Guard", AgencyKind.COAST_GUARD),
        ],
    )
    clock = ManualClock(START)
    return TakHub(gates=Gates(gate), clock=clock), gate, clock


def row(
    uid: str, *, marking: Marking | None = None, status: TrackStatus = TrackStatus.CONFIRMED, seq: int = 1
) -> RecordRow:
    track = Track(
        id=f"trk-{uid}",
        updated_at=START,
        lat=41.0,
        lon=26.0,
        vel_east_mps=1.0,
        vel_north_mps=1.0,
        position_sigma_m=10.0,
        status=status,
        marking=marking or Marking.default_for("BP"),
        identity=f"tak:{uid}",
        target=TargetKind.UNIT,
    )
    return track_row(track, seq=seq)


def test_each_class_releases_and_encodes_once_however_many_clients() -> None:
    hub, _, _ = hub_and_gate()
    bp = [FakePeer(viewer(f"bp{i}", "BP")) for i in range(5)]
    cg = [FakePeer(viewer(f"cg{i}", "CG")) for i in range(3)]
    for peer in bp + cg:
        hub.add(peer)
    assert hub.classes == 2
    hub.publish([row(f"u{i}", seq=i) for i in range(10)])
    assert hub.stats.encodings == 10  # one class may see them, encoded once for all five
    assert hub.stats.releases == 20  # one release per record and class, never per client
    for peer in bp:
        assert len(peer.events) == 10
    assert all(not peer.sent for peer in cg)


def test_own_position_is_not_echoed_and_a_joining_client_gets_the_picture() -> None:
    hub, _, _ = hub_and_gate()
    me, other = FakePeer(viewer("bp1", "BP"), own_uids={"u1"}), FakePeer(viewer("bp2", "BP"))
    hub.add(me)
    hub.add(other)
    hub.publish([row("u1", seq=1), row("u2", seq=2)])
    assert [b'uid="u2"' in e for e in me.events] == [True]
    assert len(other.events) == 2
    late = FakePeer(viewer("bp3", "BP"))
    hub.add(late)
    assert len(late.events) == 2


def test_deleted_tracks_and_revoked_agreements_send_deletes_only_to_those_who_had_them() -> None:
    hub, gate, _ = hub_and_gate()
    shared = Marking(
        classification="RESTRICTED", originator="BP", rel_to=frozenset({"BP", "CG"}), tlp=Tlp.AMBER
    )
    bp, cg = FakePeer(viewer("bp1", "BP")), FakePeer(viewer("cg1", "CG"))
    hub.add(bp)
    hub.add(cg)
    hub.publish([row("s1", marking=shared), row("own", seq=2)])
    assert len(bp.events) == 2 and not cg.sent  # no agreement yet
    gate.apply(
        AgreementSigned(
            agreement=Agreement(
                agreement_id="a1", owner="BP", partner="CG", valid_from=START - timedelta(days=1)
            ),
            occurred_at=START,
        )
    )
    hub.sweep(force=False)
    assert [b'uid="s1"' in e for e in cg.events] == [True]
    hub.publish([row("own", status=TrackStatus.DELETED, seq=3)])
    assert b"t-x-d-d" in bp.events[-1] and b'<link uid="own"' in bp.events[-1]
    assert len(cg.events) == 1  # CG never had "own": no delete names it
    from concord.domain.agreement import AgreementRevoked

    gate.apply(AgreementRevoked(agreement_id="a1", occurred_at=START, reason="test"))
    hub.sweep(force=False)
    assert b"t-x-d-d" in cg.events[-1] and b'<link uid="s1"' in cg.events[-1]
    assert b'uid="s1"' in bp.events[0] and not any(b"t-x-d-d" in e and b"s1" in e for e in bp.events)


def test_tlp_red_records_reach_only_the_named_recipient() -> None:
    hub, gate, _ = hub_and_gate()
    gate.apply(
        AgreementSigned(
            agreement=Agreement(
                agreement_id="a1", owner="BP", partner="CG", valid_from=START - timedelta(days=1)
            ),
            occurred_at=START,
        )
    )
    red = Marking(
        classification="RESTRICTED",
        originator="BP",
        rel_to=frozenset({"BP", "CG"}),
        tlp=Tlp.RED,
        recipients=frozenset({"cg-named"}),
    )
    named, unnamed = FakePeer(viewer("cg-named", "CG")), FakePeer(viewer("cg-other", "CG"))
    hub.add(named)
    hub.add(unnamed)
    hub.publish([row("red1", marking=red)])
    assert hub.classes == 1
    assert [b'uid="red1"' in e for e in named.events] == [True]
    assert not unnamed.sent
    hub.publish([row("red1", marking=red, status=TrackStatus.DELETED, seq=2)])
    assert b"t-x-d-d" in named.events[-1] and not unnamed.sent


def test_geochat_is_relayed_to_permitted_clients_except_the_sender() -> None:
    hub, _, _ = hub_and_gate()
    sender, mate, other = (
        FakePeer(viewer("bp1", "BP")),
        FakePeer(viewer("bp2", "BP")),
        FakePeer(viewer("cg1", "CG")),
    )
    for peer in (sender, mate, other):
        hub.add(peer)
    message = ChatMessage(
        id="GeoChat.x.1",
        source="cot:BP",
        agency="BP",
        marking=Marking.default_for("BP"),
        chatroom="All Chat Rooms",
        sender_uid="ANDROID-x",
        sender_callsign="X",
        text="hello <b>&",
        sent_at=START,
        received_at=START,
    )
    stored: list[ChatMessage] = []
    hub.on_chat.append(stored.append)
    assert hub.relay_chat(message, sender=sender) == 1
    assert not sender.sent and not other.sent and stored == [message]
    parsed = SafeET.fromstring(mate.events[0] + b"</event>")
    remarks = parsed.find("detail/remarks")
    assert parsed.get("type") == "b-t-f" and remarks is not None and remarks.text == "hello <b>&"


@settings(max_examples=60, deadline=None)
@given(callsign=st.text(max_size=200), identity=st.text(min_size=1, max_size=100))
def test_any_field_text_still_gives_well_formed_cot(callsign: str, identity: str) -> None:
    hub, gate, _ = hub_and_gate()
    base = row("x")
    data = {**base.data, "callsign": callsign, "identity": "tak:" + identity}
    hostile = RecordRow(**{**{k: getattr(base, k) for k in base.__dataclass_fields__}, "data": data})
    from concord.services.records import shareable_of

    released = gate.release(shareable_of(hostile), viewer("bp1", "BP"), START)
    assert isinstance(released, Released)
    payload = encode_released(released, now=START)
    assert payload is not None
    event = SafeET.fromstring(payload)
    assert event.tag == "event" and event.find("point") is not None
    contact = event.find("detail/contact")
    assert contact is not None
    # What XML can carry comes back exactly; only characters XML 1.0 cannot carry are dropped.
    expected = "".join(c for c in (callsign or "tak:" + identity) if c in "\t\n\r" or c >= " ")
    expected = "".join(c for c in expected if not ("\ud800" <= c <= "\udfff" or c in "\ufffe\uffff"))
    assert contact.get("callsign") == expected[:128]
    assert hub.stats.encodings == 0
