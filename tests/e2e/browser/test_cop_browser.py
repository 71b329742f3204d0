"""The web COP in a real browser against a real server: login, who sees what, acknowledge, offline map."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from tests.e2e.browser.cop_helpers import Server, login, screenshot, wait_js

from concord.domain.marking import DEFAULT_LADDER, Tlp

pytestmark = pytest.mark.browser

TLP_ORDER = [t.value for t in Tlp]


def expected_ids(server: Server, username: str, kind: str, *, exercise: bool = False) -> set[str]:
    viewer = server.concord.accounts.get_user_by_username(username).viewer()
    page = server.concord.queries.page(kind, viewer, exercise=exercise, limit=1000)
    gone = {"deleted"} if kind == "track" else {"ended"}
    return {r.record.record_id for r in page.items if r.record.fields.get("status") not in gone}


def expected_banner(server: Server, username: str) -> str:
    viewer = server.concord.accounts.get_user_by_username(username).viewer()
    markings = []
    for kind in ("track", "alert", "zone"):
        for r in server.concord.queries.page(kind, viewer, limit=1000).items:
            if kind == "zone" or r.record.fields.get("status") not in {"deleted", "ended"}:
                markings.append(r.record.marking)
    level = DEFAULT_LADDER.highest(m.classification for m in markings)
    tlp = max((m.tlp.value for m in markings), key=TLP_ORDER.index)
    categories = sorted(set().union(*(m.categories for m in markings)))
    return "//".join([level, f"TLP:{tlp}", *categories])


@pytest.fixture
def offline(context: Any, cop_server: Server) -> Iterator[list[str]]:
    """Block every request that is not to the server; the list collects what was attempted elsewhere."""
    host = urlsplit(cop_server.url).netloc
    attempted: list[str] = []

    def guard(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).netloc != host:
            attempted.append(url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", guard)
    context.on("request", lambda r: None if urlsplit(r.url).netloc == host else attempted.append(r.url))
    yield attempted


def test_cop_login_refuses_a_wrong_password_then_signs_in(context: Any, cop_server: Server) -> None:
    page = context.new_page()
    page.goto(cop_server.url + "/")
    assert page.is_visible("#login-form")
    screenshot(page, "login")
    page.fill("#login-username", "bp.op")
    page.fill("#login-password", "not the password")
    page.click("#login-submit")
    wait_js(page, "document.getElementById('login-error').textContent.length > 0")
    assert page.is_hidden("#app")
    login(page, cop_server, "bp.op")
    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies["concord_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # the session is invisible to script
    page.click("#logout")
    page.wait_for_selector("#login:not([hidden])")
    assert "concord_session" not in {c["name"] for c in context.cookies()}


@pytest.mark.parametrize("username", ["bp.op", "cg.op"])
def test_cop_shows_each_agency_what_the_gate_releases(
    context: Any, cop_server: Server, offline: list[str], username: str
) -> None:
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    login(page, cop_server, username)
    tracks = expected_ids(cop_server, username, "track")
    alerts = expected_ids(cop_server, username, "alert")
    assert tracks, "the scenario should give every agency some tracks"
    wait_js(page, f"window.cop.stats().tracks === {len(tracks)}")
    assert set(page.evaluate("window.cop.trackIds()")) == tracks
    assert set(page.evaluate("window.cop.alertIds()")) == alerts
    # The banner carries the highest marking on screen and the viewer's agency.
    agency = username.split(".")[0].upper()
    wait_js(page, "document.body.dataset.basemap === 'ready'")
    assert page.get_attribute("#banner", "data-marking") == expected_banner(cop_server, username)
    assert page.text_content("#banner").endswith(agency)
    # Offline: nothing was asked of another origin, and the basemap and zones were drawn.
    assert offline == []
    assert page.locator("path.basemap").count() > 100
    assert page.locator("path.zone").count() == page.evaluate("window.cop.stats().zones") > 0
    assert page.is_hidden("#watermark")
    # No script error and nothing the Content-Security-Policy had to block. (The one expected failure
    # is the page asking /api/auth/me before signing in, answered 401.)
    assert [p for p in problems if "status of 401" not in p] == []
    if username == "bp.op":
        screenshot(page, "map")


def test_cop_bp_sees_cg_tracks_under_the_agreement_but_cg_not_bp(cop_server: Server) -> None:
    bp = expected_ids(cop_server, "bp.op", "track")
    cg = expected_ids(cop_server, "cg.op", "track")
    assert cg < bp  # CG's picture is released to BP; BP's own stays with BP


def test_cop_acknowledges_an_alert_from_the_queue(context: Any, cop_server: Server) -> None:
    page = context.new_page()
    login(page, cop_server, "bp.op")
    first = page.locator("#alert-queue li[data-id]").first
    first.wait_for(timeout=15000)
    alert_id = first.get_attribute("data-id")
    assert alert_id is not None
    screenshot(page, "alert-queue")
    # Keyboard: focus the queue item and press A.
    first.focus()
    page.keyboard.press("a")
    viewer = cop_server.concord.accounts.get_user_by_username("bp.op")
    wait_js(page, '(id) => !document.querySelector(`#alert-queue li[data-id="${id}"]`)', arg=alert_id)
    released = cop_server.concord.queries.get("alert", alert_id, viewer.viewer())
    assert released.record.fields["status"] == "acknowledged"
    assert released.record.fields["acknowledged_by"]
    page.select_option("#status-filter", "acknowledged")
    assert page.locator(f'#alert-queue li[data-id="{alert_id}"]').count() == 1


def test_cop_details_show_marking_and_withheld_fields(context: Any, cop_server: Server) -> None:
    page = context.new_page()
    login(page, cop_server, "bp.op")
    viewer = cop_server.concord.accounts.get_user_by_username("bp.op").viewer()
    track_id = sorted(expected_ids(cop_server, "bp.op", "track"))[0]
    page.evaluate("id => window.cop.select('track', id)", track_id)
    page.wait_for_selector("#pane-details:not([hidden]) [data-role=record-marking]")
    released = cop_server.concord.queries.get("track", track_id, viewer)
    assert page.text_content("[data-role=record-marking]") == released.record.marking.banner()
    assert _withheld_rows(page) == set(released.redacted_fields)

    # A record the gate redacted: the page names each withheld field and shows no value for it.
    def redact(route: Any) -> None:
        body = route.fetch().json()
        for name in ("identity", "lat", "lon"):
            body["fields"].pop(name, None)
        body["redacted"] = ["identity", "lat", "lon"]
        body["decision"] = "redacted"
        route.fulfill(json=body)

    page.route(f"**/api/tracks/{track_id}", redact)
    page.evaluate("id => window.cop.select('track', id)", track_id)
    wait_js(page, "document.querySelectorAll('[data-withheld]').length === 3")
    assert _withheld_rows(page) == {"identity", "lat", "lon"}
    assert page.locator("[data-withheld=lat] .withheld").text_content() == "withheld by sharing rules"
    assert str(released.record.fields["lat"])[:7] not in page.text_content("#details")


def _withheld_rows(page: Any) -> set[str]:
    return set(page.eval_on_selector_all("[data-withheld]", "rows => rows.map(r => r.dataset.withheld)"))


def test_cop_exercise_switch_shows_drill_data_under_a_watermark(context: Any, cop_server: Server) -> None:
    page = context.new_page()
    login(page, cop_server, "cg.op")
    page.click("#mode-toggle")
    assert page.get_attribute("#mode-toggle", "aria-pressed") == "true"
    drill = expected_ids(cop_server, "cg.op", "track", exercise=True)
    assert drill
    wait_js(page, f"window.cop.stats().tracks === {len(drill)}")
    assert set(page.evaluate("window.cop.trackIds()")) == drill
    assert page.is_visible("#watermark")


def test_cop_follows_the_live_stream(context: Any, cop_server: Server) -> None:
    page = context.new_page()
    login(page, cop_server, "cg.op")
    before = page.evaluate("window.cop.stats().lastSeq")
    cop_server.advance_live(60, 5)
    tracks = expected_ids(cop_server, "cg.op", "track")
    wait_js(page, f"window.cop.stats().lastSeq > {before}")
    try:
        wait_js(
            page, "(ids) => JSON.stringify(window.cop.trackIds()) === JSON.stringify(ids)", arg=sorted(tracks)
        )
    finally:
        shown = set(page.evaluate("window.cop.trackIds()"))
        assert shown == tracks, (sorted(shown - tracks), sorted(tracks - shown))


def test_cop_keyboard_and_theme(context: Any, cop_server: Server) -> None:
    page = context.new_page()
    login(page, cop_server, "bp.op")
    # Tabs: arrow keys move between panels, wrapping around.
    page.focus("#tab-alerts")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "tab-incidents"
    assert page.is_visible("#pane-incidents")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert page.evaluate("document.activeElement.id") == "tab-stats"
    assert page.is_visible("#pane-stats")
    wait_js(page, "document.querySelector('#stats dd') !== null")
    page.keyboard.press("ArrowRight")
    assert page.is_visible("#pane-alerts")
    # Queue: arrow keys move focus between alerts.
    items = page.locator("#alert-queue li[data-id]")
    items.first.wait_for(timeout=15000)
    if items.count() > 1:
        items.first.focus()
        page.keyboard.press("ArrowDown")
        assert page.evaluate("document.activeElement.dataset.id") == items.nth(1).get_attribute("data-id")
    # Every control is named for assistive technology.
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('button, input, select')].filter(e =>
            e.offsetParent !== null && !(e.getAttribute('aria-label') || e.textContent.trim() ||
            (e.id && document.querySelector(`label[for="${e.id}"]`)))).map(e => e.outerHTML)"""
    )
    assert unnamed == []
    assert page.get_attribute("html", "data-theme") == "dark"
    page.click("#theme-toggle")
    assert page.get_attribute("html", "data-theme") == "light"
    page.click("#theme-toggle")
    assert page.get_attribute("html", "data-theme") == "dark"


def test_cop_opens_an_incident_and_completes_a_task(context: Any, cop_server: Server) -> None:
    page = context.new_page()
    login(page, cop_server, "cg.op")
    button = page.locator("#alert-queue button[data-open-incident]").first
    button.wait_for(timeout=15000)
    alert_id = button.get_attribute("data-open-incident")
    button.click()
    page.wait_for_selector("#incident-view:not([hidden]) [data-role=incident-marking]")
    page.fill("#task-title", "Intercept at the landing site")
    page.press("#task-title", "Enter")
    row = page.locator("#task-rows tr[data-task]").first
    row.wait_for(timeout=15000)
    task_id = row.get_attribute("data-task")
    assert task_id is not None
    assert page.locator(f'[data-sla="{task_id}"]').text_content()
    page.click(f'button[data-task-ack="{task_id}"]')
    wait_js(page, f"document.querySelector('tr[data-task=\"{task_id}\"]').dataset.status === 'acknowledged'")
    page.fill("#incident-note", "Patrol boat CG-7 on its way")
    page.press("#incident-note", "Enter")
    wait_js(page, "document.querySelector('.log').textContent.includes('CG-7')")
    page.fill("#channel-text", "BP, please watch the road north of the beach")
    page.press("#channel-text", "Enter")
    wait_js(page, "document.getElementById('channel-messages').textContent.includes('watch the road')")
    screenshot(page, "incident")
    page.click(f'button[data-task-complete="{task_id}"]')
    wait_js(page, f"document.querySelector('tr[data-task=\"{task_id}\"]').dataset.status === 'completed'")
    # The server agrees: the incident holds the alert, and its task is completed.
    user = cop_server.concord.accounts.get_user_by_username("cg.op")
    tasks = cop_server.concord.queries.page("task", user.viewer(), limit=1000).items
    done = [t for t in tasks if t.record.fields.get("id") == task_id]
    assert done and done[0].record.fields["status"] == "completed"
    incident_id = done[0].record.fields["incident_id"]
    incident = cop_server.concord.queries.get("incident", incident_id, user.viewer())
    assert alert_id in incident.record.fields["alert_ids"]


def test_cop_kpis_and_units_panels(context: Any, cop_server: Server) -> None:
    page = context.new_page()
    login(page, cop_server, "cg.op")
    page.click("#tab-stats")
    wait_js(page, "document.querySelectorAll('#kpi-summary dd').length > 0")
    viewer = cop_server.concord.accounts.get_user_by_username("cg.op").viewer()
    from concord.services.reports import ReportService

    report = ReportService(cop_server.concord).kpis(viewer, exercise=None, start=None, end=None).to_dict()
    assert page.text_content("#kpi-summary dd") == str(report["alerts"])
    assert "by agency" in (page.get_attribute("#kpi-chart", "aria-label") or "")
    screenshot(page, "kpis")
    page.click("#tab-resources")
    wait_js(page, "document.querySelectorAll('#unit-list li').length > 0")


def test_cop_messages_between_two_agencies(browser: Any, cop_server: Server) -> None:
    sender = browser.new_context(viewport={"width": 1400, "height": 860})
    reader = browser.new_context(viewport={"width": 1400, "height": 860})
    try:
        page = sender.new_page()
        login(page, cop_server, "cg.op")
        page.click("#tab-messages")
        page.fill("#channel-partner", "BP")
        page.press("#channel-partner", "Enter")
        page.wait_for_selector("#channel-view:not([hidden]) #channel-marking")
        page.fill("#channel-post-text", "Two walkers heading for the river crossing <b>now</b>")
        page.press("#channel-post-text", "Enter")
        wait_js(page, "document.getElementById('channel-view-messages').textContent.includes('walkers')")
        # BP reads it (CG releases to BP under their agreement); the text arrives as text, never as markup.
        other = reader.new_page()
        login(other, cop_server, "bp.op")
        other.click("#tab-messages")
        other.locator("#channel-list li[data-kind=agency]").first.wait_for(timeout=15000)
        other.locator("#channel-list li[data-kind=agency]").first.click()
        wait_js(other, "document.getElementById('channel-view-messages').textContent.includes('<b>now</b>')")
        assert other.locator("#channel-view-messages b").count() == 0
        assert "cg.op (CG)" in (other.text_content("#channel-view-messages") or "")
    finally:
        sender.close()
        reader.close()


def test_cop_hotspot_layer_shows_the_forecast_the_viewer_may_see(
    context: Any, browser: Any, cop_server: Server
) -> None:
    viewer = cop_server.concord.accounts.get_user_by_username("bp.cmd").viewer()
    forecast = cop_server.concord.plans.hotspots(
        viewer, history_days=30.0, cell_m=2000.0, bandwidth_m=1500.0, half_life_h=None, top=50
    )
    assert forecast.cells, "the scenario's alerts give Border Police a forecast"
    page = context.new_page()
    login(page, cop_server, "bp.cmd")
    page.click("#tab-layers")
    page.check("#layer-overlay-hotspots")
    wait_js(page, "document.body.dataset.hotspots !== undefined")
    assert page.evaluate("document.body.dataset.hotspots") == str(len(forecast.cells))
    assert page.locator("path.hotspot").count() == len(forecast.cells)
    page.click("#tab-layers")  # a live update may have moved the focus to another pane meanwhile
    page.uncheck("#layer-overlay-hotspots")
    assert page.locator("path.hotspot").count() == 0
    other = browser.new_context()
    try:
        operator = other.new_page()
        login(operator, cop_server, "bp.op")
        operator.click("#tab-layers")
        operator.check("#layer-overlay-hotspots")
        wait_js(operator, "document.body.dataset.hotspots === 'unavailable'")
    finally:
        other.close()
