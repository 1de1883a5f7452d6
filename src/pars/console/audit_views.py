"""Console views of the audit log: live activity, the explorer, one entry with its proof.

The entry page sends the entry's stored bytes (base64), its inclusion proof and the
latest checkpoint; ``static/console.js`` recomputes the leaf hash with WebCrypto and
walks the proof to the checkpoint's root in the browser.

Every list and page reads entries through ``pars.audit.open_log``: bytes checked
against the newest signed checkpoint, filtered on what they say (never on the
``audit_leaves`` columns, which nothing verifies), in one snapshot.

Rule: the console shows audit entries only (ids and keyed hashes), never a
record; the bytes sent for checking are the stored canonical bytes, unchanged.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from pars.clock import parse_instant
from pars.console.render import page
from pars.console.session import Viewer, services, viewer
from pars.errors import NotFound
from pars.web.deps import Services

router = APIRouter(prefix="/console", include_in_schema=False)
#: Rows on the live view and on one explorer page.
LIVE_ROWS = 50
PAGE_ROWS = 50
MAX_INDEX = 2**62


def summary(index: int, doc: dict[str, Any]) -> dict[str, Any]:
    """What a row of the live view or the explorer shows of an entry."""
    detail = doc.get("detail") if isinstance(doc.get("detail"), dict) else {}
    return {
        "index": index,
        "time": doc.get("time"),
        "kind": doc.get("kind"),
        "agreement_id": doc.get("agreement_id"),
        "agency": doc.get("agency"),
        "user": doc.get("user"),
        "action": doc.get("action"),
        "decision": doc.get("decision"),
        "rule": doc.get("rule"),
        "status": doc.get("status"),
        "records": len(doc.get("arrest_ids") or []),
        "summary": (detail or {}).get("summary"),
    }


# The log as the console reads it (``Services.audit.live_entries``): checked bytes up to
# the newest stored checkpoint (the console is live: it does not wait for witnesses to
# publish, and the head gets a stored checkpoint first, as a publisher round would).


def newest(svc: Services, agreement_id: str | None, limit: int = LIVE_ROWS) -> list[dict[str, Any]]:
    found = svc.audit.live_entries(limit, agreement_id=agreement_id or None, reverse=True)
    return [summary(index, doc) for index, doc in found]


def _agreement_choices(svc: Services) -> list[str]:
    return svc.agreements.ids()


@router.get("/live")
async def live(request: Request, v: Viewer = Depends(viewer), svc: Services = Depends(services)) -> Response:
    choices = await run_in_threadpool(_agreement_choices, svc)
    return page(
        request,
        "live.html",
        "Live activity",
        v,
        current="live",
        agreements=choices,
        rows=await run_in_threadpool(newest, svc, None),
    )


@router.get("/api/activity")
async def activity(
    agreement: str | None = Query(None, max_length=64),
    v: Viewer = Depends(viewer),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    rows = await run_in_threadpool(newest, svc, agreement or None)
    return {"agreement": agreement or None, "now": svc.clock.now().isoformat(), "entries": rows}


def _when(text: str | None, name: str) -> datetime | None:
    """A form time: ISO 8601; without an offset (a datetime-local input) it is read as UTC."""
    if not text:
        return None
    text = text.strip()
    if len(text) == 16:
        text += ":00"
    if not (text.endswith("Z") or "+" in text[10:] or "-" in text[10:]):
        text += "+00:00"
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def explore(svc: Services, filters: dict[str, Any], start: int) -> tuple[list[dict[str, Any]], int | None]:
    """A page of entries from index ``start`` up, oldest first, and where the next page starts."""
    found = svc.audit.live_entries(PAGE_ROWS + 1, start=start, **filters)
    rows = [summary(index, doc) for index, doc in found[:PAGE_ROWS]]
    return rows, (found[PAGE_ROWS][0] if len(found) > PAGE_ROWS else None)


def explore_newest(
    svc: Services, filters: dict[str, Any], before: int | None
) -> tuple[list[dict[str, Any]], int | None]:
    """A page of entries at or below index ``before`` (all if None), newest first (same filters as
    ``explore``), and where the next page starts."""
    stop = None if before is None else before + 1
    found = svc.audit.live_entries(PAGE_ROWS + 1, stop=stop, reverse=True, **filters)
    rows = [summary(index, doc) for index, doc in found[:PAGE_ROWS]]
    return rows, (found[PAGE_ROWS][0] if len(found) > PAGE_ROWS else None)


@router.get("/audit")
async def audit(
    request: Request,
    agreement: str = Query("", max_length=64),
    user: str = Query("", max_length=200),
    from_: str = Query("", alias="from", max_length=40),
    to: str = Query("", max_length=40),
    order: str = Query("newest", pattern="^(newest|oldest)$"),
    start: int | None = Query(None, ge=0, le=MAX_INDEX),
    v: Viewer = Depends(viewer),
    svc: Services = Depends(services),
) -> Response:
    form = {"agreement": agreement, "user": user, "from": from_, "to": to, "order": order}
    choices = await run_in_threadpool(_agreement_choices, svc)
    values: dict[str, Any] = {
        "publication": await run_in_threadpool(_publication, request, svc),
        "form": form,
        "agreements": choices,
        "rows": [],
        "first_href": None,
        "next_href": None,
        "error": None,
    }
    try:
        filters = {
            "agreement_id": agreement or None,
            "user": user or None,
            "since": _when(from_, "from"),
            "until": _when(to, "to"),
        }
    except ValueError as exc:
        values["error"] = str(exc)
        return page(request, "audit.html", "Audit explorer", v, status=422, current="audit", **values)
    if order == "newest":
        rows, next_start = await run_in_threadpool(explore_newest, svc, filters, start)
    else:
        rows, next_start = await run_in_threadpool(explore, svc, filters, start or 0)
    values["rows"] = rows
    if start is not None:
        values["first_href"] = "?" + urlencode(form)
    if next_start is not None:
        values["next_href"] = "?" + urlencode({**form, "start": next_start})
    return page(request, "audit.html", "Audit explorer", v, current="audit", **values)


def _publication(request: Request, svc: Services) -> dict[str, Any]:
    """The log's size against the published size, and each witness's cosigned size and lag."""
    return svc.audit.publication(request.app.state.witnesses)


def proof_of(svc: Services, index: int) -> dict[str, Any]:
    """The entry's stored bytes, its leaf hash and its inclusion proof against the latest checkpoint."""
    checked = svc.audit.checked_entry(index)
    cp, found, proof = checked.checkpoint, checked.entry, checked.proof
    return {
        "index": index,
        "size": cp.size,
        "entry_b64": base64.b64encode(found.entry).decode("ascii"),
        "leaf_hash_hex": found.leaf_hash.hex(),
        "proof_hex": [p.hex() for p in proof],
        "checkpoint": cp.note,
        "root_hex": cp.root_hex,
        "verifier_key": svc.audit.verifier_key,
        "document": found.document(),
    }


@router.get("/audit/entries/{index}")
async def entry_page(
    index: int, request: Request, v: Viewer = Depends(viewer), svc: Services = Depends(services)
) -> Response:
    if not 0 <= index <= MAX_INDEX:
        return page(request, "error.html", "Not found", v, status=404, message=f"no audit entry at {index}")
    try:
        data = await run_in_threadpool(proof_of, svc, index)
    except NotFound as exc:
        return page(request, "error.html", "Not found", v, status=404, message=str(exc))
    pretty = json.dumps(data["document"], indent=2, ensure_ascii=False, sort_keys=True)
    return page(request, "entry.html", f"Audit entry {index}", v, current="audit", data=data, pretty=pretty)


@router.get("/api/entries/{index}")
async def entry_api(index: int, v: Viewer = Depends(viewer), svc: Services = Depends(services)) -> Any:
    if not 0 <= index <= MAX_INDEX:
        raise NotFound(f"no audit entry at index {index}")
    data = await run_in_threadpool(proof_of, svc, index)
    data.pop("document")
    return data
