"""Console pages: sign-in and out, agreements (with termination), static files.

Rule: an agreement is changed only through ``pars.agreements.service`` with the
audit recorder (``route="console"``), by a custodian, on a POST with the
session's CSRF token.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from importlib import resources
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from pars.clock import parse_instant
from pars.console.render import page
from pars.console.session import (
    COOKIE,
    PRE_COOKIE,
    BadForm,
    NotAllowed,
    SignedOut,
    Viewer,
    check_csrf,
    check_token,
    read_form,
    require,
    secure,
    services,
    sessions,
    viewer,
)
from pars.errors import ParsError
from pars.web.deps import Services

router = APIRouter(prefix="/console", include_in_schema=False)

STATIC = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
}
#: Inline here, not a file: the package data takes html, js and css only.
FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    '<rect width="16" height="16" rx="3" fill="#12304d"/>'
    '<path d="M4 12V4h5a2.5 2.5 0 0 1 0 5H4" fill="none" stroke="#ffd166" stroke-width="2"/></svg>'
)


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name == "favicon.svg":
        return Response(FAVICON, media_type="image/svg+xml")
    if name not in STATIC:
        return Response("not found", status_code=404, media_type="text/plain")
    body = (resources.files("pars.console") / "static" / name).read_bytes()
    return Response(body, media_type=STATIC[name])


@router.get("")
@router.get("/")
def home(request: Request) -> Response:
    return RedirectResponse("/console/agreements", status_code=303)


def _signin_page(request: Request, message: str | None = None, status: int = 200) -> Response:
    nonce = secrets.token_urlsafe(24)
    response = page(request, "signin.html", "Sign in", None, status=status, message=message, pre=nonce)
    response.set_cookie(
        PRE_COOKIE,
        nonce,
        httponly=True,
        samesite="strict",
        secure=secure(request),
        path="/console/signin",
        max_age=1800,
    )
    return response


@router.get("/signin")
def signin_form(request: Request) -> Response:
    return _signin_page(request)


@router.post("/signin")
async def signin(request: Request, svc: Services = Depends(services)) -> Response:
    form = await read_form(request)
    pre = request.cookies.get(PRE_COOKIE, "")
    if not pre or not secrets.compare_digest(form.get("pre", "").encode(), pre.encode()):
        return _signin_page(request, "The sign-in form expired; please paste your token again.", 403)
    token = form.get("token", "").strip()
    try:
        who = await check_token(svc, token)
    except (SignedOut, NotAllowed) as exc:
        return _signin_page(request, str(exc), 403 if isinstance(exc, NotAllowed) else 401)
    sid = await run_in_threadpool(sessions(request).open, who.token_id)
    response = RedirectResponse("/console/agreements", status_code=303)
    response.set_cookie(
        COOKIE, sid, httponly=True, samesite="strict", secure=secure(request), path="/console"
    )
    response.delete_cookie(PRE_COOKIE, path="/console/signin")
    return response


@router.post("/signout")
async def signout(request: Request, v: Viewer = Depends(viewer)) -> Response:
    check_csrf(v, await read_form(request))
    await run_in_threadpool(sessions(request).close, v.sid)
    response = RedirectResponse("/console/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


def _agreements(svc: Services) -> tuple[list[dict[str, Any]], str | None]:
    return svc.agreements.described(svc.clock.now())


async def _agreements_page(
    request: Request,
    v: Viewer,
    svc: Services,
    *,
    result: str | None = None,
    error: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    items, origin = await run_in_threadpool(_agreements, svc)
    return page(
        request,
        "agreements.html",
        "Agreements",
        v,
        status=status,
        current="agreements",
        agreements=items,
        origin=origin,
        now=svc.clock.now().replace(microsecond=0).isoformat(),
        result=result,
        error=error,
        form=form or {},
    )


@router.get("/agreements")
async def agreements_view(
    request: Request, v: Viewer = Depends(viewer), svc: Services = Depends(services)
) -> Response:
    return await _agreements_page(request, v, svc)


def _instant(text: str) -> datetime:
    try:
        at = parse_instant(text.strip())
    except ValueError as exc:
        raise ValueError(f"effective_at: {exc} (write e.g. 2018-08-31T23:59:59-04:00)") from None
    return at


@router.post("/agreements/{agreement_id}/terminate")
async def terminate_view(
    agreement_id: str, request: Request, v: Viewer = Depends(viewer), svc: Services = Depends(services)
) -> Response:
    form = await read_form(request)
    check_csrf(v, form)
    require(v, "custodian")
    reason = form.get("reason", "").strip()
    try:
        at = _instant(form.get("effective_at", ""))
        if not reason:
            raise ValueError("reason: required (it is recorded in the audit log)")
    except ValueError as exc:
        return await _agreements_page(request, v, svc, error=str(exc), status=422, form=form)
    try:
        done = await run_in_threadpool(
            lambda: svc.agreements.terminate(
                agreement_id, at, reason, by=v.user, force_past=form.get("force") == "on", route="console"
            )
        )
    except ParsError as exc:
        # The service speaks the CLI's language; here the flag is a checkbox.
        message = f"{agreement_id}: " + str(exc).replace("--force-past", "the Force box ticked")
        return await _agreements_page(request, v, svc, error=message, status=422, form=form)
    svc.notifier.poke()  # open feed streams re-decide now and close at the new end
    forced = " (forced: the time was already past)" if done.forced else ""
    result = f"{agreement_id} terminated effective {done.effective_at.isoformat()}{forced}: {done.reason}"
    return await _agreements_page(request, v, svc, result=result)


__all__ = ["BadForm", "router"]
