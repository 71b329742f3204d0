"""Checking a CAP 1.2 message: the OASIS XSD, then the rules of the standard that the XSD cannot say.

:func:`validate_cap` answers with a list of :class:`CapProblem` (empty when the message is valid). It
parses with defusedxml (no DTDs, no entities, no external references), validates against the
OASIS CAP 1.2 schema shipped in ``concord/egress/schemas/`` with xmlschema, and then checks the
business rules of CAP 1.2 section 3: a ``restriction`` for Restricted scope, ``addresses`` for
Private scope, the ``references`` triples, date-times with a numeric offset, identifiers free of
spaces, commas and ``<``/``&``, closed polygons of at least four points, circles as
``lat,lon radius``, and a ``ceiling`` only with an ``altitude``. Concord's own profile adds one rule:
an Update or a Cancel names the messages it refers to.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from importlib import resources
from typing import Any, Final, Literal, get_args

import xmlschema
from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml import ElementTree as SafeET

__all__ = [
    "ATOM_NS",
    "CAP_NS",
    "CAP_PROBLEM_CODES",
    "CapProblem",
    "CapProblemCode",
    "cap_schema",
    "validate_atom",
    "validate_cap",
]

CAP_NS: Final = "urn:oasis:names:tc:emergency:cap:1.2"
ATOM_NS: Final = "http://www.w3.org/2005/Atom"
#: Largest document :func:`validate_cap` and :func:`validate_atom` read (bytes).
MAX_DOCUMENT_BYTES: Final = 5_000_000

CapProblemCode = Literal[
    "too-large",
    "malformed",
    "forbidden-xml",
    "not-cap",
    "schema",
    "restriction-missing",
    "addresses-missing",
    "references-missing",
    "references-format",
    "time-format",
    "time-order",
    "identifier-format",
    "polygon-format",
    "circle-format",
    "ceiling-without-altitude",
    "not-atom",
    "atom-format",
]
"""Stable codes of the problems :func:`validate_cap` and :func:`validate_atom` report (see docs/cap.md)."""

CAP_PROBLEM_CODES: Final[frozenset[str]] = frozenset(get_args(CapProblemCode))

# CAP 1.2 section 3.3.2: dates and times carry a numeric offset; "Z" is not allowed.
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[-+]\d{2}:\d{2}$")
# Identifiers, senders and reference parts: no spaces, commas or restricted characters (< and &).
_RESTRICTED = re.compile(r"[\s,<&]")
_CIRCLE = re.compile(r"^([^,\s]+),([^,\s]+) ([^,\s]+)$")


@dataclass(frozen=True, slots=True, kw_only=True)
class CapProblem:
    """One thing wrong with a message: a stable ``code``, where (``path``) and what (``message``)."""

    code: CapProblemCode
    message: str
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "path": self.path}


@lru_cache(maxsize=1)
def cap_schema() -> xmlschema.XMLSchema:
    """The OASIS CAP 1.2 schema, loaded once on first use (nothing is read at import time)."""
    source = resources.files("concord.egress").joinpath("schemas/CAP-v1.2.xsd")
    with resources.as_file(source) as path:
        return xmlschema.XMLSchema(str(path))


def _parse(xml_bytes: bytes, max_bytes: int) -> tuple[ET.Element | None, list[CapProblem]]:
    if not isinstance(xml_bytes, bytes | bytearray):
        return None, [CapProblem(code="malformed", message="the document must be bytes")]
    if len(xml_bytes) > max_bytes:
        return None, [CapProblem(code="too-large", message=f"the document is larger than {max_bytes} bytes")]
    try:
        root = SafeET.fromstring(bytes(xml_bytes), forbid_dtd=True)
    except (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden) as exc:
        return None, [CapProblem(code="forbidden-xml", message=f"DTDs and entities are refused: {exc}")]
    except ET.ParseError as exc:
        return None, [CapProblem(code="malformed", message=f"not well-formed XML: {exc}")]
    return root, []


def validate_cap(xml_bytes: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> list[CapProblem]:
    """Every problem of a CAP 1.2 message (XSD and business rules); an empty list means valid."""
    root, problems = _parse(xml_bytes, max_bytes)
    if root is None:
        return problems
    if root.tag != f"{{{CAP_NS}}}alert":
        return [CapProblem(code="not-cap", message=f"the root element is {root.tag!r}, not a CAP 1.2 alert")]
    for error in cap_schema().iter_errors(root):
        problems.append(
            CapProblem(code="schema", message=str(error.reason or error.message), path=error.path or "")
        )
    problems.extend(_business_rules(root))
    return problems


def _text(parent: ET.Element, name: str) -> str | None:
    child = parent.find(f"{{{CAP_NS}}}{name}")
    return None if child is None else (child.text or "")


def _business_rules(alert: ET.Element) -> list[CapProblem]:
    problems: list[CapProblem] = []
    scope = (_text(alert, "scope") or "").strip()
    if scope == "Restricted" and not (_text(alert, "restriction") or "").strip():
        problems.append(
            CapProblem(
                code="restriction-missing",
                message="scope Restricted needs a restriction saying who may see the message",
                path="/alert/restriction",
            )
        )
    if scope == "Private" and not (_text(alert, "addresses") or "").strip():
        problems.append(
            CapProblem(
                code="addresses-missing",
                message="scope Private needs the addresses of the recipients",
                path="/alert/addresses",
            )
        )
    for name in ("identifier", "sender"):
        value = _text(alert, name)
        if value is not None and (not value or _RESTRICTED.search(value)):
            problems.append(
                CapProblem(
                    code="identifier-format",
                    message=f"{name} must be non-empty without spaces, commas, '<' or '&'",
                    path=f"/alert/{name}",
                )
            )
    sent = _text(alert, "sent")
    if sent is not None:
        problems.extend(_check_time(sent, "/alert/sent"))
    msg_type = (_text(alert, "msgType") or "").strip()
    references = _text(alert, "references")
    if references is None and msg_type in ("Update", "Cancel"):
        problems.append(
            CapProblem(
                code="references-missing",
                message=f"a {msg_type} names the earlier message(s) in references",
                path="/alert/references",
            )
        )
    if references is not None:
        problems.extend(_check_references(references))
    for index, info in enumerate(alert.findall(f"{{{CAP_NS}}}info"), start=1):
        problems.extend(_check_info(info, f"/alert/info[{index}]"))
    return problems


def _check_time(value: str, path: str) -> list[CapProblem]:
    if not _TIME.match(value):
        return [
            CapProblem(
                code="time-format",
                message=f"{value!r} is not YYYY-MM-DDThh:mm:ss with a numeric offset (no 'Z')",
                path=path,
            )
        ]
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return [CapProblem(code="time-format", message=f"{value!r} is not a real date and time", path=path)]
    return []


def _check_references(references: str) -> list[CapProblem]:
    triples = references.split()
    if not triples:
        return [CapProblem(code="references-format", message="references is empty", path="/alert/references")]
    problems: list[CapProblem] = []
    for triple in triples:
        parts = triple.split(",")
        if len(parts) != 3:
            problems.append(
                CapProblem(
                    code="references-format",
                    message=f"{triple!r} is not a sender,identifier,sent triple",
                    path="/alert/references",
                )
            )
            continue
        sender, identifier, sent = parts
        if not sender or not identifier or re.search(r"[<&]", sender + identifier):
            problems.append(
                CapProblem(
                    code="references-format",
                    message=f"{triple!r} needs a sender and an identifier without '<' or '&'",
                    path="/alert/references",
                )
            )
        if not _TIME.match(sent):
            problems.append(
                CapProblem(
                    code="references-format",
                    message=f"{triple!r}: the sent time must carry a numeric offset",
                    path="/alert/references",
                )
            )
    return problems


def _check_info(info: ET.Element, path: str) -> list[CapProblem]:
    problems: list[CapProblem] = []
    times: dict[str, datetime] = {}
    for name in ("effective", "onset", "expires"):
        value = _text(info, name)
        if value is None:
            continue
        found = _check_time(value, f"{path}/{name}")
        problems.extend(found)
        if not found:
            times[name] = datetime.fromisoformat(value)
    expires = times.get("expires")
    for name in ("effective", "onset"):
        start = times.get(name)
        if expires is not None and start is not None and expires < start:
            problems.append(
                CapProblem(
                    code="time-order",
                    message=f"expires ({expires.isoformat()}) is before {name} ({start.isoformat()})",
                    path=f"{path}/expires",
                )
            )
    for a_index, area in enumerate(info.findall(f"{{{CAP_NS}}}area"), start=1):
        area_path = f"{path}/area[{a_index}]"
        for p_index, polygon in enumerate(area.findall(f"{{{CAP_NS}}}polygon"), start=1):
            problems.extend(_check_polygon(polygon.text or "", f"{area_path}/polygon[{p_index}]"))
        for c_index, circle in enumerate(area.findall(f"{{{CAP_NS}}}circle"), start=1):
            problems.extend(_check_circle(circle.text or "", f"{area_path}/circle[{c_index}]"))
        if _text(area, "ceiling") is not None and _text(area, "altitude") is None:
            problems.append(
                CapProblem(
                    code="ceiling-without-altitude",
                    message="a ceiling is given only together with an altitude",
                    path=f"{area_path}/ceiling",
                )
            )
    return problems


def _point(text: str) -> tuple[float, float] | None:
    parts = text.split(",")
    if len(parts) != 2:
        return None
    try:
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


def _check_polygon(text: str, path: str) -> list[CapProblem]:
    pairs = text.split()
    points = [_point(p) for p in pairs]
    bad = [pairs[i] for i, p in enumerate(points) if p is None]
    if bad:
        return [
            CapProblem(
                code="polygon-format",
                message=f"polygon points must be WGS 84 'lat,lon' pairs; bad: {', '.join(bad[:3])}",
                path=path,
            )
        ]
    if len(points) < 4:
        return [CapProblem(code="polygon-format", message="a polygon needs at least four points", path=path)]
    if points[0] != points[-1]:
        return [
            CapProblem(
                code="polygon-format",
                message="a polygon is closed: its first and last points are the same",
                path=path,
            )
        ]
    return []


def _check_circle(text: str, path: str) -> list[CapProblem]:
    match = _CIRCLE.match(text.strip())
    problem = CapProblem(
        code="circle-format",
        message=f"{text!r} is not 'lat,lon radius' (WGS 84 centre, radius in km, not negative)",
        path=path,
    )
    if match is None or _point(f"{match[1]},{match[2]}") is None:
        return [problem]
    try:
        radius_km = float(match[3])
    except ValueError:
        return [problem]
    if not math.isfinite(radius_km) or radius_km < 0:
        return [problem]
    return []


def validate_atom(xml_bytes: bytes, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> list[CapProblem]:
    """Problems of an Atom (RFC 4287) feed of CAP messages; an empty list means it is sound.

    Checks what RFC 4287 requires of a feed and its entries (id, title, updated; a link when an
    entry has no content; an author for the feed or every entry) and that each entry links to its
    CAP message (``type="application/cap+xml"``), as the CAP feeds convention asks.
    """
    root, problems = _parse(xml_bytes, max_bytes)
    if root is None:
        return problems
    if root.tag != f"{{{ATOM_NS}}}feed":
        return [CapProblem(code="not-atom", message=f"the root element is {root.tag!r}, not an Atom feed")]

    def need(parent: ET.Element, name: str, path: str) -> None:
        child = parent.find(f"{{{ATOM_NS}}}{name}")
        if child is None or not (child.text or "").strip():
            problems.append(CapProblem(code="atom-format", message=f"{path} needs a {name}", path=path))
        elif name == "updated":
            try:
                datetime.fromisoformat((child.text or "").strip())
            except ValueError:
                problems.append(
                    CapProblem(
                        code="atom-format", message=f"{path}/updated is not an RFC 3339 date", path=path
                    )
                )

    for name in ("id", "title", "updated"):
        need(root, name, "/feed")
    feed_author = root.find(f"{{{ATOM_NS}}}author") is not None
    for index, entry in enumerate(root.findall(f"{{{ATOM_NS}}}entry"), start=1):
        path = f"/feed/entry[{index}]"
        for name in ("id", "title", "updated"):
            need(entry, name, path)
        if not feed_author and entry.find(f"{{{ATOM_NS}}}author") is None:
            problems.append(CapProblem(code="atom-format", message=f"{path} needs an author", path=path))
        links = [
            link
            for link in entry.findall(f"{{{ATOM_NS}}}link")
            if link.get("rel", "alternate") == "alternate" and link.get("href")
        ]
        if not any(link.get("type") == "application/cap+xml" for link in links):
            problems.append(
                CapProblem(
                    code="atom-format",
                    message=f"{path} needs a link (type application/cap+xml) to its CAP message",
                    path=path,
                )
            )
    return problems
