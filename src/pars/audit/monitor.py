"""Follow a tlog-tiles log and catch a fork or a cut (``pars audit monitor``, CONTRACT 9.3).

One round::

    previous = load_kept(state_file)                       # the checkpoint kept last time, or None
    result = check(previous, latest_note, log_key, reader)  # raises MonitorError on a fork or a cut
    keep(state_file, result.checkpoint)                     # atomically, only after it checked

``check`` verifies the log's signature on the new checkpoint, then proves that
the new tree extends the kept one with a consistency proof it computes itself
from the log's hash tiles (``TileReader``: full tiles, partial tiles as the new
size implies, the full tile as fallback when a partial one is gone). A smaller
size is a cut; the same size with another root, or a proof that fails, is a fork.
It also checks that the tiles hash to the signed root, so a log cannot show
auditors tiles that differ from the tree it signed.

The kept state is the checkpoint note itself, verbatim, so the same file works
with ``pars audit verify --checkpoint``.

Pure except ``fetch_checkpoint``/``HttpTiles`` (httpx). Rule: the state moves
forward only to a checkpoint that verified and extends it; on any problem the
old state stays and the error names it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from pars.audit.cosignature import require_quorum
from pars.audit.merkle import consistency_ranges, fill, fold_right, range_nodes, verify_consistency
from pars.audit.note import Checkpoint, CheckpointError, VerifierKey, open_note, parse_checkpoint_body
from pars.audit.tilepath import HASH_SIZE, TILE_HEIGHT, TILE_WIDTH, tile_path, tile_width
from pars.audit.tiles import node_from_tile
from pars.durable import write_atomic
from pars.errors import ParsError

Node = tuple[int, int]


class MonitorError(ParsError):
    """The log misbehaved (``kind``: fork, cut, signature, witnesses, tiles) or could not be read (fetch)."""

    code = "monitor"

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.exit_code = 3 if kind == "fetch" else 1


@dataclass(frozen=True, slots=True)
class MonitorResult:
    """A checkpoint that verified and extends the kept one."""

    checkpoint: Checkpoint
    previous_size: int | None  # None: nothing was kept before

    @property
    def status(self) -> str:
        if self.previous_size is None:
            return "first"
        return "same" if self.previous_size == self.checkpoint.size else "grew"

    def to_json(self) -> dict[str, object]:
        cp = self.checkpoint
        return {
            "origin": cp.origin,
            "size": cp.size,
            "root_hex": cp.root_hex,
            "previous_size": self.previous_size,
            "status": self.status,
        }


class TileReader:
    """Node hashes of the tree of ``size``, read from its hash tiles (each fetched once)."""

    def __init__(self, size: int, fetch: Callable[[str], bytes]) -> None:
        self.size = size
        self.fetch = fetch
        self.tiles: dict[tuple[int, int], bytes] = {}

    def tile(self, level: int, index: int) -> bytes:
        key = (level, index)
        if key not in self.tiles:
            width = tile_width(level, index, self.size)
            if width == 0:
                raise MonitorError("tiles", f"tile {level}/{index} is beyond the tree of size {self.size}")
            path = tile_path(level, index, width)
            blob = self.fetch(path)
            if len(blob) == TILE_WIDTH * HASH_SIZE and width < TILE_WIDTH:
                blob = blob[: width * HASH_SIZE]  # the full tile, fetched in the partial's place
            if len(blob) != width * HASH_SIZE:
                raise MonitorError("tiles", f"{path} holds {len(blob)} bytes, not {width * HASH_SIZE}")
            self.tiles[key] = blob
        return self.tiles[key]

    def node(self, node: Node) -> bytes:
        height, index = node
        level, within = divmod(height, TILE_HEIGHT)
        return node_from_tile(node, self.tile(level, (index << within) >> TILE_HEIGHT))


def verify_latest(note: str, log_key: str | VerifierKey) -> Checkpoint:
    """The checkpoint in ``note`` if the log's key signed it and its origin is the key's name."""
    try:
        key = log_key if isinstance(log_key, VerifierKey) else VerifierKey.parse(log_key)
        opened = open_note(note, [key])
        origin, size, root = parse_checkpoint_body(opened.text)
    except CheckpointError as exc:
        raise MonitorError("signature", f"checkpoint does not verify: {exc}") from None
    if origin != key.name:
        raise MonitorError("signature", f"checkpoint origin {origin!r} is not the log key's {key.name!r}")
    return Checkpoint(origin, size, root, note)


def check(
    previous: str | None,
    latest: str,
    log_key: str | VerifierKey,
    fetch_tile: Callable[[str], bytes],
    witnesses: Sequence[str] = (),
    quorum: int | None = None,
) -> MonitorResult:
    """Verify ``latest`` and that it extends ``previous`` (both checkpoint notes).

    With ``witnesses`` (cosigner vkeys), ``latest`` must also carry ``quorum``
    (default: all of them) valid cosignatures.
    """
    new = verify_latest(latest, log_key)
    if witnesses:
        try:
            require_quorum(latest, log_key, witnesses, len(set(witnesses)) if quorum is None else quorum)
        except CheckpointError as exc:
            raise MonitorError("witnesses", str(exc)) from None
    reader = TileReader(new.size, fetch_tile)
    if previous is None:
        _check_tiles(reader, new)
        return MonitorResult(new, None)
    old = verify_latest(previous, log_key)
    if new.size < old.size:
        raise MonitorError(
            "cut", f"the log shrank from {old.size} to {new.size} entries (entries {new.size}.. are gone)"
        )
    if new.size == old.size:
        if new.root != old.root:
            raise MonitorError("fork", f"size {new.size} now has root {new.root_hex}, was {old.root_hex}")
        return MonitorResult(new, old.size)
    if old.size > 0:
        try:
            proof = fill(consistency_ranges(old.size, new.size), reader.node)
        except ValueError as exc:
            raise MonitorError("tiles", str(exc)) from None
        if not verify_consistency(old.size, new.size, old.root, new.root, proof):
            raise MonitorError(
                "fork",
                f"the tree of size {new.size} does not extend the kept tree of size {old.size} "
                f"(root {old.root_hex})",
            )
    _check_tiles(reader, new)
    return MonitorResult(new, old.size)


def _check_tiles(reader: TileReader, new: Checkpoint) -> None:
    """The tiles the log serves for ``new`` hash to its signed root (else a reader of them is misled)."""
    if new.size == 0:
        return
    try:
        root = fold_right([reader.node(n) for n in range_nodes(0, new.size)])
    except ValueError as exc:
        raise MonitorError("tiles", str(exc)) from None
    if root != new.root:
        raise MonitorError("tiles", f"the hash tiles of size {new.size} do not hash to the signed root")


def load_kept(path: str | os.PathLike[str]) -> str | None:
    """The checkpoint note kept in ``path``, or None when there is none yet."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise MonitorError("state", f"cannot read {path}: {exc}") from None
    return text or None


def keep(path: str | os.PathLike[str], checkpoint: Checkpoint) -> None:
    write_atomic(path, checkpoint.note.encode(), mode=0o644)


class HttpTiles:
    """Fetch ``<prefix>/checkpoint`` and ``<prefix>/tile/...`` over HTTP."""

    def __init__(self, prefix: str, client: httpx.Client) -> None:
        self.prefix = prefix.rstrip("/")
        self.client = client

    def _get(self, path: str) -> httpx.Response:
        url = f"{self.prefix}/{path}"
        try:
            return self.client.get(url, headers={"Accept-Encoding": "gzip, identity"})
        except httpx.HTTPError as exc:
            raise MonitorError("fetch", f"{url}: {type(exc).__name__}: {exc}") from None

    def checkpoint(self) -> str:
        r = self._get("checkpoint")
        if r.status_code != 200:
            raise MonitorError("fetch", f"{self.prefix}/checkpoint answered {r.status_code}")
        try:
            return r.content.decode("utf-8")
        except UnicodeDecodeError:
            raise MonitorError("signature", "the checkpoint is not UTF-8") from None

    def tile(self, path: str) -> bytes:
        r = self._get(path)
        if r.status_code == 404 and ".p/" in path:
            # Clients MAY fetch the full tile when a partial one has been deleted.
            r = self._get(path.partition(".p/")[0])
        if r.status_code != 200:
            raise MonitorError("fetch", f"{self.prefix}/{path} answered {r.status_code}")
        return r.content


def monitor(
    prefix: str,
    log_key: str,
    state: str | os.PathLike[str],
    client: httpx.Client,
    witnesses: Sequence[str] = (),
    quorum: int | None = None,
) -> MonitorResult:
    """One monitoring round against the log at ``prefix``; keeps the new checkpoint on success."""
    log = HttpTiles(prefix, client)
    result = check(load_kept(state), log.checkpoint(), log_key, log.tile, witnesses, quorum)
    keep(state, result.checkpoint)
    return result
