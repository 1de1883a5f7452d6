"""The public log (CONTRACT 9.3) as C2SP tlog-tiles, under ``/log/``.

    GET /log/checkpoint                  the newest published checkpoint, with its cosignatures
    GET /log/tile/<L>/<N>[.p/<W>]        hash tiles; anyone, no token (they hold hashes only)
    GET /log/tile/entries/<N>[.p/<W>]    entry bundles; oversight only (entries are not public)

Tiles come straight from ``audit_tiles`` (stored in this layout): a partial tile of
width W is the first W hashes of the stored tile. Full tiles are immutable and
cached for a year; the checkpoint and partial tiles only briefly.

Rule: nothing beyond the published size is served. A tile (or bundle) whose W
hashes are not all inside the newest published tree is a 404, like a path that is
not in the spec's one canonical spelling.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from pars.audit.publish import WitnessConfig
from pars.audit.tilepath import Tile, TilePathError, parse_tile_path
from pars.errors import NotFound
from pars.gate import Gate, Principal
from pars.web.deps import Services, principal, services

router = APIRouter(prefix="/log", tags=["public log"])

CHECKPOINT_TYPE = "text/plain; charset=utf-8"
TILE_TYPE = "application/octet-stream"
IMMUTABLE = "public, max-age=31536000, immutable"
#: The checkpoint changes with every publication: caches keep it a few seconds at most.
CHECKPOINT_CACHE = "public, max-age=5"
#: A partial tile never changes either, but it is dropped once its full tile is out.
PARTIAL_CACHE = "public, max-age=60"


def witnesses(request: Request) -> WitnessConfig:
    config: WitnessConfig = request.app.state.witnesses
    return config


@router.get("/checkpoint", response_class=Response)
def checkpoint(svc: Services = Depends(services), config: WitnessConfig = Depends(witnesses)) -> Response:
    cp = svc.audit.latest_published(config)
    if cp is None:
        raise NotFound("no checkpoint is published yet")
    return Response(cp.note, media_type=CHECKPOINT_TYPE, headers={"cache-control": CHECKPOINT_CACHE})


def _tile(path: str, *, entries: bool) -> Tile:
    try:
        tile = parse_tile_path("tile/" + path)
    except TilePathError as exc:
        raise NotFound(f"no such tile: {exc}") from None
    if tile.is_entries != entries:  # pragma: no cover - the two routes split on "entries/"
        raise NotFound("no such tile")
    return tile


def _headers(tile: Tile) -> dict[str, str]:
    return {"cache-control": PARTIAL_CACHE if tile.is_partial else IMMUTABLE}


@router.get("/tile/entries/{path:path}", response_class=Response)
def entry_bundle(
    path: str,
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
    config: WitnessConfig = Depends(witnesses),
) -> Response:
    Gate.require_role(who, "oversight")
    tile = _tile("entries/" + path, entries=True)
    bundle = svc.audit.published_bundle(tile, config)
    # Private data for one role: never in a shared cache (the hardening layer's no-store).
    return Response(bundle, media_type=TILE_TYPE)


@router.get("/tile/{path:path}", response_class=Response)
def hash_tile(
    path: str, svc: Services = Depends(services), config: WitnessConfig = Depends(witnesses)
) -> Response:
    tile = _tile(path, entries=False)
    blob = svc.audit.published_tile(tile, config)
    return Response(blob, media_type=TILE_TYPE, headers=_headers(tile))
