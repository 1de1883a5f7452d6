"""Partner routes: search, read, feed. Each is a thin call into the gate.

Rule: every handler here answers with what ``pars.gate`` returned, receipt
included; none reads the store itself.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from pars.agreements.request import Request as PartnerRequest
from pars.gate import Outcome, Principal, Unavailable, error_body, next_delivery
from pars.gate.errors import TooLarge
from pars.web.deps import MalformedBody, Services, json_body, partner_principal, services
from pars.web.responses import FastJSONResponse
from pars.web.schemas import SEARCH_BODY, feed_event

router = APIRouter(tags=["partner"])
#: Seconds of silence after which an open feed sends an SSE comment.
KEEPALIVE_SECONDS = 15.0


def _answer(outcome: Outcome) -> FastJSONResponse:
    return FastJSONResponse(outcome.body, status_code=outcome.status)


@router.post("/v1/search", openapi_extra=SEARCH_BODY, summary="Search arrests under the agreement")
async def search_arrests(
    request: Request, who: Principal = Depends(partner_principal), svc: Services = Depends(services)
) -> FastJSONResponse:
    try:
        body = await json_body(request)
    except TooLarge as exc:  # still one entry, a 422 with its receipt
        body = MalformedBody(str(exc))
    # Awaited on the loop: the gate's batch runs on its own leader thread (no thread per request).
    if isinstance(body, MalformedBody):
        outcome = await svc.gate.search_async(who, None, malformed=body.reason)
    else:
        outcome = await svc.gate.search_async(who, body)
    return _answer(outcome)


@router.get("/v1/arrests/{arrest_id}", summary="Read one arrest under the agreement")
async def read_arrest(
    request: Request,
    arrest_id: str,
    purpose: str | None = Query(None),
    case_number: str | None = Query(None),
    justification: str | None = Query(None),
    warrant: str | None = Query(None),
    who: Principal = Depends(partner_principal),
    svc: Services = Depends(services),
) -> FastJSONResponse:
    params = dict(request.query_params)  # all of them: an unknown one is malformed (422)
    return _answer(await svc.gate.read_async(who, arrest_id, params))


@router.get(
    "/v1/feed",
    summary="Server-Sent Events of new and changed arrests in the feed scope",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def feed(
    request: Request,
    purpose: str | None = Query(None),
    case_number: str | None = Query(None),
    justification: str | None = Query(None),
    last_event_id: str | None = Header(None, alias="Last-Event-ID"),
    who: Principal = Depends(partner_principal),
    svc: Services = Depends(services),
) -> Any:
    params = dict(request.query_params)
    malformed, resume = None, None
    if last_event_id is not None:
        if last_event_id.isascii() and last_event_id.isdigit() and len(last_event_id) < 19:
            resume = int(last_event_id)
        else:
            malformed = "Last-Event-ID: must be the id (an event seq) of an event this feed sent"
    opened = await run_in_threadpool(
        lambda: svc.gate.open_feed(who, params, malformed=malformed, last_event_id=resume)
    )
    if opened.status != 200 or opened.request is None or opened.cursor is None:
        return _answer(opened)
    return StreamingResponse(
        _stream(svc, who, opened.request, opened.cursor, opened.body["receipt"]),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )


async def _stream(
    svc: Services, who: Principal, req: PartnerRequest, cursor: int, receipt: dict[str, Any]
) -> AsyncIterator[bytes]:
    yield feed_event("open", cursor, {"receipt": receipt})
    quiet_since = time.monotonic()
    while True:
        if time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
            yield b": keepalive\n\n"  # an SSE comment: keeps proxies from closing an idle stream
            quiet_since = time.monotonic()
        generation = svc.notifier.generation
        try:
            step = await run_in_threadpool(next_delivery, svc.gate, who, req, cursor)
        except Unavailable as exc:
            yield feed_event("error", None, error_body(exc.code, str(exc)))
            return
        if step.kind == "closed":
            yield feed_event("closed", None, step.body)
            return
        if step.kind in ("data", "skip"):
            cursor = step.cursor
            if step.kind == "data":
                yield feed_event("arrests", cursor, step.body)
                quiet_since = time.monotonic()
            continue
        timeout = svc.feed_poll
        if step.ends_at is not None:
            # Wake at the first second no longer served, so the stream closes on time.
            boundary = step.ends_at.replace(microsecond=0) + timedelta(seconds=1)
            timeout = min(timeout, (boundary - svc.clock.now()).total_seconds())
        await svc.notifier.wait(generation, timeout)
