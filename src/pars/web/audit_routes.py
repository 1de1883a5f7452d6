"""Audit routes (anyone with a token), the oversight report (oversight) and /healthz.

Rule: an entry (and its proof) is shown to oversight, or to a partner only if it is
its own user's under its own agreement; anyone else gets the same 404 as for an
index that does not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import PlainTextResponse

from pars.clock import parse_instant
from pars.errors import InvalidInput, NotFound
from pars.gate import Gate, Principal
from pars.web.deps import Services, principal, services

router = APIRouter()
#: Largest index or size a route takes (both databases store 64-bit integers).
MAX_INDEX = 2**62


@router.get("/v1/audit/checkpoint", response_class=PlainTextResponse, tags=["audit"])
def checkpoint(who: Principal = Depends(principal), svc: Services = Depends(services)) -> PlainTextResponse:
    # The whole log's: checkpoints are stored at a cadence, so it may be signed now.
    cp = svc.audit.head_checkpoint()
    if cp is None:
        raise NotFound("the audit log has no checkpoint yet")
    return PlainTextResponse(cp.note)


@router.get("/v1/audit/key", response_class=PlainTextResponse, tags=["audit"])
def key(who: Principal = Depends(principal), svc: Services = Depends(services)) -> PlainTextResponse:
    return PlainTextResponse(svc.audit.verifier_key)


@router.get("/v1/audit/proof/inclusion", tags=["audit"])
def inclusion(
    index: int = Query(..., ge=0, le=MAX_INDEX),
    size: int = Query(..., ge=1, le=MAX_INDEX),
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    proof = svc.audit.inclusion_proof(index, size)
    return {"index": index, "size": size, "proof_hex": [p.hex() for p in proof]}


@router.get("/v1/audit/proof/consistency", tags=["audit"])
def consistency(
    old: int = Query(..., ge=1, le=MAX_INDEX),
    new: int = Query(..., ge=1, le=MAX_INDEX),
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    proof = svc.audit.consistency_proof(old, new)
    return {"old": old, "new": new, "proof_hex": [p.hex() for p in proof]}


@router.get("/v1/audit/entries/{index}", tags=["audit"], operation_id="audit_entry")
def entry(
    index: int = Path(..., ge=0, le=MAX_INDEX),
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    Gate.require_role(who, "oversight", "partner")
    found, doc, texts = svc.audit.entry_with_texts(index, lambda doc: _visible(who, doc, index))
    # CONTRACT section 5: the texts the entry's commitments open, while they exist.
    return {"index": found, "entry": doc, "texts": texts}


def _visible(who: Principal, doc: dict[str, Any], index: int) -> None:
    """Oversight sees every entry; a partner its own user's under its agreement (CONTRACT 4)."""
    if who.role == "partner" and (doc.get("agreement_id") != who.agreement_id or doc.get("user") != who.user):
        raise NotFound(f"no audit entry at index {index}")


@router.get("/v1/audit/entries/{index}/proof", response_class=PlainTextResponse, tags=["audit"])
def entry_proof(
    index: int = Path(..., ge=0, le=MAX_INDEX),
    size: int | None = Query(None, ge=1, le=MAX_INDEX),
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> PlainTextResponse:
    """The entry's C2SP tlog-proof@v1 against the published checkpoint of ``size`` (default:
    the newest published), cosignatures included: checkable offline with the public keys."""
    Gate.require_role(who, "oversight", "partner")
    text, doc = svc.audit.entry_proof(index, size)
    _visible(who, doc, index)
    return PlainTextResponse(text)


def _instant(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise InvalidInput(f"{name}: {exc}") from None


@router.get("/v1/oversight/report", tags=["oversight"])
def report(
    agreement: str | None = Query(None, max_length=64),
    from_: str | None = Query(None, alias="from", max_length=64),
    to: str | None = Query(None, max_length=64),
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """CONTRACT section 6: the log verified afresh, every agreement, the findings with evidence."""
    Gate.require_role(who, "oversight")
    start, end = _instant("from", from_), _instant("to", to)
    return svc.oversight.report(agreement_id=agreement, start=start, end=end)


@router.get("/healthz", tags=["health"])
async def healthz() -> dict[str, str]:  # async: no thread-pool hop for a constant
    return {"status": "ok"}
