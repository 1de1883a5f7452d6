"""The published log: checkpoints that a quorum of witnesses cosigned (CONTRACT 9.2).

    with store.read() as conn:
        cp = latest_published(conn)     # None until one is published
        cp.note                         # the log's signature line and every cosignature line

Witnesses come from ``PARS_WITNESSES``: comma-separated ``VERIFIER_KEY=URL`` pairs,
the witness's cosignature verifier key (``name+keyid+base64(0x04 ‖ Ed25519 key)``)
and its submission prefix (``add-checkpoint`` is POSTed to ``URL/add-checkpoint``).
``PARS_WITNESS_QUORUM`` (default: all listed) cosignatures publish a checkpoint.
With no witness configured, every stored checkpoint is published.

``pars.audit.publisher`` talks to the witnesses; this module holds what is kept:
cosignatures, each witness's state, the published sizes, and the status and
alarms read from them.

Rule: a witness's refusal of consistency (a fork or a cut) is an alarm that stays
until that witness cosigns again; it is shown, never only logged.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from pars.audit.cosignature import CosignatureError, CosignerKey
from pars.audit.note import Checkpoint
from pars.audit.proofs import latest_checkpoint, log_size, stored_checkpoint
from pars.audit.tilepath import HASH_SIZE, TILE_WIDTH, Tile, encode_bundle, tile_width
from pars.errors import ConfigError, NotFound
from pars.store.schema.audit import audit_leaves, audit_tiles
from pars.store.schema.publish import audit_cosignatures, audit_published, audit_witnesses

ENV_WITNESSES = "PARS_WITNESSES"
ENV_QUORUM = "PARS_WITNESS_QUORUM"
_PAIR = re.compile(r"^(\S+?)=(https?://\S+)$")


@dataclass(frozen=True, slots=True)
class Witness:
    key: CosignerKey
    url: str

    @property
    def name(self) -> str:
        return self.key.name

    @property
    def vkey(self) -> str:
        """The verifier key, as stored with its cosignatures and state."""
        return str(self.key)


@dataclass(frozen=True, slots=True)
class WitnessConfig:
    """The configured witnesses and how many must cosign (``quorum``; 0 with none)."""

    witnesses: tuple[Witness, ...] = ()
    quorum: int = 0


def witness_config(witnesses: str | None = None, quorum: str | None = None) -> WitnessConfig:
    """Parse the witness list and quorum (default: ``PARS_WITNESSES``, ``PARS_WITNESS_QUORUM``).

    Raises ``ConfigError`` naming the variable and the item on any bad input.
    """
    listed = os.environ.get(ENV_WITNESSES, "") if witnesses is None else witnesses
    wanted = os.environ.get(ENV_QUORUM, "") if quorum is None else quorum
    found: list[Witness] = []
    for n, item in enumerate((p.strip() for p in listed.split(",")), start=1):
        if not item:
            continue
        m = _PAIR.match(item)
        if m is None:
            raise ConfigError(f"{ENV_WITNESSES}: item {n} is not VERIFIER_KEY=URL (URL: http:// or https://)")
        try:
            key = CosignerKey.parse(m.group(1))
        except CosignatureError as exc:
            raise ConfigError(f"{ENV_WITNESSES}: item {n}: {exc}") from None
        if any(w.key == key or w.name == key.name for w in found):
            raise ConfigError(f"{ENV_WITNESSES}: item {n}: witness {key.name} is listed twice")
        found.append(Witness(key, m.group(2).rstrip("/")))
    if not wanted.strip():
        return WitnessConfig(tuple(found), len(found))
    if not found:
        raise ConfigError(f"{ENV_QUORUM} is set but {ENV_WITNESSES} lists no witness")
    if not re.fullmatch(r"[1-9][0-9]{0,3}", wanted.strip()) or int(wanted) > len(found):
        raise ConfigError(f"{ENV_QUORUM}: a whole number from 1 to {len(found)} (the witnesses listed)")
    return WitnessConfig(tuple(found), int(wanted))


def latest_published(conn: Connection, config: WitnessConfig | None = None) -> Checkpoint | None:
    """The newest published checkpoint, its ``note`` carrying every kept cosignature.

    With no witness configured (``config`` defaults to the environment) that is the
    newest stored checkpoint; None while nothing is published.
    """
    config = witness_config() if config is None else config
    if not config.witnesses:
        return latest_checkpoint(conn)
    size = conn.execute(
        select(audit_published.c.size).order_by(audit_published.c.size.desc()).limit(1)
    ).scalar()
    if size is None:
        return None
    return cosigned_checkpoint(conn, int(size))


def cosigned_checkpoint(conn: Connection, size: int) -> Checkpoint | None:
    """The stored checkpoint at ``size`` with every cosignature kept for it appended."""
    cp = stored_checkpoint(conn, size)
    if cp is None:
        return None
    lines = conn.scalars(
        select(audit_cosignatures.c.signature)
        .where(audit_cosignatures.c.size == size)
        .order_by(audit_cosignatures.c.witness_key)
    ).all()
    return Checkpoint(cp.origin, cp.size, cp.root, cp.note + "".join(f"{line}\n" for line in lines))


def published_size(conn: Connection, config: WitnessConfig | None = None) -> int:
    """The size of the newest published checkpoint (0 when none)."""
    cp = latest_published(conn, config)
    return 0 if cp is None else cp.size


def _published_only(conn: Connection, tile: Tile, config: WitnessConfig | None) -> None:
    size = published_size(conn, config)
    if tile.width > tile_width(tile.level, tile.index, size):
        raise NotFound(f"tile {tile.path} is beyond the published log (size {size})")


def published_tile(conn: Connection, tile: Tile, config: WitnessConfig | None = None) -> bytes:
    """A hash tile (tlog-tiles) of the published tree: the first ``tile.width`` hashes of
    the stored tile. ``NotFound`` if any of them lies beyond the published size."""
    _published_only(conn, tile, config)
    blob = conn.execute(
        select(audit_tiles.c.hashes).where(audit_tiles.c.level == tile.level, audit_tiles.c.idx == tile.index)
    ).scalar()
    want = tile.width * HASH_SIZE
    if blob is None or len(blob) < want:
        raise NotFound(f"tile {tile.path} is not in storage; run pars audit verify")
    return bytes(blob)[:want]


def published_bundle(conn: Connection, tile: Tile, config: WitnessConfig | None = None) -> bytes:
    """An entry bundle (tlog-tiles) of the published tree: each entry's stored bytes,
    prefixed by its length. ``NotFound`` beyond the published size."""
    _published_only(conn, tile, config)
    start = tile.index * TILE_WIDTH
    rows = conn.execute(
        select(audit_leaves.c.idx, audit_leaves.c.entry)
        .where(audit_leaves.c.idx >= start, audit_leaves.c.idx < start + tile.width)
        .order_by(audit_leaves.c.idx)
    ).all()
    if [int(r.idx) for r in rows] != list(range(start, start + tile.width)):
        raise NotFound(f"entry bundle {tile.path} is not in storage; run pars audit verify")
    return encode_bundle(bytes(r.entry) for r in rows)


@dataclass(frozen=True, slots=True)
class Alarm:
    """A witness that refused to cosign: the log forked or was cut under it."""

    witness: str
    since: datetime
    reason: str

    def __str__(self) -> str:
        return f"witness {self.witness} refuses since {self.since:%Y-%m-%d %H:%M:%S} UTC: {self.reason}"


def alarms(conn: Connection) -> list[Alarm]:
    """Every witness refusing now (any witness ever asked, configured still or not)."""
    rows = conn.execute(
        select(audit_witnesses.c.name, audit_witnesses.c.refusing_since, audit_witnesses.c.refusal)
        .where(audit_witnesses.c.refusing_since.is_not(None))
        .order_by(audit_witnesses.c.name)
    ).all()
    return [Alarm(r.name, r.refusing_since, r.refusal or "refused") for r in rows]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds") + "Z"


def status(conn: Connection, config: WitnessConfig | None = None) -> dict[str, Any]:
    """What ``pars audit status`` shows: sizes, each witness's state, and the alarms."""
    config = witness_config() if config is None else config
    latest = latest_checkpoint(conn)
    newest = 0 if latest is None else latest.size
    rows = {r.witness_key: r for r in conn.execute(select(audit_witnesses)).all()}
    cosigned_newest = set(
        conn.scalars(select(audit_cosignatures.c.witness_key).where(audit_cosignatures.c.size == newest))
    )
    witnesses = []
    for w in config.witnesses:
        row = rows.get(w.vkey)
        size = None if row is None or row.cosigned_size is None else int(row.cosigned_size)
        witnesses.append(
            {
                "name": w.name,
                "url": w.url,
                "cosigned_size": size,
                "lag": newest - (size or 0),
                "cosigned_newest": w.vkey in cosigned_newest,
                "last_attempt": _iso(None if row is None else row.last_attempt_utc),
                "last_success": _iso(None if row is None else row.last_success_utc),
                "last_error": None if row is None else row.last_error,
                "refusing_since": _iso(None if row is None else row.refusing_since),
                "refusal": None if row is None else row.refusal,
            }
        )
    found = alarms(conn)
    return {
        "size": log_size(conn),
        "checkpoint_size": newest,
        "published_size": published_size(conn, config),
        "quorum": config.quorum,
        "witnesses": witnesses,
        "alarm": bool(found),
        "alarms": [{"witness": a.witness, "since": _iso(a.since), "reason": a.reason} for a in found],
    }
