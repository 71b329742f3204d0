/* Concord web COP: login, marking banner, offline map (tracks, alerts, zones), alert queue, details.
 *
 * Records arrive from the live stream (/api/stream, docs/stream.md) after the server's release gate;
 * this page only draws what it was given and never widens it. Incoming messages are queued and applied
 * once per animation frame, so a burst of updates costs one redraw, not one per message. Every string
 * from a record is inserted as text (textContent), never as markup.
 */
(function () {
  "use strict";

  const LADDER = ["UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET"];
  const TLP = ["CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"];
  const IMPACT = ["low", "medium", "high", "very-high"];
  const TRAIL_MAX = 12; // points kept per track trail
  const TRAIL_REFRESH_MS = 1000; // how often a moving track's trail is redrawn
  const AGENCY_COLOURS = ["#4cc9f0", "#f72585", "#b5e48c", "#ffb703", "#c77dff", "#fb8500", "#90e0ef", "#ff8fab"];
  const IMPACT_COLOURS = { "very-high": "#ff4d6d", high: "#ff9f43", medium: "#ffd24d", low: "#7fb2ff" };
  const ZONE_COLOURS = {
    "border-line": "#ff9f43",
    "border-section": "#ffd24d",
    "crossing-point": "#b5e48c",
    "territorial-sea": "#4cc9f0",
    "contiguous-zone": "#7fb2ff",
    port: "#90e0ef",
    restricted: "#ff4d6d",
    aor: "#c77dff",
  };
  // Areas of responsibility are drawn as outlines only: they tile the region and would hide the rest.
  const ZONE_FILL = { aor: 0, "border-section": 0.06, restricted: 0.12, port: 0.12 };

  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) if (c != null) node.append(c);
    return node;
  };

  // ---- state -------------------------------------------------------------------------------------
  const state = {
    user: null,
    exercise: false,
    tracks: new Map(), // id -> {rec, marker, trail}
    alerts: new Map(), // id -> {rec, marker}
    zones: [], // GeoJSON features
    hiddenAgencies: new Set(),
    hiddenKinds: new Set(),
    overlays: { zones: true, alerts: true, trails: true, basemap: true, hotspots: false },
    selected: null, // {kind, id}
    lastSeq: null,
    pending: [], // parsed stream messages waiting for the next frame
    frameQueued: false,
    dirtyBanner: true,
    dirtyQueue: true,
    dirtyLayers: true,
    stats: { messages: 0, applied: 0, frames: 0, maxBatch: 0, applyMs: [] },
  };

  // ---- HTTP --------------------------------------------------------------------------------------
  async function api(path, options) {
    const init = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    if (init.body && typeof init.body !== "string") {
      init.body = JSON.stringify(init.body);
      init.headers["Content-Type"] = "application/json";
    }
    const response = await fetch(path, init);
    if (response.status === 204) return null;
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const message = body && body.error ? body.error.message : response.statusText;
      const err = new Error(message || "request failed");
      err.status = response.status;
      throw err;
    }
    return body;
  }

  // ---- markings ----------------------------------------------------------------------------------
  const parsedBanners = new Map();
  /** Split a banner (CLASS//REL TO A, B//TLP:X//CAT...) into its parts; cached per banner text. */
  function parseBanner(banner) {
    let parsed = parsedBanners.get(banner);
    if (parsed) return parsed;
    const parts = String(banner || "").split("//");
    parsed = { classification: parts[0] || "UNKNOWN", tlp: "CLEAR", categories: [] };
    for (const part of parts.slice(1)) {
      if (part.startsWith("TLP:")) parsed.tlp = part.slice(4);
      else if (!part.startsWith("REL TO ") && !part.startsWith("ORIGINATOR ONLY")) parsed.categories.push(part);
    }
    parsedBanners.set(banner, parsed);
    return parsed;
  }
  // An unknown level or colour ranks above every known one: when in doubt, mark higher.
  const rank = (list, value) => (list.includes(value) ? list.indexOf(value) : list.length);

  /** The highest classification, the most restrictive TLP and the union of categories on screen. */
  function highestMarking(banners) {
    let cls = null;
    let tlp = null;
    const categories = new Set();
    for (const b of banners) {
      const p = parseBanner(b);
      if (cls === null || rank(LADDER, p.classification) > rank(LADDER, cls)) cls = p.classification;
      if (tlp === null || rank(TLP, p.tlp) > rank(TLP, tlp)) tlp = p.tlp;
      for (const c of p.categories) categories.add(c);
    }
    if (cls === null) return { text: "UNCLASSIFIED", classification: "UNCLASSIFIED" };
    const text = [cls, "TLP:" + tlp, ...[...categories].sort()].join("//");
    return { text, classification: cls };
  }

  function visibleBanners() {
    const out = [];
    for (const t of state.tracks.values()) if (trackShown(t.rec)) out.push(t.rec.banner);
    if (state.overlays.alerts) for (const a of state.alerts.values()) if (alertShown(a.rec)) out.push(a.rec.banner);
    if (state.overlays.zones) for (const z of state.zones) out.push(z.properties.banner);
    return out;
  }

  function renderBanner() {
    const m = highestMarking(visibleBanners());
    const banner = $("banner");
    const agency = state.user ? state.user.agency : "";
    banner.textContent = m.text + (agency ? "  \u2014  " + agency : "");
    const known = LADDER.includes(m.classification) ? m.classification : "UNKNOWN";
    banner.className = "banner c-" + known;
    banner.dataset.marking = m.text;
    const drill = state.exercise || [...state.tracks.values()].some((t) => t.rec.exercise);
    $("watermark").hidden = !drill;
  }

  // ---- records -----------------------------------------------------------------------------------
  /** A record from REST (RecordPublic) or the stream (delta) in one shape. */
  function normalise(r) {
    return {
      kind: r.kind,
      id: r.id,
      banner: r.marking ? r.marking.banner : r.banner,
      marking: r.marking || null,
      exercise: !!r.exercise,
      decision: r.decision || null,
      redacted: r.redacted || [],
      fields: r.fields || {},
    };
  }
  const agenciesOf = (rec) => (Array.isArray(rec.fields.agencies) && rec.fields.agencies.length ? rec.fields.agencies : ["?"]);
  const targetOf = (rec) => (typeof rec.fields.target === "string" ? rec.fields.target : "unknown");
  const hasPosition = (rec) => Number.isFinite(rec.fields.lat) && Number.isFinite(rec.fields.lon);
  function trackShown(rec) {
    if (state.hiddenKinds.has(targetOf(rec))) return false;
    return agenciesOf(rec).some((a) => !state.hiddenAgencies.has(a));
  }
  function alertShown(rec) {
    const filter = $("impact-filter").value;
    if (filter && rank(IMPACT, rec.fields.impact) < rank(IMPACT, filter)) return false;
    return true;
  }

  const knownAgencies = new Set();
  const knownKinds = new Set();
  const agencyColour = new Map();
  function colourOf(agency) {
    if (!agencyColour.has(agency)) agencyColour.set(agency, AGENCY_COLOURS[agencyColour.size % AGENCY_COLOURS.length]);
    return agencyColour.get(agency);
  }

  // ---- map ---------------------------------------------------------------------------------------
  let map = null;
  let trackRenderer = null;
  let trackLayer = null;
  let trailLayer = null;
  let alertLayer = null;
  let hotspotLayer = null;
  let zoneLayer = null;
  let baseLayer = null;
  let labelColour = "#e6edf3";

  /** The tracks' canvas: labels only when zoomed in far enough to read them, font set once per draw. */
  const TrackCanvas = L.Canvas.extend({
    _draw: function () {
      this._fontSet = false;
      this._labels = map.getZoom() >= LABEL_ZOOM;
      L.Canvas.prototype._draw.call(this);
    },
  });
  const LABEL_ZOOM = 11;

  /** A track symbol drawn on the canvas: shape by target kind, colour by agency, heading line, label. */
  const TrackSymbol = L.CircleMarker.extend({
    _updatePath: function () {
      const renderer = this._renderer;
      if (!renderer._drawing || this._empty()) return;
      const ctx = renderer._ctx;
      const p = this._point;
      const r = this._radius;
      const o = this.options;
      ctx.beginPath();
      switch (o.shape) {
        case "vehicle":
          ctx.rect(p.x - r, p.y - r, 2 * r, 2 * r);
          break;
        case "vessel":
        case "boat":
          ctx.moveTo(p.x, p.y - r - 1);
          ctx.lineTo(p.x + r, p.y + r);
          ctx.lineTo(p.x - r, p.y + r);
          ctx.closePath();
          break;
        case "aircraft":
          ctx.moveTo(p.x, p.y - r - 1);
          ctx.lineTo(p.x + r + 1, p.y);
          ctx.lineTo(p.x, p.y + r + 1);
          ctx.lineTo(p.x - r - 1, p.y);
          ctx.closePath();
          break;
        case "unit":
          ctx.rect(p.x - r, p.y - r / 2, 2 * r, r);
          break;
        default:
          ctx.arc(p.x, p.y, r, 0, Math.PI * 2, false);
      }
      renderer._fillStroke(ctx, this);
      if (o.headingRad !== null) {
        ctx.beginPath();
        ctx.moveTo(p.x, p.y);
        ctx.lineTo(p.x + Math.sin(o.headingRad) * (r + 9), p.y - Math.cos(o.headingRad) * (r + 9));
        ctx.strokeStyle = o.color;
        ctx.lineWidth = 2;
        ctx.stroke();
      }
      if (o.label && renderer._labels) {
        if (!renderer._fontSet) {
          // Setting the font parses it; once per redraw, not once per track.
          ctx.font = "11px system-ui, sans-serif";
          renderer._fontSet = true;
        }
        ctx.fillStyle = labelColour;
        ctx.fillText(o.label, p.x + r + 4, p.y + 4);
      }
    },
  });

  function initMap() {
    map = L.map("map", { zoomControl: true, preferCanvas: false, worldCopyJump: false, attributionControl: true });
    map.attributionControl.setPrefix(false);
    map.attributionControl.addAttribution("Natural Earth (public domain) \u00b7 Leaflet");
    map.setView([41.15, 26.5], 9);
    // Panes fix the stacking: basemap (opaque land) at the bottom, zones over it, tracks on top.
    map.createPane("basemap").style.zIndex = "300";
    map.createPane("zones").style.zIndex = "390";
    map.createPane("tracks").style.zIndex = "450";
    trackRenderer = new TrackCanvas({ padding: 0.2, pane: "tracks" });
    const svg = L.svg({ pane: "zones" });
    const baseSvg = L.svg({ pane: "basemap" });
    trailLayer = L.layerGroup().addTo(map);
    zoneLayer = L.geoJSON(null, {
      pane: "zones",
      renderer: svg,
      style: zoneStyle,
      onEachFeature: zoneFeature,
      // Point zones (crossings, sites) as rings, not Leaflet's default image markers.
      pointToLayer: (feature, ll) => L.circleMarker(ll, Object.assign({ pane: "zones", renderer: svg, radius: 7 }, zoneStyle(feature))),
    }).addTo(map);
    // The forecast of the planning service: the highest-risk cells, darker for higher rank.
    hotspotLayer = L.geoJSON(null, {
      pane: "zones",
      renderer: svg,
      interactive: false,
      style: (f) => ({ className: "hotspot", color: "#ff7b00", weight: 1, fillColor: "#ff7b00", fillOpacity: Math.max(0.08, 0.55 - 0.01 * Number(f.properties.rank || 0)) }),
    }).addTo(map);
    alertLayer = L.layerGroup().addTo(map);
    trackLayer = L.layerGroup().addTo(map);
    map.on("zoomend", () => trackRenderer._redraw && trackRenderer._redraw());
    fetch("/static/vendor/basemap/countries-50m.geojson", { credentials: "same-origin" })
      .then((r) => r.json())
      .then((geo) => {
        baseLayer = L.geoJSON(geo, {
          pane: "basemap",
          renderer: baseSvg,
          interactive: false,
          style: () => ({ className: "basemap", color: css("--land-line"), weight: 1, fillColor: css("--land"), fillOpacity: 1 }),
        });
        baseLayer.addTo(map);
        baseLayer.bringToBack();
        document.body.dataset.basemap = "ready";
      })
      .catch(() => {
        document.body.dataset.basemap = "failed";
      });
  }
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  function zoneStyle(feature) {
    const kind = String(feature.properties.kind || "");
    const colour = ZONE_COLOURS[kind] || "#c77dff";
    const fill = kind in ZONE_FILL ? ZONE_FILL[kind] : 0.08;
    return { className: "zone", color: colour, weight: kind === "aor" ? 1 : 2, opacity: kind === "aor" ? 0.6 : 1, fillColor: colour, fillOpacity: fill, dashArray: kind === "restricted" || kind === "aor" ? "6 4" : null };
  }
  function zoneFeature(feature, layer) {
    layer.on("click", () => showZone(feature));
  }

  function symbolOptions(rec) {
    const f = rec.fields;
    const agency = agenciesOf(rec)[0];
    const speed = Math.hypot(f.vel_east_mps || 0, f.vel_north_mps || 0);
    const heading = Number.isFinite(f.vel_east_mps) && Number.isFinite(f.vel_north_mps) && speed > 0.5 ? Math.atan2(f.vel_east_mps, f.vel_north_mps) : null;
    const label = typeof f.callsign === "string" && f.callsign ? f.callsign : typeof f.identity === "string" ? f.identity : "";
    return {
      renderer: trackRenderer,
      radius: 5,
      shape: targetOf(rec),
      color: colourOf(agency),
      fillColor: colourOf(agency),
      fillOpacity: f.status === "coasting" ? 0.25 : 0.85,
      weight: 1.5,
      headingRad: heading,
      label: label,
    };
  }

  function upsertTrack(rec) {
    let t = state.tracks.get(rec.id);
    if (!t) {
      t = { rec, marker: null, trail: null, points: [], trailAt: 0 };
      state.tracks.set(rec.id, t);
    }
    t.rec = rec;
    for (const a of agenciesOf(rec)) if (!knownAgencies.has(a)) { knownAgencies.add(a); state.dirtyLayers = true; }
    if (!knownKinds.has(targetOf(rec))) { knownKinds.add(targetOf(rec)); state.dirtyLayers = true; }
    if (!hasPosition(rec)) {
      removeTrackLayers(t);
      return;
    }
    const ll = [rec.fields.lat, rec.fields.lon];
    const last = t.points[t.points.length - 1];
    if (!last || last[0] !== ll[0] || last[1] !== ll[1]) {
      t.points.push(ll);
      if (t.points.length > TRAIL_MAX) t.points.shift();
    }
    const opts = symbolOptions(rec);
    if (!t.marker) {
      // Markers are made once per track and moved afterwards: creating layers is the expensive part.
      t.marker = new TrackSymbol(ll, opts);
      t.marker.on("click", () => select("track", rec.id));
      t.trail = L.polyline(t.points, { renderer: trackRenderer, color: opts.color, weight: 1, opacity: 0.6, interactive: false });
      t.trailAt = performance.now();
    } else {
      L.Util.setOptions(t.marker, opts);
      t.marker.setLatLng(ll);
      // Re-projecting a polyline costs more than moving a symbol; a trail a second behind is invisible.
      const now = performance.now();
      if (now - t.trailAt >= TRAIL_REFRESH_MS) {
        t.trailAt = now;
        t.trail.setLatLngs(t.points);
      }
    }
    placeTrack(t);
  }
  function placeTrack(t) {
    const show = hasPosition(t.rec) && trackShown(t.rec);
    if (show && !trackLayer.hasLayer(t.marker)) trackLayer.addLayer(t.marker);
    if (!show && t.marker && trackLayer.hasLayer(t.marker)) trackLayer.removeLayer(t.marker);
    const trail = show && state.overlays.trails;
    if (trail && !trailLayer.hasLayer(t.trail)) trailLayer.addLayer(t.trail);
    if (!trail && t.trail && trailLayer.hasLayer(t.trail)) trailLayer.removeLayer(t.trail);
  }
  function removeTrackLayers(t) {
    if (t.marker) trackLayer.removeLayer(t.marker);
    if (t.trail) trailLayer.removeLayer(t.trail);
  }
  function removeTrack(id) {
    const t = state.tracks.get(id);
    if (!t) return;
    removeTrackLayers(t);
    state.tracks.delete(id);
  }

  function upsertAlert(rec) {
    let a = state.alerts.get(rec.id);
    if (!a) {
      a = { rec, marker: null };
      state.alerts.set(rec.id, a);
    }
    a.rec = rec;
    if (rec.fields.status === "ended") {
      removeAlert(rec.id);
      return;
    }
    if (!hasPosition(rec)) {
      if (a.marker) alertLayer.removeLayer(a.marker);
      a.marker = null;
      return;
    }
    const colour = IMPACT_COLOURS[rec.fields.impact] || "#c77dff";
    const ll = [rec.fields.lat, rec.fields.lon];
    if (!a.marker) {
      a.marker = L.circleMarker(ll, { renderer: trackRenderer, radius: 9, color: colour, weight: 2, fill: false });
      a.marker.on("click", () => select("alert", rec.id));
    } else {
      a.marker.setLatLng(ll);
      a.marker.setStyle({ color: colour, dashArray: rec.fields.status === "acknowledged" ? "4 4" : null });
    }
    placeAlert(a);
  }
  function placeAlert(a) {
    if (!a.marker) return;
    const show = state.overlays.alerts && alertShown(a.rec);
    if (show && !alertLayer.hasLayer(a.marker)) alertLayer.addLayer(a.marker);
    if (!show && alertLayer.hasLayer(a.marker)) alertLayer.removeLayer(a.marker);
  }
  function removeAlert(id) {
    const a = state.alerts.get(id);
    if (!a) return;
    if (a.marker) alertLayer.removeLayer(a.marker);
    state.alerts.delete(id);
  }

  function setZones(features) {
    state.zones = features;
    zoneLayer.clearLayers();
    if (state.overlays.zones) zoneLayer.addData({ type: "FeatureCollection", features });
    state.dirtyBanner = true;
  }
  let zonesFitted = false;
  async function loadZones() {
    try {
      const fc = await api("/api/zones");
      setZones(fc.features.filter((f) => f.geometry));
      if (!zonesFitted && state.zones.length) {
        // Open on the zones the viewer may see: that is the area of operations.
        zonesFitted = true;
        map.fitBounds(zoneLayer.getBounds(), { padding: [20, 20] });
      }
    } catch (err) {
      if (err.status === 401) return signedOut();
    }
  }

  // ---- stream ------------------------------------------------------------------------------------
  let socket = null;
  let retryMs = 1000;
  let zoneRefresh = null;
  let snapshotSeen = null;

  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(proto + "//" + location.host + "/api/stream");
    socket = ws;
    setConn("connecting", "");
    ws.onopen = () => {
      // The session cookie authenticates; the token field stays empty so it is never exposed to script.
      const hello = { type: "auth", exercise: state.exercise };
      if (state.lastSeq !== null) hello.resume_after = state.lastSeq;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (event) => receive(event.data);
    ws.onclose = (event) => {
      if (socket !== ws) return;
      socket = null;
      setConn("offline", "down");
      if (!state.user) return;
      if (event.code === 1008) return signedOut();
      setTimeout(() => state.user && !socket && connect(), retryMs);
      retryMs = Math.min(retryMs * 2, 15000);
    };
  }
  function disconnect() {
    const ws = socket;
    socket = null;
    if (ws) ws.close(1000, "bye");
  }
  function setConn(text, cls) {
    const c = $("conn");
    c.textContent = text;
    c.className = "conn " + cls;
  }

  /** Queue one stream message; the queue is applied on the next animation frame. */
  function receive(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch (e) {
      return;
    }
    state.stats.messages += 1;
    state.pending.push(msg);
    if (!state.frameQueued) {
      state.frameQueued = true;
      requestAnimationFrame(applyPending);
    }
  }

  function applyPending() {
    const started = performance.now();
    state.frameQueued = false;
    const batch = state.pending;
    state.pending = [];
    for (const msg of batch) applyMessage(msg);
    state.stats.applied += batch.length;
    state.stats.frames += 1;
    state.stats.maxBatch = Math.max(state.stats.maxBatch, batch.length);
    if (state.dirtyLayers) renderLayerControls();
    if (state.dirtyQueue) renderQueue();
    if (state.dirtyBanner) renderBanner();
    state.dirtyQueue = state.dirtyBanner = false;
    const ms = performance.now() - started;
    state.stats.applyMs.push(ms);
    if (state.stats.applyMs.length > 600) state.stats.applyMs.shift();
  }

  function applyMessage(msg) {
    switch (msg.type) {
      case "ready":
        retryMs = 1000;
        setConn(msg.exercise ? "exercise stream" : "live stream", "live");
        return;
      case "snapshot_start":
        snapshotSeen = new Set();
        return;
      case "snapshot_end":
        // Whatever the snapshot did not mention is no longer ours to show.
        if (snapshotSeen) {
          for (const id of [...state.tracks.keys()]) if (!snapshotSeen.has("track:" + id)) removeTrack(id);
          for (const id of [...state.alerts.keys()]) if (!snapshotSeen.has("alert:" + id)) removeAlert(id);
        }
        snapshotSeen = null;
        state.lastSeq = msg.seq;
        for (const t of state.tracks.values()) learnServerTime(t.rec.fields.updated_at);
        state.dirtyQueue = state.dirtyBanner = true;
        return;
      case "resume_end":
        state.lastSeq = msg.seq;
        return;
      case "delta":
        applyDelta(msg);
        return;
      case "error":
        return;
      default:
        return;
    }
  }

  function applyDelta(msg) {
    if (typeof msg.seq === "number" && (state.lastSeq === null || msg.seq > state.lastSeq) && snapshotSeen === null) state.lastSeq = msg.seq;
    if (snapshotSeen) snapshotSeen.add(msg.kind + ":" + msg.id);
    if (msg.kind === "zone") {
      clearTimeout(zoneRefresh);
      zoneRefresh = setTimeout(loadZones, 500);
      return;
    }
    if (msg.op === "remove" || msg.exercise !== state.exercise) {
      // A record of the other picture (live vs exercise) is not part of this one, whatever it was before.
      if (msg.kind === "track") removeTrack(msg.id);
      else if (msg.kind === "alert") { removeAlert(msg.id); state.dirtyQueue = true; }
    } else if (msg.kind === "track") {
      if (msg.fields && msg.fields.status === "deleted") removeTrack(msg.id);
      else upsertTrack(normalise(msg));
    } else if (msg.kind === "alert") {
      upsertAlert(normalise(msg));
      state.dirtyQueue = true;
    } else if (msg.kind === "incident" || msg.kind === "task" || msg.kind === "message") {
      incidentChanged(msg);
      return;
    } else {
      return;
    }
    state.dirtyBanner = true;
    if (state.selected && state.selected.kind === msg.kind && state.selected.id === msg.id) refreshDetailsSoon();
  }

  // ---- alert queue -------------------------------------------------------------------------------
  function queueItems() {
    const status = $("status-filter").value;
    return [...state.alerts.values()]
      .map((a) => a.rec)
      .filter((r) => alertShown(r) && (status ? r.fields.status === status : r.fields.status !== "ended"))
      .sort((a, b) => rank(IMPACT, b.fields.impact) - rank(IMPACT, a.fields.impact) || String(b.fields.raised_at).localeCompare(String(a.fields.raised_at)));
  }

  function renderQueue() {
    const list = $("alert-queue");
    const items = queueItems();
    const focusedId = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.id : null;
    $("alert-count").textContent = String(items.filter((r) => r.fields.status === "open").length);
    const rows = items.slice(0, 300).map((r) => {
      const f = r.fields;
      const selected = state.selected && state.selected.kind === "alert" && state.selected.id === r.id;
      const li = el(
        "li",
        {
          class: "i-" + (IMPACT.includes(f.impact) ? f.impact : "low"),
          tabindex: "-1",
          role: "option",
          "aria-selected": selected ? "true" : "false",
          "data-id": r.id,
          "aria-label": (f.impact || "unknown") + " impact " + (f.kind || "alert") + ", " + (f.status || "") + ": " + (f.summary || ""),
        },
        el("div", { class: "row" }, el("span", { class: "impact", text: String(f.impact || "withheld") }), el("span", { class: "muted", text: String(f.status || "") })),
        el("div", { text: typeof f.summary === "string" ? f.summary : String(f.kind || "alert") }),
        el("div", { class: "marking", text: r.banner + (r.exercise ? "  [EXERCISE]" : "") }),
      );
      const actions = el("div", { class: "actions" });
      if (f.status === "open") {
        actions.append(el("button", { type: "button", "data-ack": r.id, text: "Acknowledge", onclick: (e) => { e.stopPropagation(); acknowledge(r.id); } }));
      }
      actions.append(el("button", { type: "button", "data-open-incident": r.id, text: "Open incident", onclick: (e) => { e.stopPropagation(); openIncidentFromAlert(r.id); } }));
      li.append(actions);
      li.addEventListener("click", () => select("alert", r.id));
      return li;
    });
    list.setAttribute("role", "listbox");
    list.replaceChildren(...rows);
    if (items.length > rows.length) list.append(el("li", { class: "muted", text: items.length - rows.length + " more" }));
    const first = list.querySelector("li[data-id]");
    if (first) first.tabIndex = 0;
    if (focusedId) {
      const again = list.querySelector('li[data-id="' + CSS.escape(focusedId) + '"]');
      if (again) { again.tabIndex = 0; if (first && first !== again) first.tabIndex = -1; again.focus(); }
    }
  }

  function queueKeys(event) {
    const li = event.target.closest("li[data-id]");
    if (!li) return;
    const items = [...$("alert-queue").querySelectorAll("li[data-id]")];
    const i = items.indexOf(li);
    let next = null;
    if (event.key === "ArrowDown") next = items[Math.min(i + 1, items.length - 1)];
    else if (event.key === "ArrowUp") next = items[Math.max(i - 1, 0)];
    else if (event.key === "Home") next = items[0];
    else if (event.key === "End") next = items[items.length - 1];
    else if (event.key === "Enter" && event.target === li) { select("alert", li.dataset.id); event.preventDefault(); return; }
    else if ((event.key === "a" || event.key === "A") && event.target === li) { acknowledge(li.dataset.id); event.preventDefault(); return; }
    else if ((event.key === "i" || event.key === "I") && event.target === li) { openIncidentFromAlert(li.dataset.id); event.preventDefault(); return; }
    if (next) {
      event.preventDefault();
      for (const it of items) it.tabIndex = -1;
      next.tabIndex = 0;
      next.focus();
    }
  }

  async function acknowledge(id) {
    try {
      const rec = normalise(await api("/api/alerts/" + encodeURIComponent(id) + "/ack", { method: "POST", body: {} }));
      upsertAlert(rec);
      state.dirtyQueue = state.dirtyBanner = true;
      scheduleFrame();
      if (state.selected && state.selected.id === id) showRecord(rec);
    } catch (err) {
      if (err.status === 401) return signedOut();
      announce("Could not acknowledge: " + err.message);
    }
  }
  function scheduleFrame() {
    if (!state.frameQueued) { state.frameQueued = true; requestAnimationFrame(applyPending); }
  }
  function announce(text) {
    const d = $("details");
    d.replaceChildren(el("p", { class: "error", role: "alert", text }));
    showTab("details");
  }

  // ---- details -----------------------------------------------------------------------------------
  let detailsTimer = null;
  function refreshDetailsSoon() {
    if (detailsTimer) return;
    detailsTimer = setTimeout(() => { detailsTimer = null; if (state.selected) select(state.selected.kind, state.selected.id, true); }, 1000);
  }

  async function select(kind, id, quiet) {
    state.selected = { kind, id };
    state.dirtyQueue = true;
    scheduleFrame();
    try {
      // The single-record read returns the full structured marking and the gate's decision.
      const rec = normalise(await api("/api/" + kind + "s/" + encodeURIComponent(id)));
      showRecord(rec);
    } catch (err) {
      if (err.status === 401) return signedOut();
      if (err.status === 404) $("details").replaceChildren(el("p", { class: "muted", text: "This record is no longer visible to you." }));
    }
    if (!quiet) showTab("details");
  }

  const FIELD_ORDER = {
    track: ["identity", "callsign", "target", "status", "lat", "lon", "speed_mps", "vel_east_mps", "vel_north_mps", "agencies", "sources", "updated_at"],
    alert: ["kind", "impact", "confidence", "summary", "status", "lat", "lon", "zone_ids", "track_ids", "raised_at", "updated_at", "acknowledged_by"],
  };

  function showRecord(rec) {
    const d = $("details");
    const rows = [];
    const order = FIELD_ORDER[rec.kind] || [];
    const names = [...order.filter((n) => n in rec.fields || rec.redacted.includes(n)), ...Object.keys(rec.fields).filter((n) => !order.includes(n)).sort(), ...rec.redacted.filter((n) => !order.includes(n) && !(n in rec.fields))];
    for (const name of names) {
      const withheld = rec.redacted.includes(name);
      const value = withheld ? el("span", { class: "withheld", text: "withheld by sharing rules" }) : formatValue(rec.fields[name]);
      rows.push(el("tr", withheld ? { "data-withheld": name } : {}, el("th", { scope: "row", text: name }), el("td", {}, value)));
    }
    const m = rec.marking;
    const head = el("div", {},
      el("h2", { text: (rec.kind === "track" ? "Track " : rec.kind === "alert" ? "Alert " : "Record ") + rec.id }),
      el("div", { class: "marking", "data-role": "record-marking", text: rec.banner }),
      rec.exercise ? el("div", { class: "ex-tag", text: "EXERCISE" }) : null,
      m ? el("p", { class: "muted", text: "Originator " + m.originator + " \u00b7 releasable to " + m.rel_to.join(", ") + " \u00b7 release: " + (rec.decision || "") }) : null,
      rec.redacted.length ? el("p", { class: "withheld", text: rec.redacted.length + " field(s) withheld by sharing rules" }) : null,
    );
    const parts = [head, el("table", {}, el("tbody", {}, ...rows))];
    if (rec.kind === "alert" && rec.fields.status === "open") {
      parts.push(el("p", {}, el("button", { type: "button", text: "Acknowledge", onclick: () => acknowledge(rec.id) })));
    }
    if (hasPosition(rec)) {
      parts.push(el("p", {}, el("button", { type: "button", text: "Centre map", onclick: () => map.setView([rec.fields.lat, rec.fields.lon], Math.max(map.getZoom(), 11)) })));
    }
    d.replaceChildren(...parts);
  }

  function showZone(feature) {
    const p = feature.properties;
    const rows = Object.keys(p).filter((k) => k !== "banner" && k !== "redacted").sort().map((k) => el("tr", {}, el("th", { scope: "row", text: k }), el("td", {}, formatValue(p[k]))));
    for (const name of p.redacted || []) rows.push(el("tr", { "data-withheld": name }, el("th", { scope: "row", text: name }), el("td", {}, el("span", { class: "withheld", text: "withheld by sharing rules" }))));
    $("details").replaceChildren(el("h2", { text: "Zone " + (p.name || feature.id || "") }), el("div", { class: "marking", text: p.banner }), el("table", {}, el("tbody", {}, ...rows)));
    showTab("details");
  }

  function formatValue(v) {
    if (v === null || v === undefined) return document.createTextNode("\u2014");
    if (typeof v === "number") return document.createTextNode(Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) < 1000 ? 5 : 1).replace(/0+$/, "").replace(/\.$/, ""));
    if (Array.isArray(v)) return document.createTextNode(v.map((x) => (typeof x === "object" ? JSON.stringify(x) : String(x))).join(", ") || "\u2014");
    if (typeof v === "object") return document.createTextNode(JSON.stringify(v));
    return document.createTextNode(String(v));
  }

  // ---- layers ------------------------------------------------------------------------------------
  function check(id, label, checked, onchange) {
    const input = el("input", { type: "checkbox", id });
    input.checked = checked;
    input.addEventListener("change", () => onchange(input.checked));
    return el("div", {}, input, " ", el("label", { for: id, text: label }));
  }
  function renderLayerControls() {
    state.dirtyLayers = false;
    $("layers-agency").replaceChildren(...[...knownAgencies].sort().map((a) => check("layer-agency-" + a, a, !state.hiddenAgencies.has(a), (on) => { toggleSet(state.hiddenAgencies, a, !on); relayer(); })));
    $("layers-kind").replaceChildren(...[...knownKinds].sort().map((k) => check("layer-kind-" + k, k, !state.hiddenKinds.has(k), (on) => { toggleSet(state.hiddenKinds, k, !on); relayer(); })));
    $("layers-overlay").replaceChildren(
      ...["zones", "alerts", "trails", "basemap"].map((o) => check("layer-overlay-" + o, o, state.overlays[o], (on) => { state.overlays[o] = on; relayer(); })),
      check("layer-overlay-hotspots", "hotspots (forecast)", state.overlays.hotspots, (on) => { state.overlays.hotspots = on; setHotspots(); }),
    );
  }
  /** The hotspot forecast layer, fetched when switched on (it is built from the alerts you may see). */
  async function setHotspots() {
    hotspotLayer.clearLayers();
    if (!state.overlays.hotspots) {
      delete document.body.dataset.hotspots;
      return;
    }
    try {
      const fc = await api("/api/plans/hotspots?top=50");
      hotspotLayer.addData(fc);
      document.body.dataset.hotspots = String(fc.features.length);
      announce("Hotspot forecast from " + fc.alerts_used + " alerts you may see");
    } catch (err) {
      if (err.status === 401) return signedOut();
      document.body.dataset.hotspots = "unavailable";
      announce("Hotspot forecast not available: " + err.message);
    }
  }
  function toggleSet(set, value, add) {
    if (add) set.add(value);
    else set.delete(value);
  }
  function relayer() {
    for (const t of state.tracks.values()) if (t.marker) placeTrack(t);
    for (const a of state.alerts.values()) placeAlert(a);
    setZones(state.zones);
    if (baseLayer) {
      if (state.overlays.basemap && !map.hasLayer(baseLayer)) { baseLayer.addTo(map); baseLayer.bringToBack(); }
      if (!state.overlays.basemap && map.hasLayer(baseLayer)) map.removeLayer(baseLayer);
    }
    state.dirtyBanner = state.dirtyQueue = true;
    scheduleFrame();
  }

  // ---- picture summary (counts and a chart) ------------------------------------------------------
  function renderStats() {
    const byKind = new Map();
    for (const t of state.tracks.values()) byKind.set(targetOf(t.rec), (byKind.get(targetOf(t.rec)) || 0) + 1);
    const byImpact = new Map(IMPACT.map((i) => [i, 0]));
    for (const a of state.alerts.values()) if (a.rec.fields.status === "open") byImpact.set(a.rec.fields.impact, (byImpact.get(a.rec.fields.impact) || 0) + 1);
    const applyMs = [...state.stats.applyMs].sort((x, y) => x - y);
    const p95 = applyMs.length ? applyMs[Math.floor(applyMs.length * 0.95)] : 0;
    const entries = [
      ["Tracks", state.tracks.size],
      ["Open alerts", [...byImpact.values()].reduce((x, y) => x + y, 0)],
      ...IMPACT.slice().reverse().map((i) => ["  " + i, byImpact.get(i)]),
      ["Zones", state.zones.length],
      ["Stream messages", state.stats.messages],
      ["Update cost p95 (ms/frame)", p95.toFixed(1)],
    ];
    $("stats").replaceChildren(...entries.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: String(v) })]));
    drawBars($("stats-chart"), [...byKind.entries()].sort());
  }

  function drawBars(canvas, data) {
    const ctx = canvas.getContext("2d");
    const w = canvas.width;
    const h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = css("--fg");
    if (!data.length) { ctx.fillText("No tracks", 8, 20); return; }
    const max = Math.max(...data.map((d) => d[1]));
    const barH = Math.min(22, (h - 8) / data.length - 4);
    data.forEach(([label, value], i) => {
      const y = 4 + i * (barH + 4);
      const len = ((w - 130) * value) / max;
      ctx.fillStyle = css("--accent");
      ctx.fillRect(80, y, len, barH);
      ctx.fillStyle = css("--fg");
      ctx.fillText(label, 4, y + barH - 5);
      ctx.fillText(String(value), 84 + len, y + barH - 5);
    });
    canvas.setAttribute("aria-label", "Tracks by kind: " + data.map(([k, v]) => k + " " + v).join(", "));
  }

  // ---- server time -------------------------------------------------------------------------------
  // SLA countdowns are against the server's clock, which a drill may run apart from the wall clock;
  // the offset is learnt from the newest record time the server sent.
  let serverSkewMs = 0;
  function learnServerTime(iso) {
    const t = Date.parse(iso);
    if (Number.isFinite(t)) serverSkewMs = Math.max(serverSkewMs === 0 ? -Infinity : serverSkewMs, t - Date.now());
  }
  const serverNow = () => Date.now() + serverSkewMs;

  function formatDuration(ms) {
    const s = Math.round(Math.abs(ms) / 1000);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = s % 60;
    return (h ? h + "h " : "") + (h || m ? m + "m " : "") + sec + "s";
  }
  function slaText(task) {
    const f = task.fields;
    if (f.status === "completed") return { text: "done", cls: "done" };
    const due = f.status === "acknowledged" ? f.complete_due_at : f.ack_due_at;
    const what = f.status === "acknowledged" ? "complete" : "acknowledge";
    if (!due) return { text: "\u2014", cls: "" };
    const left = Date.parse(due) - serverNow();
    if (left < 0) return { text: what + " overdue by " + formatDuration(left), cls: "overdue" };
    return { text: what + " in " + formatDuration(left), cls: left < 120000 ? "due" : "" };
  }

  // ---- incidents ---------------------------------------------------------------------------------
  let openIncidentId = null;
  let incidentTimer = null;

  async function openIncidentFromAlert(alertId) {
    try {
      const detail = await api("/api/alerts/" + encodeURIComponent(alertId) + "/incident", { method: "POST", body: {} });
      showTab("incidents");
      renderIncident(detail);
    } catch (err) {
      if (err.status === 401) return signedOut();
      announce("Could not open an incident: " + err.message);
    }
  }

  async function loadIncidents() {
    const status = $("incident-status").value;
    const q = "?limit=200&exercise=" + state.exercise + (status ? "&status=" + status : "");
    try {
      const page = await api("/api/incidents" + q);
      const items = page.data.map((r) => {
        const f = r.fields;
        const li = el(
          "li",
          { class: "i-" + (IMPACT.includes(f.severity) ? f.severity : "low"), tabindex: "0", "data-incident": r.id, "aria-label": "Incident " + (f.title || r.id) + ", " + (f.status || "") },
          el("div", { class: "row" }, el("span", { class: "impact", text: String(f.severity || "") }), el("span", { class: "muted", text: String(f.status || "") + " \u00b7 lead " + String(f.lead_agency || "?") })),
          el("div", { text: String(f.title || r.id) }),
          el("div", { class: "marking", text: r.marking.banner + (r.exercise ? "  [EXERCISE]" : "") }),
        );
        const open = () => showIncident(r.id);
        li.addEventListener("click", open);
        li.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); open(); } });
        return li;
      });
      $("incident-list").replaceChildren(...(items.length ? items : [el("li", { class: "muted", text: "No incidents." })]));
    } catch (err) {
      if (err.status === 401) return signedOut();
    }
  }

  async function showIncident(id) {
    try {
      renderIncident(await api("/api/incidents/" + encodeURIComponent(id)));
    } catch (err) {
      if (err.status === 401) return signedOut();
      announce("Could not load the incident: " + err.message);
    }
  }

  async function incidentAction(path, body) {
    try {
      renderIncident(await api(path, { method: "POST", body: body || {} }));
    } catch (err) {
      if (err.status === 401) return signedOut();
      $("incident-error").textContent = err.message;
    }
  }

  function renderIncident(detail) {
    openIncidentId = detail.id;
    const f = detail.fields;
    const base = "/api/incidents/" + encodeURIComponent(detail.id);
    for (const entry of f.log || []) learnServerTime(entry.at);
    const withheld = (name) => detail.redacted.includes(name);
    const fact = (label, name, value) => [el("dt", { text: label }), el("dd", {}, withheld(name) ? el("span", { class: "withheld", text: "withheld by sharing rules" }) : formatValue(value))];
    const tasks = detail.tasks.map((t) => {
      const tf = t.fields;
      const sla = slaText(t);
      const actions = el("td", {});
      if (tf.status === "open") actions.append(el("button", { type: "button", "data-task-ack": tf.id, text: "Acknowledge", onclick: () => incidentAction(base + "/tasks/" + encodeURIComponent(tf.id) + "/ack") }));
      if (tf.status !== "completed") actions.append(el("button", { type: "button", "data-task-complete": tf.id, text: "Complete", onclick: () => incidentAction(base + "/tasks/" + encodeURIComponent(tf.id) + "/complete", { note: "" }) }));
      return el("tr", { "data-task": tf.id, "data-status": String(tf.status) },
        el("td", { text: String(tf.title || "") }),
        el("td", { text: String(tf.agency || "") + " " + String(tf.role || "") }),
        el("td", { text: String(tf.status || "") }),
        el("td", {}, el("span", { class: "sla " + sla.cls, "data-sla": tf.id, "data-due": String(tf.status === "acknowledged" ? tf.complete_due_at : tf.ack_due_at), text: sla.text })),
        actions);
    });
    const log = (f.log || []).slice().reverse().map((e) => el("li", {}, el("time", { text: String(e.at || "").replace("T", " ").slice(0, 19) }), document.createTextNode(String(e.summary || e.type || ""))));
    const noteInput = el("input", { id: "incident-note", "aria-label": "Log entry", maxlength: "2000", placeholder: "Add to the log" });
    const taskTitle = el("input", { id: "task-title", "aria-label": "New task title", maxlength: "200", placeholder: "New task for the lead agency" });
    const msgInput = el("input", { id: "channel-text", "aria-label": "Message to the incident channel", maxlength: "4000", placeholder: "Message to the incident channel" });
    const view = $("incident-view");
    const parts = [
      el("p", {}, el("button", { type: "button", id: "incident-back", text: "\u2190 All incidents", onclick: () => { openIncidentId = null; view.hidden = true; $("incident-list-view").hidden = false; loadIncidents(); } })),
      el("h2", { text: String(f.title || detail.id) }),
      el("div", { class: "marking", "data-role": "incident-marking", text: detail.marking.banner }),
      detail.exercise ? el("div", { class: "ex-tag", text: "EXERCISE" }) : null,
      el("dl", { class: "facts" }, ...fact("Lead agency", "lead_agency", f.lead_agency), ...fact("Supporting", "supporting_agencies", f.supporting_agencies), ...fact("Severity", "severity", f.severity), ...fact("Status", "status", f.status), ...fact("Alerts", "alert_ids", f.alert_ids), ...fact("Opened", "opened_at", f.opened_at)),
      el("p", { id: "incident-error", class: "error", role: "alert" }),
      el("h3", { class: "sub", text: "Tasks" }),
      el("table", {}, el("thead", {}, el("tr", {}, ...["Task", "Who", "Status", "SLA", ""].map((h) => el("th", { scope: "col", text: h })))), el("tbody", { id: "task-rows" }, ...tasks)),
      el("form", { onsubmit: (e) => { e.preventDefault(); if (taskTitle.value.trim()) incidentAction(base + "/tasks", { title: taskTitle.value.trim(), agency: "lead", role: "operator", ack_sla_s: 300, complete_sla_s: 3600 }); } }, taskTitle, el("button", { type: "submit", text: "Add task" })),
      el("h3", { class: "sub", text: "Log" }),
      el("form", { onsubmit: (e) => { e.preventDefault(); if (noteInput.value.trim()) incidentAction(base + "/notes", { text: noteInput.value.trim() }); } }, noteInput, el("button", { type: "submit", text: "Add" })),
      el("ul", { class: "log", "aria-label": "Incident log" }, ...log),
      el("h3", { class: "sub", text: "Channel" }),
      el("form", { onsubmit: (e) => { e.preventDefault(); postToChannel(detail, msgInput); } }, msgInput, el("button", { type: "submit", text: "Send" })),
      el("ul", { id: "channel-messages", class: "log", "aria-label": "Incident channel" }),
    ];
    view.replaceChildren(...parts.filter((p) => p !== null));
    $("incident-list-view").hidden = true;
    view.hidden = false;
    loadChannel(detail.id);
    clearInterval(incidentTimer);
    incidentTimer = setInterval(tickSla, 1000);
  }

  function tickSla() {
    if (openIncidentId === null || $("incident-view").hidden) return;
    for (const span of document.querySelectorAll("#task-rows [data-sla]")) {
      const row = span.closest("tr");
      const status = row.dataset.status;
      const fake = { fields: { status, ack_due_at: span.dataset.due, complete_due_at: span.dataset.due } };
      const sla = slaText(fake);
      span.textContent = sla.text;
      span.className = "sla " + sla.cls;
    }
  }

  function loadChannel(incidentId) {
    return loadMessages("incident:" + incidentId, "channel-messages");
  }

  async function loadMessages(channelId, listId) {
    try {
      const page = await api("/api/channels/" + encodeURIComponent(channelId) + "/messages?limit=200");
      $(listId).replaceChildren(...page.data.map((m) => el("li", {},
        el("time", { text: String(m.fields.posted_at || "").replace("T", " ").slice(0, 19) }),
        document.createTextNode(String(m.fields.author_username || "?") + " (" + String(m.fields.author_agency || m.marking.originator) + "): "),
        m.redacted.includes("body") ? el("span", { class: "withheld", text: "withheld by sharing rules" }) : document.createTextNode(String(m.fields.body || "")),
        el("span", { class: "marking", text: "  " + m.marking.banner }))));
    } catch (err) {
      if (err.status === 401) return signedOut();
    }
  }

  async function postToChannel(detail, input) {
    const text = input.value.trim();
    if (!text) return;
    const m = detail.marking;
    try {
      // The message carries the incident's marking, so it reaches exactly the incident's agencies.
      await api("/api/channels/" + encodeURIComponent("incident:" + detail.id) + "/messages", { method: "POST", body: { body: text, marking: { classification: m.classification, rel_to: m.rel_to, tlp: m.tlp, categories: m.categories } } });
      input.value = "";
      loadChannel(detail.id);
    } catch (err) {
      if (err.status === 401) return signedOut();
      $("incident-error").textContent = err.message;
    }
  }

  let incidentRefresh = null;
  function incidentChanged(msg) {
    const f = msg.fields || {};
    if (msg.kind === "message" && openChannel && f.channel_id === openChannel.id && !$("pane-messages").hidden) {
      loadMessages(openChannel.id, "channel-view-messages");
    }
    const touches = openIncidentId !== null && (msg.id === openIncidentId || f.incident_id === openIncidentId || f.channel_id === "incident:" + openIncidentId);
    clearTimeout(incidentRefresh);
    incidentRefresh = setTimeout(() => {
      if (touches && !$("incident-view").hidden) showIncident(openIncidentId);
      else if (!$("pane-incidents").hidden && $("incident-view").hidden) loadIncidents();
    }, 400);
  }


  // ---- messaging ---------------------------------------------------------------------------------
  let openChannel = null;

  async function loadChannels() {
    try {
      const page = await api("/api/channels");
      const items = page.data.map((c) => {
        const li = el("li", { tabindex: "0", "data-channel": c.id, "data-kind": String(c.fields.kind || ""), "aria-label": "Channel " + (c.fields.name || c.id) },
          el("div", { class: "row" }, el("strong", { text: String(c.fields.name || c.id) }), el("span", { class: "muted", text: String(c.fields.kind || "") })),
          el("div", { class: "muted", text: Array.isArray(c.fields.agencies) ? c.fields.agencies.join(", ") : "" }),
          el("div", { class: "marking", text: c.marking.banner + (c.exercise ? "  [EXERCISE]" : "") }));
        const open = () => showChannel(c);
        li.addEventListener("click", open);
        li.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); open(); } });
        return li;
      });
      $("channel-list").replaceChildren(...(items.length ? items : [el("li", { class: "muted", text: "No channels yet." })]));
    } catch (err) {
      if (err.status === 401) return signedOut();
    }
  }

  function showChannel(channel) {
    openChannel = channel;
    $("channel-view").hidden = false;
    $("channel-name").textContent = String(channel.fields.name || channel.id);
    $("channel-marking").textContent = channel.marking.banner;
    $("channel-error").textContent = "";
    loadMessages(channel.id, "channel-view-messages");
  }

  async function postToOpenChannel(event) {
    event.preventDefault();
    const input = $("channel-post-text");
    const text = input.value.trim();
    if (!openChannel || !text) return;
    const m = openChannel.marking;
    try {
      // Messages carry the channel's marking: they reach exactly the channel's agencies.
      await api("/api/channels/" + encodeURIComponent(openChannel.id) + "/messages", { method: "POST", body: { body: text, marking: { classification: m.classification, rel_to: m.rel_to, tlp: m.tlp, categories: m.categories } } });
      input.value = "";
      loadMessages(openChannel.id, "channel-view-messages");
    } catch (err) {
      if (err.status === 401) return signedOut();
      $("channel-error").textContent = err.message;
    }
  }

  async function openAgencyChannel(event) {
    event.preventDefault();
    const partner = $("channel-partner").value.trim().toUpperCase();
    if (!partner) return;
    try {
      const channel = await api("/api/channels/agency", { method: "POST", body: { partner } });
      $("channel-partner").value = "";
      await loadChannels();
      showChannel(channel);
    } catch (err) {
      if (err.status === 401) return signedOut();
      $("channel-view").hidden = false;
      $("channel-error").textContent = err.message;
    }
  }

  // ---- units and task forces ---------------------------------------------------------------------
  async function loadResources() {
    const list = async (path, target, describe) => {
      try {
        const page = await api(path);
        const items = page.data.map((r) => el("li", { tabindex: "0" }, ...describe(r), el("div", { class: "marking", text: r.marking.banner })));
        $(target).replaceChildren(...(items.length ? items : [el("li", { class: "muted", text: "None visible." })]));
      } catch (err) {
        if (err.status === 401) return signedOut();
        $(target).replaceChildren(el("li", { class: "muted", text: "Not available: " + err.message }));
      }
    };
    await list("/api/units?limit=200", "unit-list", (r) => [
      el("div", { class: "row" }, el("strong", { text: String(r.fields.callsign || r.id) }), el("span", { class: "muted", text: String(r.fields.status || "") })),
      el("div", { class: "muted", text: [r.fields.agency, r.fields.unit_type, r.fields.holder && r.fields.holder !== r.fields.agency ? "with " + r.fields.holder : "", Array.isArray(r.fields.task) ? "on incident " + r.fields.task[0] : ""].filter(Boolean).join(" \u00b7 ") }),
    ]);
    await list("/api/taskforces?limit=200", "taskforce-list", (r) => [
      el("div", { class: "row" }, el("strong", { text: String(r.fields.name || r.id) }), el("span", { class: "muted", text: r.fields.disbanded_at ? "disbanded" : "active" })),
      el("div", { class: "muted", text: "Lead " + String(r.fields.lead_agency || "?") + " \u00b7 members " + (Array.isArray(r.fields.member_agencies) ? r.fields.member_agencies.join(", ") : "\u2014") + " \u00b7 " + (Array.isArray(r.fields.unit_ids) ? r.fields.unit_ids.length : 0) + " unit(s)" }),
    ]);
  }

  // ---- KPIs --------------------------------------------------------------------------------------
  const KPI_MEASURES = [
    ["time_to_detect", "detect"],
    ["time_to_acknowledge", "acknowledge"],
    ["time_to_first_response", "first response"],
    ["time_to_resolve", "resolve"],
  ];
  async function loadKpis() {
    try {
      const k = await api("/api/kpis");
      const pct = (v) => (v === null || v === undefined ? "\u2014" : Math.round(v * 100) + " %");
      const entries = [
        ["Alerts", k.alerts],
        ["SLA met", k.sla ? k.sla.met + " / " + k.sla.total + " (" + pct(k.sla.compliance) + ")" : "\u2014"],
        ["Detection", k.detection ? pct(k.detection.effectiveness) : "\u2014"],
        ...KPI_MEASURES.map(([key, label]) => {
          const m = k.overall && k.overall[key];
          return ["Median to " + label, m && m.median_s !== null ? formatDuration(m.median_s * 1000) + " (n=" + m.count + ")" : "\u2014"];
        }),
      ];
      $("kpi-summary").replaceChildren(...entries.flatMap(([a, b]) => [el("dt", { text: a }), el("dd", { text: String(b) })]));
      const agencies = Object.keys(k.per_agency || {}).sort();
      const series = agencies.map((a) => [a, KPI_MEASURES.map(([key]) => { const m = k.per_agency[a][key]; return m && m.median_s !== null ? m.median_s : 0; })]);
      drawGrouped($("kpi-chart"), KPI_MEASURES.map((m) => m[1]), series);
      $("kpi-note").textContent = "Median seconds per agency, live operations; figures count only what you may see.";
    } catch (err) {
      if (err.status === 401) return signedOut();
      $("kpi-note").textContent = "KPIs not available: " + err.message;
    }
  }

  /** A grouped bar chart: one group per measure, one bar per agency (median seconds). */
  function drawGrouped(canvas, groups, series) {
    const ctx = canvas.getContext("2d");
    const w = canvas.width;
    const h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillStyle = css("--fg");
    const max = Math.max(1, ...series.flatMap((s) => s[1]));
    if (!series.length) { ctx.fillText("No figures yet", 8, 20); return; }
    const top = 18;
    const bottom = h - 20;
    const groupW = (w - 20) / groups.length;
    const barW = Math.max(3, (groupW - 10) / series.length);
    groups.forEach((g, gi) => {
      series.forEach(([agency, values], si) => {
        const v = values[gi];
        const bh = ((bottom - top) * v) / max;
        ctx.fillStyle = colourOf(agency);
        ctx.fillRect(10 + gi * groupW + si * barW, bottom - bh, barW - 1, bh);
      });
      ctx.fillStyle = css("--fg");
      ctx.fillText(g, 10 + gi * groupW, h - 6);
    });
    series.forEach(([agency], si) => {
      ctx.fillStyle = colourOf(agency);
      ctx.fillRect(10 + si * 60, 4, 10, 10);
      ctx.fillStyle = css("--fg");
      ctx.fillText(agency, 24 + si * 60, 13);
    });
    canvas.setAttribute("aria-label", "Median seconds to " + groups.join(", ") + " by agency: " + series.map(([a, v]) => a + " " + v.map((x) => Math.round(x)).join("/")).join("; "));
  }

  // ---- tabs, theme, mode -------------------------------------------------------------------------
  const TABS = ["alerts", "incidents", "details", "resources", "messages", "layers", "stats"];
  function showTab(name) {
    for (const t of TABS) {
      const tab = $("tab-" + t);
      const on = t === name;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      $("pane-" + t).hidden = !on;
    }
    if (name === "stats") { renderStats(); loadKpis(); }
    if (name === "incidents" && $("incident-view").hidden) loadIncidents();
    if (name === "resources") loadResources();
    if (name === "messages") loadChannels();
  }
  function tabKeys(event) {
    const i = TABS.indexOf(event.target.id.replace("tab-", ""));
    let next = null;
    if (event.key === "ArrowRight") next = TABS[(i + 1) % TABS.length];
    else if (event.key === "ArrowLeft") next = TABS[(i + TABS.length - 1) % TABS.length];
    if (next) { event.preventDefault(); showTab(next); $("tab-" + next).focus(); }
  }

  function setTheme(theme) {
    document.documentElement.dataset.theme = theme;
    try { localStorage.setItem("concord.theme", theme); } catch (e) { /* private mode: theme is not kept */ }
    const dark = theme === "dark";
    $("theme-toggle").setAttribute("aria-pressed", dark ? "true" : "false");
    $("theme-toggle").textContent = dark ? "Dark theme" : "Light theme";
    labelColour = css("--label");
    if (baseLayer) baseLayer.setStyle({ color: css("--land-line"), fillColor: css("--land") });
    if (trackRenderer && trackRenderer._redraw) trackRenderer._redraw();
  }

  function setMode(exercise) {
    state.exercise = exercise;
    const b = $("mode-toggle");
    b.setAttribute("aria-pressed", exercise ? "true" : "false");
    b.textContent = exercise ? "Exercise data" : "Live data";
    for (const id of [...state.tracks.keys()]) removeTrack(id);
    for (const id of [...state.alerts.keys()]) removeAlert(id);
    state.lastSeq = null;
    state.dirtyQueue = state.dirtyBanner = true;
    scheduleFrame();
    disconnect();
    if (state.user) connect();
  }

  // ---- session -----------------------------------------------------------------------------------
  function signedIn(user) {
    state.user = user;
    $("login").hidden = true;
    $("app").hidden = false;
    $("whoami").textContent = user.username + " \u00b7 " + user.agency + " \u00b7 " + user.roles.join(", ");
    if (!map) initMap();
    else map.invalidateSize();
    loadZones();
    connect();
    renderBanner();
    $("tab-alerts").focus();
  }
  function signedOut() {
    state.user = null;
    disconnect();
    for (const id of [...state.tracks.keys()]) removeTrack(id);
    for (const id of [...state.alerts.keys()]) removeAlert(id);
    if (zoneLayer) setZones([]);
    state.lastSeq = null;
    $("app").hidden = true;
    $("login").hidden = false;
    $("login-username").focus();
  }

  async function onLogin(event) {
    event.preventDefault();
    $("login-error").textContent = "";
    const username = $("login-username").value.trim();
    const password = $("login-password").value;
    try {
      const user = await api("/api/auth/login", { method: "POST", body: { username, password } });
      $("login-password").value = "";
      signedIn(user);
    } catch (err) {
      $("login-error").textContent = err.status === 401 || err.status === 403 ? "Wrong username or password." : "Sign-in failed: " + err.message;
    }
  }

  async function logout() {
    try { await api("/api/auth/logout", { method: "POST" }); } catch (e) { /* already gone */ }
    signedOut();
  }

  function start() {
    let theme = "dark";
    try { theme = localStorage.getItem("concord.theme") || "dark"; } catch (e) { /* default */ }
    setTheme(theme);
    $("login-form").addEventListener("submit", onLogin);
    $("logout").addEventListener("click", logout);
    $("theme-toggle").addEventListener("click", () => setTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark"));
    $("mode-toggle").addEventListener("click", () => setMode(!state.exercise));
    for (const t of TABS) {
      $("tab-" + t).addEventListener("click", () => showTab(t));
      $("tab-" + t).addEventListener("keydown", tabKeys);
    }
    $("alert-queue").addEventListener("keydown", queueKeys);
    $("impact-filter").addEventListener("change", relayer);
    $("status-filter").addEventListener("change", () => { state.dirtyQueue = true; scheduleFrame(); });
    $("incident-status").addEventListener("change", loadIncidents);
    $("incident-refresh").addEventListener("click", loadIncidents);
    $("channel-post-form").addEventListener("submit", postToOpenChannel);
    $("channel-open-form").addEventListener("submit", openAgencyChannel);
    setInterval(() => { if (!$("pane-stats").hidden) renderStats(); }, 1000);
    api("/api/auth/me").then(signedIn, () => signedOut());
  }

  // Read-only diagnostics for the console and the browser tests: counts and per-frame update cost.
  window.cop = Object.freeze({
    receive: (text) => receive(text),
    select: (kind, id) => select(kind, id),
    stats: () => ({
      tracks: state.tracks.size,
      alerts: state.alerts.size,
      zones: state.zones.length,
      messages: state.stats.messages,
      applied: state.stats.applied,
      frames: state.stats.frames,
      maxBatch: state.stats.maxBatch,
      pending: state.pending.length,
      applyMs: state.stats.applyMs.slice(),
      lastSeq: state.lastSeq,
    }),
    trackIds: () => [...state.tracks.keys()].sort(),
    alertIds: () => [...state.alerts.keys()].sort(),
  });

  document.addEventListener("DOMContentLoaded", start);
})();
