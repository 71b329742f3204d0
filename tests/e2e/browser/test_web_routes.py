"""Serving the COP: security headers, caching, and no way out of the web root or onto /api/*."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from concord.entrypoints.api.routes.web import CONTENT_SECURITY_POLICY, WEB_ROOT

APP_FILES = ("index.html", "app.js", "app.css")


def test_web_index_carries_a_strict_policy(api: TestClient) -> None:
    response = api.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert csp == CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-cache"
    again = api.get("/", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


@pytest.mark.parametrize(
    ("path", "media", "cache"),
    [
        ("/static/app.js", "text/javascript", "no-cache"),
        ("/static/app.css", "text/css", "no-cache"),
        ("/static/vendor/leaflet/leaflet.js", "text/javascript", "public, max-age=86400"),
        ("/static/vendor/leaflet/LICENSE", "text/plain", "public, max-age=86400"),
        ("/static/vendor/basemap/countries-50m.geojson", "application/geo+json", "public, max-age=86400"),
        ("/static/vendor/leaflet/images/layers.png", "image/png", "public, max-age=86400"),
    ],
)
def test_web_static_files(api: TestClient, path: str, media: str, cache: str) -> None:
    response = api.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media)
    assert response.headers["cache-control"] == cache
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


@pytest.mark.parametrize(
    "path",
    [
        "/static/../config.py",
        "/static/%2e%2e/%2e%2e/config.py",
        "/static/..%2fconfig.py",
        "/static/vendor/../../bootstrap.py",
        "/static/.hidden",
        "/static/vendor/",
        "/static/",
        "/static/nope.js",
        "/static/app.js%00.png",
        "/static/<script>alert(1)</script>.js",
        "/static/" + "a/" * 150 + "x.js",
        "/static/app.js;rm -rf",
        "/static/vendor/leaflet",
    ],
)
def test_web_static_refuses_what_is_not_a_web_file(api: TestClient, path: str) -> None:
    response = api.get(path)
    assert response.status_code in (404, 422)
    assert response.headers["content-type"].startswith("application/json")
    assert b"import" not in response.content  # no Python source leaked


def test_web_does_not_shadow_the_api(api: TestClient) -> None:
    assert api.get("/api/health").status_code == 200
    missing = api.get("/api/no-such-route")
    assert missing.status_code == 404
    assert "content-security-policy" not in missing.headers
    assert api.get("/api/tracks").status_code == 401


@pytest.mark.parametrize("name", APP_FILES)
def test_web_app_files_name_no_other_origin_and_inline_nothing(name: str) -> None:
    text = (WEB_ROOT / name).read_text(encoding="utf-8")
    assert not re.search(r"\b(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.IGNORECASE)
    if name == "index.html":
        assert not re.search(r"<script(?![^>]*\bsrc=)", text)  # no inline script
        assert "<style" not in text and " style=" not in text and " on" + "click=" not in text


def test_web_vendored_files_keep_their_licences_and_pins() -> None:
    vendor = WEB_ROOT / "vendor"
    assert (vendor / "leaflet" / "LICENSE").read_text().startswith("BSD 2-Clause")
    versions = (vendor / "VERSIONS.txt").read_text()
    for pin in ("leaflet@1.9.4", "world-atlas@2.0.2", "topojson-client@3.1.0"):
        assert pin in versions
    script = Path(__file__).resolve().parents[3] / "scripts" / "vendor-web.sh"
    assert "LEAFLET_VERSION=1.9.4" in script.read_text()
