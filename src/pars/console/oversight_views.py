"""Console pages of the oversight room: the oversight report and the transparency report.

The report is built once per log size (it re-verifies the whole log) and kept;
its page from ``pars.oversight.html`` is embedded with its stylesheet served as a
file and its plots' inline ``style`` attributes turned into SVG presentation
attributes, since the console's CSP allows no inline style.

Rule: findings link each evidence index to the console's entry page, where the
browser checks the entry's inclusion proof itself.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from pars.console.audit_views import summary
from pars.console.render import page
from pars.console.session import Viewer, require, services, viewer
from pars.web.deps import Services

router = APIRouter(prefix="/console", include_in_schema=False)

#: Most evidence rows on a finding's page (a finding cites at most the report's max_evidence).
MAX_EVIDENCE = 500
_STYLE_BLOCK = re.compile(r"<style\b[^>]*>.*?</style>", re.S)
_STYLE_ATTR = re.compile(r'\sstyle="([^"]*)"')
_BODY = re.compile(r"<body[^>]*>(.*)</body>", re.S)
_FONT = re.compile(r"^\s*(?:(italic|oblique)\s+)?(?:(bold|[1-9]00)\s+)?([\d.]+px)\s+(.+?)\s*$")


def _attrs(style: str) -> str:
    """``fill: #fff; font: 9px 'DejaVu Sans'`` -> `` fill="#fff" font-size="9px" font-family="..."``."""
    out: list[str] = []
    for decl in style.split(";"):
        if ":" not in decl:
            continue
        name, value = (p.strip() for p in decl.split(":", 1))
        if not re.fullmatch(r"[a-z-]+", name):
            continue
        value = value.replace("&#39;", "'")
        if name == "font":
            m = _FONT.match(value)
            if m is None:
                continue
            style_, weight, size, family = m.groups()
            pairs = [("font-size", size), ("font-family", family.replace('"', "'"))]
            pairs += [("font-style", style_)] if style_ else []
            pairs += [("font-weight", weight)] if weight else []
        else:
            pairs = [(name, value)]
        out += [f' {n}="{v.replace(chr(34), "&quot;")}"' for n, v in pairs]
    return "".join(out)


def restyle(html: str) -> str:
    """A standalone report page's body, with no inline ``<style>`` and no ``style`` attributes."""
    found = _BODY.search(html)
    body = found.group(1) if found else html
    body = _STYLE_BLOCK.sub("", body)
    # One <main> per page (the console's); the report's landmarks become plain sections.
    body = re.sub(r"<(/?)(main|header)\b", lambda m: f"<{m.group(1)}div", body)
    return _STYLE_ATTR.sub(lambda m: _attrs(m.group(1)), body)


@dataclass
class Built:
    size: int
    report: dict[str, Any]
    body: str
    built_at: float = 0.0  # time.monotonic() when built


_lock = threading.Lock()


_PROOF_LINK = re.compile(r'href="#proof-(\d+)"')


#: Seconds a built report is shown before the next visit rebuilds it (it re-verifies the whole log).
REPORT_TTL = 300.0


def _report(request: Request, svc: Services, *, fresh: bool = False, keep: bool = False) -> Built:
    """The last report while it is recent and the log has not grown, else a new one; ``fresh``
    rebuilds whenever the log has grown; ``keep`` takes the last one if there is one (a finding's
    page: its number must mean what it meant in the list the reader came from)."""
    state = request.app.state
    size = svc.audit.size()
    with _lock:
        cached: Built | None = getattr(state, "console_report", None)
        if cached is not None and (
            keep or cached.size == size or (not fresh and time.monotonic() - cached.built_at < REPORT_TTL)
        ):
            return cached
        report = svc.oversight.report()  # over the head put under a stored checkpoint first
        body = restyle(svc.oversight.report_html(report))
        # One h1 per page (the console's "Oversight"): the report's title becomes a section heading.
        body = re.sub(r"<(/?)h1\b", r"<\1h2", body)
        # Evidence links open the console's entry page, where the browser checks the proof.
        body = _PROOF_LINK.sub(lambda m: f'href="/console/audit/entries/{m.group(1)}"', body)
        built = Built(size, report, body, time.monotonic())
        state.console_report = built
        return built


@router.get("/oversight")
async def oversight(
    request: Request, v: Viewer = Depends(viewer), svc: Services = Depends(services)
) -> Response:
    require(v, "oversight", "custodian")
    fresh = request.query_params.get("refresh") == "1"
    built = await run_in_threadpool(lambda: _report(request, svc, fresh=fresh))
    from pars.oversight.html import KIND_TITLES

    now_size = await run_in_threadpool(svc.audit.size)

    findings = [
        {"n": i + 1, "title": KIND_TITLES.get(f["kind"], f["kind"]), **f}
        for i, f in enumerate(built.report["findings"])
    ]
    return page(
        request,
        "oversight.html",
        "Oversight report",
        v,
        current="oversight",
        report=built.report,
        findings=findings,
        built_size=built.size,
        now_size=now_size,
        body=Markup(built.body),  # noqa: S704 (escaped by the report template)
        css="report.css",
    )


@router.get("/oversight/findings/{n}")
async def finding(
    n: int, request: Request, v: Viewer = Depends(viewer), svc: Services = Depends(services)
) -> Response:
    require(v, "oversight", "custodian")
    built = await run_in_threadpool(lambda: _report(request, svc, keep=True))
    findings = built.report["findings"]
    if not 1 <= n <= len(findings):
        return page(request, "error.html", "Not found", v, status=404, message=f"no finding {n}")
    from pars.oversight.html import KIND_TITLES, stat_rows

    f = findings[n - 1]
    rows = await run_in_threadpool(_evidence, svc, f["evidence"])
    return page(
        request,
        "finding.html",
        f"Finding {n}",
        v,
        current="oversight",
        n=n,
        f=f,
        rows=rows,
        title_text=KIND_TITLES.get(f["kind"], f["kind"]),
        stats=stat_rows(f["statistic"]),
    )


def _evidence(svc: Services, indices: list[int]) -> list[dict[str, Any]]:
    """A row per cited entry (as the explorer shows it, plus the reason the partner gave)."""
    cited = indices[:MAX_EVIDENCE]
    return [
        {**summary(i, doc), "justification": doc.get("justification"), "purpose": doc.get("purpose")}
        for i, doc in zip(cited, svc.audit.documents(cited), strict=True)
    ]


def _transparency(svc: Services) -> str:
    return restyle(svc.oversight.transparency_html())


@router.get("/transparency")
async def transparency(
    request: Request, v: Viewer = Depends(viewer), svc: Services = Depends(services)
) -> Response:
    body = await run_in_threadpool(_transparency, svc)
    return page(
        request,
        "transparency.html",
        "Transparency report",
        v,
        current="transparency",
        body=Markup(body),  # noqa: S704 (escaped by the report template)
        css="report.css",
    )


@router.get("/static/report.css")
def report_css() -> Response:
    text = (resources.files("pars.oversight") / "templates" / "report.css").read_bytes()
    return Response(text, media_type="text/css; charset=utf-8")
