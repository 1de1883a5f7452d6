"""The approving parties' keys in the store: register, replace, look up, list.

Each party (a name an agreement lists in ``approvals.of``) approves with its own
Ed25519 key (CONTRACT 9.1); ``pars parties add`` registers its verifier key. A
replacement is a new row (the old key stays, for approvals it signed) and an
admin audit entry naming the old and the new key, in the same transaction.

Rule: one public key never approves for two parties (the ``public_key`` column is
unique across all rows, replaced keys included), and a key is named after its party.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from pars.agreements.approval_note import RULE_SHARED_KEY, ApprovalRefused, SignerKey, parse_party_key
from pars.agreements.service import AdminEventRecorder, Conflict, admin_event
from pars.clock import Clock, to_utc_naive
from pars.errors import InvalidInput
from pars.store.db import Store
from pars.store.schema.agreements import party_keys


@dataclass(frozen=True, slots=True)
class PartyKey:
    party: str
    verifier_key: str
    key_id: str
    added_at: datetime
    added_by: str

    def to_json(self) -> dict[str, Any]:
        return {
            "party": self.party,
            "verifier_key": self.verifier_key,
            "key_id": self.key_id,
            "added_at": self.added_at.isoformat(),
            "added_by": self.added_by,
        }


def _key(row: Any) -> PartyKey:
    kid = row.verifier_key.split("+", 2)[1]
    return PartyKey(row.party, row.verifier_key, kid, row.added_utc.replace(tzinfo=UTC), row.added_by)


def key_history(conn: Connection, parties: list[str] | None = None) -> dict[str, list[PartyKey]]:
    """Every key each party has registered, oldest first (the last one is current)."""
    query = select(party_keys).order_by(party_keys.c.id)
    if parties is not None:
        query = query.where(party_keys.c.party.in_(parties))
    out: dict[str, list[PartyKey]] = {}
    for row in conn.execute(query):
        out.setdefault(row.party, []).append(_key(row))
    return out


def current_key(conn: Connection, party: str) -> PartyKey | None:
    """The key whose signatures approve for ``party`` now, if it registered one."""
    row = conn.execute(
        select(party_keys).where(party_keys.c.party == party).order_by(party_keys.c.id.desc()).limit(1)
    ).first()
    return None if row is None else _key(row)


def current_keys(conn: Connection) -> dict[str, PartyKey]:
    return {party: keys[-1] for party, keys in sorted(key_history(conn).items())}


@dataclass(frozen=True, slots=True)
class KeyAdded:
    key: PartyKey
    replaced: PartyKey | None
    changed: bool


def add_party_key(
    store: Store,
    clock: Clock,
    party: str,
    verifier_key: str,
    *,
    by: str,
    record_admin_event: AdminEventRecorder,
) -> KeyAdded:
    """Register (or replace) ``party``'s key; the same key again is a no-op.

    Refused (rule ``parties.shared_key``) if the public key is, or ever was,
    registered for another party, or was this party's own earlier key.
    """
    key = parse_party_key(party, verifier_key)
    text = str(key)
    now = clock.now()
    try:
        with store.write() as conn:
            old = current_key(conn, party)
            if old is not None and old.verifier_key == text:
                return KeyAdded(old, None, changed=False)
            holder = conn.execute(
                select(party_keys.c.party).where(party_keys.c.public_key == key.public_key.hex())
            ).first()
            if holder is not None:
                whose = "an earlier key of this party" if holder.party == party else f"{holder.party}'s key"
                raise ApprovalRefused(
                    RULE_SHARED_KEY,
                    f"key: this public key is {whose}; one key never approves for two parties "
                    "(generate a new one with pars parties keygen)",
                )
            conn.execute(
                insert(party_keys).values(
                    party=party,
                    verifier_key=text,
                    public_key=key.public_key.hex(),
                    added_at=now.isoformat(),
                    added_utc=to_utc_naive(now),
                    added_by=by,
                )
            )
            action = "party.add" if old is None else "party.replace"
            summary = (
                f"{party} registered key {text}"
                if old is None
                else f"{party} replaced key {old.verifier_key} with {text}"
            )
            detail: Mapping[str, Any] = {
                "party": party,
                "verifier_key": text,
                "replaced_key": None if old is None else old.verifier_key,
            }
            record_admin_event(
                conn, admin_event(at=now, user=by, action=action, detail=summary, extra=detail)
            )
    except IntegrityError:
        raise Conflict(f"party {party}: its keys changed meanwhile; add the key again") from None
    added = PartyKey(party, text, key.key_id.hex(), now, by)
    return KeyAdded(added, old, changed=True)


def write_signer_key(path: str | os.PathLike[str], signer: SignerKey) -> None:
    """Write a party's signer key file: created mode 0600, never overwriting one."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InvalidInput(f"--out: {os.fspath(path)} exists; a key file is never overwritten") from None
    except OSError as exc:
        raise InvalidInput(f"--out: cannot create {os.fspath(path)} ({exc.strerror})") from None
    try:
        os.write(fd, signer.text().encode())
        os.fsync(fd)
    finally:
        os.close(fd)
