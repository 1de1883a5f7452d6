"""The console: pages for custodian and oversight staff, served by ``pars serve`` at /console.

    from pars.console import install
    install(app)          # create_app does this

Agreements (and termination), live activity, the audit explorer with proofs the
browser checks itself, the oversight report and the transparency report. Plain
server-rendered HTML; one small same-origin script polls JSON and checks proofs.

Rule: the console reads agreements, audit entries and reports, never records:
it has no path to a record's personal fields (those leave only through the gate).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from pars.audit import LogMismatch
from pars.console import audit_views, oversight_views, pages
from pars.console.render import problem
from pars.console.session import BadForm, NotAllowed, SignedOut


def install(app: FastAPI) -> None:
    """Add the console's routes and its error pages to ``app``."""
    for router in (oversight_views.router, pages.router, audit_views.router):
        app.include_router(router)

    async def handle(request: Request, exc: Exception) -> Response:
        return problem(request, exc)

    for exc in (SignedOut, NotAllowed, BadForm):
        app.add_exception_handler(exc, handle)

    async def mismatch(request: Request, exc: Exception) -> Response:
        # Stored audit bytes that do not check: an alarm page in the console, the
        # contract's error body everywhere else.
        if request.url.path.startswith("/console"):
            return problem(request, exc)
        from pars.web.errors import error_response

        return error_response(500, LogMismatch.code, str(exc))

    app.add_exception_handler(LogMismatch, mismatch)


__all__ = ["install"]
