"""Offline evidence from the store: an entry's tlog-proof and bundles, against a published checkpoint.

    text = entry_proof(conn, index, verifier_key)          # GET /v1/audit/entries/{i}/proof
    text = write_bundle(store, [101, 205], verifier_key)   # pars audit bundle

Both prove against a *published* checkpoint (cosigned by a witness quorum; with no
witnesses, any stored one): the newest, or the one of a given size. The entry
bytes come through ``pars.audit.reader`` (checked against that checkpoint's root
before they are handed out), the proof from the stored tiles.

Rule: nothing is proved against a checkpoint that is not published, and an index
the checkpoint does not cover is ``NotFound``, never left out.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from sqlalchemy import Connection, select

from pars.audit.bundle import BundleItem, make_bundle
from pars.audit.note import Checkpoint
from pars.audit.proofs import inclusion_proof, stored_checkpoint
from pars.audit.reader import LogView, published_checkpoint, view_of
from pars.audit.scan import snapshot
from pars.audit.tlogproof import format_proof
from pars.errors import NotFound
from pars.store.db import Store


def published_at(conn: Connection, size: int | None = None) -> Checkpoint | None:
    """The published checkpoint of ``size`` with its cosignatures (default: the newest)."""
    if size is None:
        return published_checkpoint(conn)
    publish = importlib.import_module("pars.audit.publish")
    config = publish.witness_config()
    if not config.witnesses:
        return stored_checkpoint(conn, size)
    from pars.store.schema.publish import audit_published

    found = conn.execute(select(audit_published.c.size).where(audit_published.c.size == size)).first()
    if found is None:
        return None
    cp: Checkpoint | None = publish.cosigned_checkpoint(conn, size)
    return cp


def _view(conn: Connection, verifier_key: str | None, size: int | None) -> LogView:
    cp = published_at(conn, size)
    if cp is None:
        what = "no checkpoint is published yet" if size is None else f"no published checkpoint of size {size}"
        raise NotFound(f"{what}; try again once witnesses have cosigned")
    return view_of(conn, verifier_key, choose=lambda _conn: cp)


def _covered(view: LogView, index: int) -> Checkpoint:
    cp = view.checkpoint
    assert cp is not None
    if not 0 <= index < cp.size:
        raise NotFound(f"entry {index} is not under the published checkpoint of size {cp.size}")
    return cp


def entry_proof(
    conn: Connection, index: int, verifier_key: str | None = None, *, size: int | None = None
) -> tuple[str, dict[str, object]]:
    """The tlog-proof@v1 text of entry ``index`` against the published checkpoint of ``size``
    (default: the newest), and the entry (checked) it proves."""
    view = _view(conn, verifier_key, size)
    cp = _covered(view, index)
    doc = view.document(index)
    return format_proof(index, inclusion_proof(conn, index, cp.size), cp.note), doc


def write_bundle(
    store: Store, indices: Iterable[int], verifier_key: str | None = None, *, size: int | None = None
) -> str:
    """A bundle of the given entries, all against the published checkpoint of ``size`` (default:
    the newest), from one snapshot."""
    wanted = sorted(set(indices))
    if not wanted:
        raise NotFound("no index given: a bundle holds at least one entry")
    with snapshot(store) as conn:
        view = _view(conn, verifier_key, size)
        items = []
        for index in wanted:
            cp = _covered(view, index)
            items.append(BundleItem(index, view.entry(index).entry, inclusion_proof(conn, index, cp.size)))
        assert view.checkpoint is not None
        return make_bundle(view.checkpoint.note, items)
