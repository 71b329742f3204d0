"""The browser COP: ``/`` and ``/static/...`` served from the package, with a strict Content-Security-Policy.

The COP loads nothing from another origin: Leaflet and the Natural Earth basemap are vendored under
``concord/web/vendor/``. The policy below forbids every external origin, inline script and inline
``<style>``, so a record field that smuggles markup cannot run code even if a rendering bug let it in.
Only ``/`` and ``/static/`` are routed here, so nothing under ``/api/`` is shadowed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Annotated, Final

from fastapi import APIRouter, Header, Response
from fastapi import Path as PathParam

from concord.domain.errors import NotFound

__all__ = ["CONTENT_SECURITY_POLICY", "router"]

router = APIRouter(tags=["web"], include_in_schema=False)

WEB_ROOT: Final = Path(__file__).resolve().parents[3] / "web"

#: No external origin anywhere; the WebSocket is same-origin ('self' covers ws:/wss: of this host).
CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

_MEDIA_TYPES: Final = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".geojson": "application/geo+json",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}
_NO_SUFFIX_TEXT: Final = frozenset({"LICENSE"})

# Vendored files change only when scripts/vendor-web.sh is re-run with new pins, which is a release;
# the app's own files may change on any deploy, so the browser revalidates them (cheap: ETag, 304).
_VENDOR_CACHE: Final = "public, max-age=86400"
_APP_CACHE: Final = "no-cache"


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    media_type: str
    etag: str
    cache_control: str


def _security_headers(response: Response) -> None:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"


@lru_cache(maxsize=256)
def _load(relative: str) -> _Asset:
    """Read one file under the web root, refusing anything outside it, hidden, or of an unknown type."""
    parts = PurePosixPath(relative).parts
    if not parts or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        raise NotFound("no such file", details={"path": relative})
    path = (WEB_ROOT / relative).resolve()
    if not path.is_relative_to(WEB_ROOT.resolve()) or not path.is_file():
        raise NotFound("no such file", details={"path": relative})
    media_type = _MEDIA_TYPES.get(path.suffix) or (
        "text/plain; charset=utf-8" if path.name in _NO_SUFFIX_TEXT else None
    )
    if media_type is None:
        raise NotFound("no such file", details={"path": relative})
    body = path.read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    cache = _VENDOR_CACHE if parts[0] == "vendor" else _APP_CACHE
    return _Asset(body=body, media_type=media_type, etag=etag, cache_control=cache)


def _serve(relative: str, if_none_match: str | None) -> Response:
    asset = _load(relative)
    if if_none_match is not None and asset.etag in {t.strip() for t in if_none_match.split(",")}:
        response = Response(status_code=304)
    else:
        response = Response(content=asset.body, media_type=asset.media_type)
    response.headers["ETag"] = asset.etag
    response.headers["Cache-Control"] = asset.cache_control
    _security_headers(response)
    return response


IfNoneMatch = Annotated[str | None, Header(max_length=512)]


@router.get("/")
def index(if_none_match: IfNoneMatch = None) -> Response:
    """The COP's single page."""
    return _serve("index.html", if_none_match)


@router.get("/static/{path:path}")
def static(
    path: Annotated[str, PathParam(max_length=200, pattern=r"^[A-Za-z0-9._/-]+$")],
    if_none_match: IfNoneMatch = None,
) -> Response:
    """The COP's scripts, styles, vendored libraries (with their licences) and basemap."""
    return _serve(path, if_none_match)
