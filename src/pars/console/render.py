"""Jinja2 rendering and the answers every console view shares (pages, redirects, errors).

Rule: templates autoescape every value; nothing here inlines a script or a style
(the app's CSP is ``default-src 'self'``), so pages load only /console/static files.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from pars.audit.reader import LogMismatch
from pars.console.session import BadForm, NotAllowed, SignedOut, Viewer
from pars.gate.errors import code_for, error_body

ENV = Environment(
    loader=PackageLoader("pars.console", "templates"),
    autoescape=select_autoescape(("html",)),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

NAV = [
    ("agreements", "/console/agreements", "Agreements"),
    ("live", "/console/live", "Live activity"),
    ("audit", "/console/audit", "Audit explorer"),
    ("oversight", "/console/oversight", "Oversight"),
    ("transparency", "/console/transparency", "Transparency"),
]


def witness_alarms(request: Request) -> list[str]:
    """Every witness refusal, for the red banner on every page (CONTRACT 9.2: a fork or a
    cut is shown, never only logged). If they cannot be read, that is said instead."""
    found: list[str] | None = request.app.state.pars.audit.alarms()
    if found is None:
        return ["the witnesses' state could not be read: run pars audit status"]
    return found


def page(
    request: Request, template: str, title: str, v: Viewer | None, *, status: int = 200, **values: Any
) -> HTMLResponse:
    html = ENV.get_template(template).render(
        title=title,
        viewer=v,
        nav=NAV,
        current=values.pop("current", None),
        alarms=witness_alarms(request),
        **values,
    )
    return HTMLResponse(html, status_code=status)


def problem(request: Request, exc: Exception) -> Response:
    """A console error as the reader needs it: sign-in redirect, JSON for the API, else a page."""
    api = request.url.path.startswith("/console/api/")
    if isinstance(exc, SignedOut):
        if api:
            return JSONResponse(error_body(code_for(401), str(exc)), status_code=401)
        return RedirectResponse("/console/signin", status_code=303)
    tampered = isinstance(exc, LogMismatch)
    status = 403 if isinstance(exc, NotAllowed | BadForm) else 500 if tampered else 400
    if api:
        code = LogMismatch.code if tampered else code_for(status)
        return JSONResponse(error_body(code, str(exc)), status_code=status)
    return page(
        request,
        "error.html",
        "Not allowed" if status == 403 else "ALARM: the audit log does not verify" if tampered else "Error",
        None,
        status=status,
        message=str(exc),
    )
