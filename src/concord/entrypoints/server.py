"""Running the API with uvicorn on a socket Concord binds itself (so port 0 works and is reported)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import uvicorn
from fastapi import FastAPI

__all__ = ["bind_socket", "run_server"]


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


async def run_server(
    app: FastAPI,
    sock: socket.socket,
    *,
    duration_s: float | None = None,
    on_started: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Serve ``app`` on ``sock`` until interrupted, or for ``duration_s`` seconds when given."""
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", ws="websockets-sansio")
    server = uvicorn.Server(config)

    async def stopper() -> None:
        while not server.started:
            await asyncio.sleep(0.05)
        if on_started is not None:
            await on_started()
        if duration_s is not None:
            await asyncio.sleep(duration_s)
            server.should_exit = True

    task = asyncio.create_task(stopper())
    try:
        await server.serve(sockets=[sock])
    finally:
        task.cancel()
