"""After-action reviews, SITREPs and briefing packs as documents: model, charts, map, HTML and PDF.

The services build a :class:`ReportDoc` from what the gate released to one viewer; this module only
draws and lays it out. HTML comes from a Jinja2 template with autoescaping on, PDF from WeasyPrint,
charts and map snapshots from matplotlib (Agg backend, PNG embedded as data URIs). Exercise documents
carry the exercise banner on every page.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shapely.geometry.base import BaseGeometry

from concord.drills.events import EXERCISE_PREFIX
from concord.drills.kpis import KpiReport

__all__ = [
    "MapLayer",
    "ReportDoc",
    "TimelineItem",
    "kpi_chart_png",
    "map_png",
    "render_html",
    "render_pdf",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class TimelineItem:
    at: datetime
    kind: str
    agency: str
    summary: str
    banner: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MapLayer:
    """What a map snapshot shows: zone geometries (lon/lat), track positions, alert positions."""

    zones: Sequence[tuple[str, str, BaseGeometry]] = ()  # (id, kind, geometry)
    tracks: Sequence[tuple[float, float]] = ()  # (lon, lat)
    alerts: Sequence[tuple[float, float, str]] = ()  # (lon, lat, kind)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportDoc:
    """One document for one viewer: everything in it was released to that viewer."""

    title: str
    kind: str  # "aar", "sitrep", "briefing"
    subject: str
    viewer: str
    generated_at: datetime
    exercise: bool
    summary: Sequence[str]
    timeline: Sequence[TimelineItem] = ()
    sections: Mapping[str, Sequence[str]] = field(default_factory=dict)
    kpis: KpiReport | None = None
    action_items: Sequence[str] = ()
    withheld: int = 0
    map_png: bytes | None = None
    chart_png: bytes | None = None

    @property
    def banner(self) -> str:
        return f"{EXERCISE_PREFIX} — exercise data, not live" if self.exercise else "LIVE OPERATIONS"

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "kind": self.kind,
            "subject": self.subject,
            "viewer": self.viewer,
            "generated_at": self.generated_at.isoformat(),
            "exercise": self.exercise,
            "banner": self.banner,
            "summary": list(self.summary),
            "timeline": [
                {
                    "at": t.at.isoformat(),
                    "kind": t.kind,
                    "agency": t.agency,
                    "summary": t.summary,
                    "banner": t.banner,
                }
                for t in self.timeline
            ],
            "sections": {k: list(v) for k, v in self.sections.items()},
            "kpis": None if self.kpis is None else self.kpis.to_dict(),
            "action_items": list(self.action_items),
            "withheld": self.withheld,
        }


def _figure() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(7.0, 4.2), dpi=100)


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def _mean(kpis: KpiReport, agency: str, metric: str) -> float:
    stat = kpis.per_agency.get(agency, {}).get(metric)
    return stat.mean_s if stat is not None and stat.mean_s is not None else 0.0


def kpi_chart_png(kpis: KpiReport) -> bytes:
    """Bar chart of mean response times per agency (seconds)."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    metrics = ("time_to_detect", "time_to_acknowledge", "time_to_first_response", "time_to_resolve")
    agencies = sorted(kpis.per_agency) or ["(none)"]
    width = 0.8 / len(metrics)
    for i, metric in enumerate(metrics):
        values = [_mean(kpis, a, metric) for a in agencies]
        ax.bar(
            [j + i * width for j in range(len(agencies))], values, width=width, label=metric.replace("_", " ")
        )
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(agencies))], agencies)
    ax.set_ylabel("mean seconds")
    ax.set_title("Response times by agency")
    ax.legend(fontsize=7)
    return _png(fig)


_ZONE_COLOURS = {
    "border-line": "black",
    "border-section": "tab:red",
    "aor": "tab:blue",
    "territorial-sea": "tab:cyan",
    "contiguous-zone": "lightblue",
    "restricted": "tab:orange",
}


def map_png(layer: MapLayer, *, title: str) -> bytes:
    """A map snapshot: zone outlines, track positions, alert markers (lon/lat axes)."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    for _zone_id, kind, geom in layer.zones:
        colour = _ZONE_COLOURS.get(kind, "grey")
        parts = getattr(geom, "geoms", [geom])
        for part in parts:
            if part.geom_type == "Polygon":
                xs, ys = part.exterior.xy
            elif part.geom_type in ("LineString", "LinearRing"):
                xs, ys = part.xy
            elif part.geom_type == "Point":
                ax.plot([part.x], [part.y], marker="s", color=colour, markersize=3)
                continue
            else:
                continue
            ax.plot(list(xs), list(ys), color=colour, linewidth=0.8)
    if layer.tracks:
        ax.scatter(
            [t[0] for t in layer.tracks], [t[1] for t in layer.tracks], s=6, color="tab:green", label="tracks"
        )
    if layer.alerts:
        ax.scatter(
            [a[0] for a in layer.alerts],
            [a[1] for a in layer.alerts],
            s=40,
            marker="x",
            color="red",
            label="alerts",
        )
    if layer.tracks or layer.alerts:
        ax.legend(fontsize=7)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title(title)
    ax.set_aspect("equal", adjustable="datalim")
    return _png(fig)


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ doc.title }}</title>
<style>
@page { size: A4; margin: 18mm 14mm;
  @top-center { content: "{{ doc.banner }}"; color: #b00; font: bold 9pt sans-serif; }
  @bottom-right { content: "page " counter(page) " of " counter(pages); font: 8pt sans-serif; } }
body { font: 10pt sans-serif; color: #111; }
.banner { background: {{ '#b00' if doc.exercise else '#264' }}; color: #fff; padding: 4px 8px;
font-weight: bold; }
table { border-collapse: collapse; width: 100%; margin: 6px 0; }
td, th { border: 1px solid #999; padding: 2px 4px; font-size: 8.5pt; text-align: left; }
h2 { border-bottom: 1px solid #444; margin-top: 14px; }
.miss { color: #b00; } .met { color: #264; }
img { max-width: 100%; }
.withheld { font-style: italic; color: #555; }
</style></head><body>
<div class="banner">{{ doc.banner }}</div>
<h1>{{ doc.title }}</h1>
<p>Subject: {{ doc.subject }} · prepared for {{ doc.viewer }} · {{ doc.generated_at.isoformat()
}}</p>
<h2>Summary</h2>
<ul>{% for line in doc.summary %}<li>{{ line }}</li>{% endfor %}</ul>
{% if doc.withheld %}<p class="withheld">{{ doc.withheld }} item(s) withheld under the sharing
rules that apply to you.</p>{% endif %}
{% for name, lines in doc.sections.items() %}
<h2>{{ name }}</h2>
{% if lines %}<ul>{% for line in lines %}<li>{{ line }}</li>{% endfor %}</ul>{% else
%}<p>None.</p>{% endif %}
{% endfor %}
{% if doc.kpis %}
<h2>KPIs against targets</h2>
<table><tr><th>inject</th><th>measure</th><th>target s</th><th>actual s</th><th>result</th></tr>
{% for c in doc.kpis.checks %}<tr><td>{{ c.inject }}</td><td>{{ c.measure }}</td><td>{{ c.target_s
}}</td>
<td>{{ c.actual_s if c.actual_s is not none else "—" }}</td>
<td class="{{ 'met' if c.met else 'miss' }}">{{ 'met' if c.met else 'missed' }}</td></tr>{% endfor
%}
</table>
<table><tr><th>measure</th><th>count</th><th>mean s</th><th>median s</th><th>max s</th></tr>
{% for name, s in doc.kpis.overall.items() %}<tr><td>{{ name.replace('_', ' ') }}</td><td>{{
s.count }}</td>
<td>{{ s.mean_s if s.mean_s is not none else "—" }}</td><td>{{ s.median_s if s.median_s is not none
else "—" }}</td>
<td>{{ s.max_s if s.max_s is not none else "—" }}</td></tr>{% endfor %}
</table>
<p>Detection effectiveness: {{ doc.kpis.detection_effectiveness if doc.kpis.detection_effectiveness
is not none else "—" }}
 · SLA compliance: {{ doc.kpis.sla_compliance if doc.kpis.sla_compliance is not none else "—" }}</p>
{% endif %}
{% if chart %}<h2>Charts</h2><img alt="response times by agency" src="data:image/png;base64,{{
chart }}">{% endif %}
{% if map %}<h2>Map snapshot</h2><img alt="map snapshot" src="data:image/png;base64,{{ map }}">{%
endif %}
{% if doc.action_items %}<h2>Action items</h2><ol>{% for item in doc.action_items %}<li>{{ item
}}</li>{% endfor %}</ol>{% endif %}
{% if doc.timeline %}
<h2>Timeline</h2>
<table><tr><th>time (UTC)</th><th>agency</th><th>what</th><th>marking</th></tr>
{% for t in doc.timeline %}<tr><td>{{ t.at.strftime('%Y-%m-%d %H:%M:%S') }}</td><td>{{ t.agency
}}</td>
<td>{{ t.summary }}</td><td>{{ t.banner }}</td></tr>{% endfor %}
</table>
{% endif %}
</body></html>
"""


def render_html(doc: ReportDoc) -> str:
    """The document as one self-contained HTML page (images inline); all text is escaped."""
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = env.from_string(_TEMPLATE)
    chart = base64.b64encode(doc.chart_png).decode("ascii") if doc.chart_png else ""
    snapshot = base64.b64encode(doc.map_png).decode("ascii") if doc.map_png else ""
    return template.render(doc=doc, chart=chart, map=snapshot)


def render_pdf(doc: ReportDoc) -> bytes:
    """The document as PDF (WeasyPrint), A4, banner on every page."""
    import logging

    from weasyprint import HTML  # type: ignore[import-untyped]

    # WeasyPrint logs every unsupported CSS nicety; the report does not need to hear about them.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    result: bytes = HTML(string=render_html(doc)).write_pdf()
    return result
