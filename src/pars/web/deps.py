"""What every route shares: the app's services, the bearer token, the body reader.

Rule: routes get records only from ``Services.gate``; this module hands out
nothing else that can read them, and no route gets a ``Store`` (``pars.services``).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from pars.bounds import MAX_DEPTH, json_problem
from pars.errors import InvalidInput
from pars.gate import Principal
from pars.services import Services

bearer = HTTPBearer(auto_error=False, description="A token from `pars tokens issue`.")


__all__ = ["MalformedBody", "Services", "json_body", "principal", "services", "strict_object"]


# The two dependencies every request runs are ``async``: FastAPI runs a plain ``def``
# dependency in the thread pool, a hop per request for a dictionary look-up.
async def services(request: Request) -> Services:
    svc: Services = request.app.state.pars
    return svc


async def note_route(request: Request) -> None:
    """Tell the access log which route template answered (never the path's values)."""
    info, route = request.scope.get("pars"), request.scope.get("route")
    if isinstance(info, dict) and route is not None:
        info["route"] = getattr(route, "path", None)


async def principal(
    request: Request,
    creds: HTTPAuthorizationCredentials | None = Depends(bearer),
    svc: Services = Depends(services),
) -> Principal:
    """The caller, from ``Authorization: Bearer``; 401 (not logged) without a live token."""
    who = await run_in_threadpool(svc.gate.authenticate, creds.credentials if creds else None)
    _note_principal(request, who)
    return who


async def partner_principal(
    request: Request,
    creds: HTTPAuthorizationCredentials | None = Depends(bearer),
    svc: Services = Depends(services),
) -> Principal:
    """The caller of a partner route (``Gate.identify``): a token seen before costs no
    transaction here, because the gate checks in the request's own transaction that
    it is still live (401, not logged, if not); 401 without a token it knows."""
    token = creds.credentials if creds else None
    who = svc.gate.known(token)
    if who is None:
        who = await run_in_threadpool(svc.gate.identify, token)
    _note_principal(request, who)
    return who


def _note_principal(request: Request, who: Principal) -> None:
    info = request.scope.get("pars")
    if isinstance(info, dict):
        info["principal"] = who


class MalformedBody:
    """A body that is not JSON: the gate logs it as malformed like any other bad request."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


async def json_body(request: Request) -> Any:
    """The body as JSON, or ``MalformedBody`` naming why not (never an exception)."""
    return parse_json_body(await request.body())


def parse_json_body(raw: bytes) -> Any:
    """JSON that is Unicode text (no lone surrogate) nested at most ``MAX_DEPTH`` deep."""
    try:
        value = json.loads(raw)
    except RecursionError:
        return MalformedBody(f"body: nested deeper than {MAX_DEPTH} levels")
    except (ValueError, UnicodeDecodeError):
        return MalformedBody("body: not valid JSON")
    problem = json_problem(value)
    return value if problem is None else MalformedBody(f"body: {problem}")


def strict_object(
    body: Any, allowed: dict[str, type | tuple[type, ...]], required: tuple[str, ...]
) -> dict[str, Any]:
    """A JSON object with only ``allowed`` keys of the given types; 422 naming the field."""
    if isinstance(body, MalformedBody):
        raise InvalidInput(body.reason)
    if not isinstance(body, dict):
        raise InvalidInput("body: must be a JSON object")
    for key in body:
        if key not in allowed:
            raise InvalidInput(f"{key}: unknown key")
    for key in required:
        if key not in body:
            raise InvalidInput(f"{key}: required")
    for key, value in body.items():
        types = allowed[key]
        if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            raise InvalidInput(f"{key}: wrong type")
        if not isinstance(value, types):
            raise InvalidInput(f"{key}: wrong type")
    return body
