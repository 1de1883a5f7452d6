"""The witness's HTTP face: ``POST /add-checkpoint`` and ``GET /<origin hash>/checkpoint``.

Usage::

    app = create_app(Witness(name, key, log_keys, StateFile(path)))
    uvicorn.run(app, host="127.0.0.1", port=7380)

Rule: thin. Every decision is ``Witness``'s; the blocking part (lock, fsync)
runs in a worker thread so one slow disk never stalls the event loop.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pars.witness.core import MAX_BODY_BYTES, Answer, Witness


def _response(answer: Answer) -> Response:
    # Set the header verbatim: the spec says text/x.tlog.size, with no charset added.
    return Response(answer.body, status_code=answer.status, headers={"content-type": answer.content_type})


async def _read_limited(request: Request) -> bytes | None:
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(witness: Witness) -> Starlette:
    """The ASGI app for one witness."""

    async def add_checkpoint(request: Request) -> Response:
        body = await _read_limited(request)
        if body is None:
            return _response(Answer.text(413, f"request body is over {MAX_BODY_BYTES} bytes"))
        return _response(await run_in_threadpool(witness.add_checkpoint, body))

    async def checkpoint(request: Request) -> Response:
        return _response(witness.latest_checkpoint(str(request.path_params["origin_hash"])))

    return Starlette(
        routes=[
            Route("/add-checkpoint", add_checkpoint, methods=["POST"]),
            Route("/{origin_hash:str}/checkpoint", checkpoint, methods=["GET"]),
        ]
    )
