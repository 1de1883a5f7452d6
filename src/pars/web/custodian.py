"""Custodian routes: bookings in, agreements applied, approved (by signed notes) and terminated.

Every agreement change is recorded in the audit log in its own transaction
(``Services.agreements``, with the route); a booking or termination wakes feed streams.

Rule: custodian tokens only (403 otherwise); bodies are parsed strictly (422
naming the field).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from pars.clock import parse_instant
from pars.errors import InvalidInput
from pars.gate import Gate, Principal
from pars.web.deps import Services, json_body, principal, services, strict_object
from pars.web.schemas import AGREEMENT_BODY, APPROVAL_BODY, BOOKINGS_BODY, TERMINATE_BODY

router = APIRouter(tags=["custodian"])


def custodian(who: Principal = Depends(principal)) -> Principal:
    Gate.require_role(who, "custodian")
    return who


def _numbered(raw: bytes) -> list[tuple[int, bytes | str]]:
    text = raw.lstrip()
    if text.startswith(b"["):
        try:
            items = json.loads(raw)
        except RecursionError:
            raise InvalidInput("body: JSON nested too deeply") from None
        except (ValueError, UnicodeDecodeError):
            raise InvalidInput("body: not a valid JSON array") from None
        if not isinstance(items, list):
            raise InvalidInput("body: must be JSON Lines or a JSON array of events")
        return [(i, _line(item)) for i, item in enumerate(items, 1)]
    return list(enumerate(raw.split(b"\n"), 1))


def _line(item: Any) -> str:
    try:
        return json.dumps(item)
    except (ValueError, RecursionError):
        return json.dumps("an event nested too deeply")  # rejected like any non-object


def _ingest(svc: Services, raw: bytes) -> dict[str, Any]:
    return svc.bookings.ingest(_numbered(raw))


@router.post("/v1/bookings", openapi_extra=BOOKINGS_BODY, summary="Take booking events")
async def bookings(
    request: Request, who: Principal = Depends(custodian), svc: Services = Depends(services)
) -> dict[str, Any]:
    raw = await request.body()
    report = await run_in_threadpool(_ingest, svc, raw)
    if report["accepted"]:
        svc.notifier.poke()
    return report


@router.put("/v1/agreements/{agreement_id}", openapi_extra=AGREEMENT_BODY, summary="Create or amend")
async def put_agreement(
    agreement_id: str,
    request: Request,
    who: Principal = Depends(custodian),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    from pars.agreements.document import parse_document

    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("body: not UTF-8 text") from None
    doc = parse_document(text)
    if doc.id != agreement_id:
        raise InvalidInput(f"id: the document is {doc.id!r}, the path names {agreement_id!r}")
    applied = await run_in_threadpool(
        lambda: svc.agreements.apply(doc, by=who.user, route="PUT /v1/agreements/{agreement_id}")
    )
    return {
        "id": applied.agreement_id,
        "version": applied.number,
        "hash": applied.hash,
        "created": applied.created,
    }


@router.post("/v1/agreements/{agreement_id}/approvals", openapi_extra=APPROVAL_BODY, summary="Approve")
async def approve_agreement(
    agreement_id: str,
    request: Request,
    who: Principal = Depends(custodian),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Record a party's signed approval note (CONTRACT 9.1); the token only carries it.

    403 naming the rule (``approvals.signature``, ``approvals.unregistered``,
    ``approvals.of``, ``approvals.version``, ``approvals.origin``,
    ``approvals.agreement``, ``approvals.key_name``) unless it verifies against the
    party's registered key and names this log, agreement and version.
    """
    body = strict_object(await json_body(request), {"note": str}, ("note",))
    done = await run_in_threadpool(
        lambda: svc.agreements.approve(
            agreement_id, body["note"], by=who.user, route="POST /v1/agreements/{agreement_id}/approvals"
        )
    )
    svc.notifier.poke()
    return {
        "id": done.agreement_id,
        "version": done.number,
        "hash": done.hash,
        "party": done.role,
        "key_id": done.key_id,
        "activated": done.activated,
        "approvers": sorted(done.approvers),
    }


@router.post("/v1/agreements/{agreement_id}/terminate", openapi_extra=TERMINATE_BODY, summary="Terminate")
async def terminate_agreement(
    agreement_id: str,
    request: Request,
    who: Principal = Depends(custodian),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    body = strict_object(
        await json_body(request),
        {"effective_at": str, "reason": str, "force_past": bool},
        ("effective_at", "reason"),
    )
    try:
        at = parse_instant(body["effective_at"])
    except ValueError as exc:
        raise InvalidInput(f"effective_at: {exc}") from None
    done = await run_in_threadpool(
        lambda: svc.agreements.terminate(
            agreement_id,
            at,
            body["reason"],
            by=who.user,
            force_past=bool(body.get("force_past", False)),
            route="POST /v1/agreements/{agreement_id}/terminate",
        )
    )
    svc.notifier.poke()  # open streams re-decide now and close at the new end
    return {
        "id": agreement_id,
        "effective_at": done.effective_at.isoformat(),
        "reason": done.reason,
        "forced": done.forced,
    }
