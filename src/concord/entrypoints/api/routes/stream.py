"""``GET /api/stream``: the live picture over a WebSocket (protocol in docs/stream.md).

The route is a thin door: it authenticates the first message (or the session cookie), hands the
connection to the process's :class:`StreamHub`, and turns client messages into hub calls. Tokens are
accepted only in the first message, the ``concord_session`` cookie or an ``Authorization`` header,
never in the URL, because URLs end up in access logs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import APIRouter, FastAPI, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from concord.bootstrap import Concord
from concord.domain.errors import ConcordError, InvalidInput, NotAuthenticated
from concord.domain.identity import Viewer
from concord.egress.stream import (
    CLOSE_AUTH,
    CLOSE_BAD_CLIENT,
    CLOSE_TOO_BIG,
    AuthMessage,
    FilterMessage,
    PingMessage,
    StreamClient,
    StreamConfig,
    StreamHub,
    encode,
    parse_client_message,
)
from concord.entrypoints.api.deps import SESSION_COOKIE

__all__ = ["get_hub", "router"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["stream"])


def get_hub(app: FastAPI) -> StreamHub:
    """The process's stream hub, made on first use and subscribed once to the picture service.

    ``app.state.stream_config`` (a :class:`StreamConfig`) overrides the limits when set.
    """
    hub: StreamHub | None = getattr(app.state, "stream_hub", None)
    if hub is None:
        concord: Concord = app.state.concord
        config = getattr(app.state, "stream_config", None)
        hub = StreamHub(
            queries=concord.queries,
            clock=concord.clock,
            config=config if isinstance(config, StreamConfig) else StreamConfig(),
        )
        concord.live.subscribe(hub.publish)
        app.state.stream_hub = hub
    return hub


class _TooBig(Exception):
    pass


class _WebSocketChannel:
    """The hub's view of one WebSocket."""

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket
        self.closed = asyncio.Event()

    async def send(self, text: str) -> None:
        await self._ws.send_text(text)

    async def close(self, code: int, reason: str) -> None:
        self.closed.set()
        await _close(self._ws, code, reason)


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    if websocket.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await websocket.close(code=code, reason=reason[:120])


async def _receive_text(websocket: WebSocket, max_bytes: int) -> str:
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(int(message.get("code") or 1000))
    text = message.get("text")
    if text is None:
        data = message.get("bytes") or b""
        if len(data) > max_bytes:
            raise _TooBig
        raise InvalidInput("send JSON text frames, not binary ones", details={"field": "message"})
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise _TooBig
    return str(text)


def _error(exc: ConcordError) -> str:
    body: dict[str, Any] = {"code": exc.code, "message": str(exc), "details": dict(exc.details or {})}
    return encode({"type": "error", "error": body})


def _credentials(websocket: WebSocket, first: AuthMessage) -> str | None:
    if first.token:
        return first.token
    cookie = websocket.cookies.get(SESSION_COOKIE)
    if cookie:
        return cookie
    header = websocket.headers.get("authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def _recheck(
    concord: Concord, token: str, viewer: Viewer, client: StreamClient, every_s: float
) -> None:
    """End the stream when its credentials stop being valid or the user's clearance changes."""
    while not client.closed:
        await asyncio.sleep(every_s)
        try:
            user = await asyncio.to_thread(concord.accounts.authenticate, token)
        except NotAuthenticated:
            client.drop(CLOSE_AUTH, "the session ended; log in again")
            return
        except ConcordError:
            continue
        if user.viewer() != viewer:
            client.drop(CLOSE_AUTH, "your roles or clearance changed; reconnect")
            return


@router.websocket("/stream")
async def stream(websocket: WebSocket) -> None:
    concord: Concord = websocket.app.state.concord
    hub = get_hub(websocket.app)
    config = hub.config
    await websocket.accept()
    try:
        first_text = await asyncio.wait_for(
            _receive_text(websocket, config.max_client_message_bytes), timeout=config.auth_timeout_s
        )
        first = parse_client_message(first_text)
    except TimeoutError:
        await _close(websocket, CLOSE_AUTH, f"authenticate within {config.auth_timeout_s:g} s")
        return
    except _TooBig:
        await _close(websocket, CLOSE_TOO_BIG, "message too big")
        return
    except WebSocketDisconnect:
        return
    except InvalidInput as exc:
        await _close(websocket, CLOSE_AUTH, f"the first message must be an auth message: {exc}")
        return
    if not isinstance(first, AuthMessage):
        await _close(websocket, CLOSE_AUTH, "the first message must be an auth message")
        return
    token = _credentials(websocket, first)
    if token is None:
        await _close(websocket, CLOSE_AUTH, "log in or present a bearer token")
        return
    try:
        user = await asyncio.to_thread(concord.accounts.authenticate, token)
    except NotAuthenticated:
        await _close(websocket, CLOSE_AUTH, "not authenticated")
        return
    viewer = user.viewer()
    try:
        await websocket.send_text(
            encode(
                {
                    "type": "ready",
                    "user": user.username,
                    "agency": viewer.agency,
                    "exercise": first.exercise,
                    "filter": first.filter.to_dict(),
                    "limits": {
                        "queue_max": config.queue_max,
                        "max_backlog": config.max_backlog,
                        "max_client_message_bytes": config.max_client_message_bytes,
                    },
                }
            )
        )
    except (WebSocketDisconnect, RuntimeError, OSError):
        return  # the peer left right after authenticating
    channel = _WebSocketChannel(websocket)
    client = await hub.join(
        viewer,
        channel,
        exercise=first.exercise,
        stream_filter=first.filter,
        resume_after=first.resume_after,
    )
    errors = 0
    closed = asyncio.ensure_future(channel.closed.wait())
    recheck = asyncio.ensure_future(_recheck(concord, token, viewer, client, config.reauth_s))
    try:
        while not client.closed:
            receiving = asyncio.ensure_future(_receive_text(websocket, config.max_client_message_bytes))
            await asyncio.wait({receiving, closed}, return_when=asyncio.FIRST_COMPLETED)
            if not receiving.done():
                receiving.cancel()
                with contextlib.suppress(BaseException):
                    await receiving
                break
            try:
                message = parse_client_message(receiving.result())
                if isinstance(message, FilterMessage):
                    await hub.change_filter(client, message.filter)
                elif isinstance(message, PingMessage):
                    hub.ping(client, message.nonce)
                else:
                    raise InvalidInput("already authenticated", details={"field": "type"})
            except InvalidInput as exc:
                errors += 1
                if errors > config.max_client_errors:
                    client.drop(CLOSE_BAD_CLIENT, "too many invalid messages")
                    break
                client.push(_error(exc))
    except WebSocketDisconnect:
        pass
    except _TooBig:
        client.drop(CLOSE_TOO_BIG, "message too big")
    finally:
        closed.cancel()
        recheck.cancel()
        hub.leave(client)
        if client.close_code is not None:
            await _close(websocket, client.close_code, client.close_reason)
