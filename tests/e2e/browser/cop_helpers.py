"""What the COP browser tests share: the server handle, Debian chromium's settings, login and waiting."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.factories import PASSWORD

from concord.adapters.clock import ManualClock
from concord.bootstrap import Concord
from concord.drills.sim import Scenario

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "Server", "login", "screenshot", "wait_js"]

CHROMIUM = Path(os.environ.get("CONCORD_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--headless=new",
]


def screenshot(page: Any, name: str) -> None:
    """Take a screenshot; keep it as ``<name>.png`` under $CONCORD_SCREENSHOTS when that is set
    (``CONCORD_SCREENSHOTS=docs/screenshots`` refreshes the user guide's pictures)."""
    target = os.environ.get("CONCORD_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"{name}.png"))
    else:
        assert page.screenshot()[:8] == b"\x89PNG\r\n\x1a\n"


@dataclass
class Server:
    url: str
    concord: Concord
    clock: ManualClock
    live: Scenario

    def advance_live(self, duration_s: float, dt_s: float = 5.0) -> int:
        """Run the scenario on and ingest what its sensors report; returns the alerts raised."""
        raised = 0
        for _ in range(round(duration_s / dt_s)):
            observations = self.live.step(dt_s).observations
            self.clock.set(self.live.now)
            if observations:
                raised += self.concord.picture.ingest(observations, actor="sim").alerts
        return raised


def wait_js(page: Any, expression: str, arg: Any = None, *, timeout_s: float = 15.0) -> None:
    """Poll a JS expression until truthy. (Playwright's wait_for_function evaluates strings with eval,
    which the COP's Content-Security-Policy forbids; page.evaluate is not subject to it.)"""
    deadline = time.monotonic() + timeout_s
    source = (
        expression if expression.lstrip().startswith(("(", "function", "async")) else f"() => ({expression})"
    )
    while not page.evaluate(source, arg):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        time.sleep(0.05)


def login(page: Any, server: Server, username: str) -> None:
    page.goto(server.url + "/")
    page.fill("#login-username", username)
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("#app:not([hidden])")
    # The stream's snapshot has been applied once lastSeq is set.
    wait_js(page, "window.cop && window.cop.stats().lastSeq !== null")
