"""An ASGI middleware for every response: body size limit, security headers, access log.

The access log is one JSON object per request on logger ``pars.access``:
method, route template, status, ms, role, agreement, user. Never the query
string, a path value, a header or a body (they may hold names or tokens).

Rule: this layer adds headers and refuses oversized bodies (on a partner route
the route itself refuses them, so the refusal is logged); it never reads or
changes a response body. ``Cache-Control`` is ``no-store`` unless the route set
its own (the public log's tiles are meant to be cached).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from pars.gate.errors import TooLarge, error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("pars.access")

SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", b"default-src 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
_OWN = {name for name, _ in SECURITY_HEADERS}
_NO_CACHE_HEADERS = [(k, v) for k, v in SECURITY_HEADERS if k != b"cache-control"]


def _partner_route(scope: Scope) -> bool:
    """Routes whose every request is an audit entry, oversized bodies included (CONTRACT 4):
    search reads its body up to the limit; reads and the feed never read one."""
    path = str(scope.get("path", ""))
    return path in ("/v1/search", "/v1/feed") or path.startswith("/v1/arrests/")


class Hardening:
    def __init__(self, app: ASGIApp, *, max_body: int) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        info: dict[str, Any] = {}  # filled by deps.note_route and deps.principal
        scope["pars"] = info
        status = 500

        async def send_hardened(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                given = message.get("headers", [])
                cache = [(k, v) for k, v in given if k.lower() == b"cache-control"][:1]
                headers = [(k, v) for k, v in given if k.lower() not in _OWN]
                message["headers"] = headers + ([*_NO_CACHE_HEADERS, *cache] if cache else SECURITY_HEADERS)
            await send(message)

        try:
            length = _content_length(scope)
            # A partner route logs even an oversized body (one entry, a 422 with its receipt):
            # it reads up to the limit and is told "too large" (TooLarge) when it gets there.
            if length is not None and length > self.max_body and not _partner_route(scope):
                await _too_large(send_hardened, self.max_body)
                return
            await self.app(scope, self._limited(receive), send_hardened)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                principal = info.get("principal")
                line = {
                    "method": scope.get("method"),
                    "route": info.get("route") or "unmatched",
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                    "role": getattr(principal, "role", None),
                    "agreement": getattr(principal, "agreement_id", None),
                    "user": getattr(principal, "user", None),
                }
                access_log.info(orjson.dumps(line).decode())

    def _limited(self, receive: Receive) -> Receive:
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise TooLarge(f"body: larger than {self.max_body} bytes")
            return message

        return limited


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps(error_body("too_large", f"body: larger than {limit} bytes")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
