"""Approvals are signatures (CONTRACT 9.1), on SQLite and PostgreSQL: every refused case
names its rule and changes nothing; admin events fail closed.

The custodian is the adversary here: it holds a custodian token and the database,
and tries to approve on a party's behalf.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text

from pars.agreements.approval_note import SignerKey, sign_approval
from pars.agreements.parties import add_party_key, current_key, key_history
from pars.agreements.service import approve, load_history, log_origin, terminate
from pars.audit import iter_entries, log_size, verify_log, verify_note
from pars.gate import admin_event_recorder, issue_token, revoke_token
from pars.store.db import Store
from pars.store.schema.agreements import agreement_approvals, party_keys
from pars.store.schema.gate import gate_tokens
from tests.factories import party_signer, sign_approval_note
from tests.test_gate_fixtures import NOW, World, agreement, make_world


@pytest.fixture
def w(store: Store, tmp_path: Path) -> Any:
    """The gate world (ICE, FBI approved; parties registered) plus a fresh unapproved ice-2019."""
    world = make_world(store, tmp_path)
    raw = agreement("ice-2017", id="ice-2019", approvals={"required": 2, "of": ["courts", "police"]})
    world.apply(raw, approvers=())
    world.apply({**raw, "title": raw["title"] + " (amended)"}, approvers=())  # version 2
    yield world
    world.client.close()


def rec(world: World) -> Any:
    return admin_event_recorder(world.log)


def snapshot(world: World) -> tuple[int, int, int, int]:
    """What an admin change may touch: log size, approvals, party keys, tokens."""
    with world.store.read() as conn:
        return (
            log_size(conn),
            conn.scalar(select(func.count()).select_from(agreement_approvals)) or 0,
            conn.scalar(select(func.count()).select_from(party_keys)) or 0,
            conn.scalar(
                select(func.count()).select_from(gate_tokens).where(gate_tokens.c.revoked_utc.is_(None))
            )
            or 0,
        )


def post(world: World, note: str, agreement_id: str = "ice-2019") -> Any:
    return world.client.post(
        f"/v1/agreements/{agreement_id}/approvals", json={"note": note}, headers=world.auth("custodian")
    )


def refused(world: World, note: str, status: int, rule: str, agreement_id: str = "ice-2019") -> str:
    """The note is refused by the route with ``rule``, and nothing changed."""
    before = snapshot(world)
    r = post(world, note, agreement_id)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"]["rule"] == rule, body
    assert "receipt" not in body
    assert snapshot(world) == before
    message: str = body["error"]["message"]
    return message


def version_hash(world: World, number: int, agreement_id: str = "ice-2019") -> str:
    with world.store.read() as conn:
        return load_history(conn, agreement_id).versions[number - 1].hash


def origin(world: World) -> str:
    with world.store.read() as conn:
        found = log_origin(conn)
    assert found is not None
    return found


# --- a valid approval ---------------------------------------------------------------


def test_a_signed_note_approves_and_goes_verbatim_into_the_log(w: World) -> None:
    note = sign_approval_note(w.store, "ice-2019", "courts")
    r = post(w, note)
    assert r.status_code == 200, r.text
    assert r.json()["party"] == "courts" and r.json()["version"] == 2 and not r.json()["activated"]
    r = post(w, sign_approval_note(w.store, "ice-2019", "police"))
    assert r.json()["activated"] and r.json()["approvers"] == ["courts", "police"]
    entries = [e.document() for e in iter_entries(w.store, agreement_id="ice-2019", kind="admin")]
    approvals = [e for e in entries if e["action"] == "approve"]
    assert [e["detail"]["party"] for e in approvals] == ["courts", "police"]
    assert approvals[0]["detail"]["note"] == note
    assert approvals[0]["route"] == "POST /v1/agreements/{agreement_id}/approvals"
    # From the log alone: the note verifies with the key the entry names, for the version it names.
    for e in approvals:
        said = verify_note(e["detail"]["note"], e["detail"]["verifier_key"])
        assert said.split("\n")[3] == e["agreement_version"] == version_hash(w, 2)
    assert entries[-1]["action"] == "activate"
    assert verify_log(w.store, w.log.verifier_key).ok


# --- every refused case --------------------------------------------------------------


def test_a_bad_signature_is_refused(w: World) -> None:
    note = sign_approval_note(w.store, "ice-2019", "courts")
    sig_at = note.rindex(" ") + 1
    flipped = note[:sig_at] + ("A" if note[sig_at] != "A" else "B") + note[sig_at + 1 :]
    refused(w, flipped, 403, "approvals.signature")
    # a key named courts, but not the registered one
    impostor = SignerKey.generate("courts")
    forged = sign_approval(origin(w), "ice-2019", version_hash(w, 2), impostor)
    assert "registered key" in refused(w, forged, 403, "approvals.signature")


def test_a_note_for_another_version_is_refused(w: World) -> None:
    v1 = sign_approval_note(w.store, "ice-2019", "courts", version=1)
    before = snapshot(w)
    with pytest.raises(Exception) as exc:
        approve(w.store, w.clock, "ice-2019", v1, by="clerk", record_admin_event=rec(w), version=2)
    assert getattr(exc.value, "rule", None) == "approvals.version"
    assert snapshot(w) == before
    # a hash that is no version of this agreement at all
    bogus = sign_approval(origin(w), "ice-2019", "0" * 64, party_signer("courts"))
    refused(w, bogus, 403, "approvals.version")


def test_a_note_for_another_log_is_refused(w: World) -> None:
    elsewhere = sign_approval("other.example/audit", "ice-2019", version_hash(w, 2), party_signer("courts"))
    assert "other.example/audit" in refused(w, elsewhere, 403, "approvals.origin")


def test_a_note_for_another_agreement_is_refused(w: World) -> None:
    note = sign_approval_note(w.store, "ice-2019", "courts")
    refused(w, note, 403, "approvals.agreement", agreement_id="fbi-2017")


def test_an_unregistered_party_cannot_approve(w: World) -> None:
    # fbi-2017 lists the DA, whose key is not registered in this world
    note = sign_approval_note(w.store, "fbi-2017", "district_attorney")
    assert "no registered key" in refused(w, note, 403, "approvals.unregistered", agreement_id="fbi-2017")
    # and a key registered afterwards makes the same note count
    add_party_key(
        w.store, w.clock, "district_attorney", party_signer("district_attorney").verifier_key,
        by="clerk", record_admin_event=rec(w),
    )  # fmt: skip
    assert post(w, note, "fbi-2017").status_code == 200


def test_a_party_not_listed_cannot_approve(w: World) -> None:
    # ice-2019 is approved by courts and police only (the DA's key is registered here)
    add_party_key(
        w.store, w.clock, "district_attorney", party_signer("district_attorney").verifier_key,
        by="clerk", record_admin_event=rec(w),
    )  # fmt: skip
    note = sign_approval_note(w.store, "ice-2019", "district_attorney")
    assert "not an approver" in refused(w, note, 403, "approvals.of")


def test_a_key_named_for_another_party_is_refused(w: World) -> None:
    from pars.audit.note import sign_note

    claim = f"pars-approval/v1\n{origin(w)}\nice-2019\n{version_hash(w, 2)}\ncourts\n"
    forged = sign_note(claim, "police", party_signer("police").private_key)
    refused(w, forged, 403, "approvals.key_name")


def test_a_duplicate_is_refused(w: World) -> None:
    note = sign_approval_note(w.store, "ice-2019", "courts")
    assert post(w, note).status_code == 200
    assert "already approved" in refused(w, note, 409, "approvals.duplicate")


def test_a_malformed_note_is_422_naming_the_note(w: World) -> None:
    assert refused(w, "pars-approval/v1\nx\n", 422, "approvals.note").startswith("note:")


def test_a_custodian_cannot_approve_without_a_note(w: World) -> None:
    """The old say-so body is refused; no party name alone approves anything."""
    before = snapshot(w)
    h = w.auth("custodian")
    for body in ({"as": "courts"}, {"as": "courts", "version": 2}, {}, {"note": ""}):
        r = w.client.post("/v1/agreements/ice-2019/approvals", json=body, headers=h)
        assert r.status_code == 422, (body, r.text)
    assert snapshot(w) == before
    with w.store.read() as conn:
        assert not load_history(conn, "ice-2019").latest.approvals


def test_a_partner_token_cannot_post_an_approval(w: World) -> None:
    r = w.client.post(
        "/v1/agreements/ice-2019/approvals",
        json={"note": sign_approval_note(w.store, "ice-2019", "courts")},
        headers=w.auth("ice"),
    )
    assert r.status_code == 403


def test_rows_written_into_the_store_directly_never_count(w: World) -> None:
    """The custodian holds the database: an approval row without a verifying note is
    shown, never counted; nor is a real note replayed onto another version."""
    v1_note = sign_approval_note(w.store, "ice-2019", "courts", version=1)
    with w.store.write() as conn:
        for party, note, key in (
            ("courts", v1_note, party_signer("courts").verifier_key),  # a note for version 1 on version 2
            ("police", None, None),  # the old say-so
        ):
            conn.execute(
                insert(agreement_approvals).values(
                    agreement_id="ice-2019",
                    version_number=2,
                    role=party,
                    at=NOW.isoformat(),
                    at_utc=NOW.replace(tzinfo=None),
                    by="dba",
                    note=note,
                    verifier_key=key,
                )
            )
    with w.store.read() as conn:
        history = load_history(conn, "ice-2019")
    assert [a.valid for a in history.latest.approvals] == [False, False]
    assert not history.is_approved(2) and history.approvers(2) == frozenset()


# --- party keys ------------------------------------------------------------------------


def test_the_same_key_for_two_parties_is_refused(w: World) -> None:
    before = snapshot(w)
    courts = party_signer("courts")
    same_key_as_police = courts.verifier_key.replace("courts", "police", 1)  # name changed, key kept
    from pars.agreements.approval_note import ApprovalRefused
    from pars.audit.note import VerifierKey, verifier_key

    pub = VerifierKey.parse(courts.verifier_key).public_key
    with pytest.raises(ApprovalRefused) as exc:
        add_party_key(
            w.store, w.clock, "police", verifier_key("police", pub), by="clerk", record_admin_event=rec(w)
        )
    assert exc.value.rule == "parties.shared_key" and "courts's key" in str(exc.value)
    with pytest.raises(Exception, match="key"):  # a hand-edited name breaks the key ID
        add_party_key(w.store, w.clock, "police", same_key_as_police, by="clerk", record_admin_event=rec(w))
    with pytest.raises(ApprovalRefused) as exc:  # a key named for another party
        add_party_key(w.store, w.clock, "police", courts.verifier_key, by="clerk", record_admin_event=rec(w))
    assert exc.value.rule == "approvals.key_name"
    assert snapshot(w) == before


def test_a_replaced_key_is_logged_naming_old_and_new(w: World) -> None:
    old = party_signer("courts").verifier_key
    new = SignerKey.generate("courts")
    done = add_party_key(w.store, w.clock, "courts", new.verifier_key, by="clerk", record_admin_event=rec(w))
    assert done.changed and done.replaced is not None and done.replaced.verifier_key == old
    again = add_party_key(w.store, w.clock, "courts", new.verifier_key, by="clerk", record_admin_event=rec(w))
    assert not again.changed
    entry = [e.document() for e in iter_entries(w.store, kind="admin")][-1]
    assert entry["action"] == "party.replace"
    assert (entry["detail"]["replaced_key"], entry["detail"]["verifier_key"]) == (old, new.verifier_key)
    with w.store.read() as conn:
        assert current_key(conn, "courts") is not None
        assert [k.verifier_key for k in key_history(conn)["courts"]] == [old, new.verifier_key]
    # the old key no longer approves; the new one does
    stale = sign_approval_note(w.store, "ice-2019", "courts")
    refused(w, stale, 403, "approvals.signature")
    fresh = sign_approval(origin(w), "ice-2019", version_hash(w, 2), new)
    assert post(w, fresh).status_code == 200
    # an earlier key cannot come back (it is refused as shared with the past)
    before = snapshot(w)
    with pytest.raises(Exception, match="earlier key"):
        add_party_key(w.store, w.clock, "courts", old, by="clerk", record_admin_event=rec(w))
    assert snapshot(w) == before


# --- admin events fail closed ---------------------------------------------------------

REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse_leaves BEFORE INSERT ON audit_leaves "
        "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_leaves() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$",
        "CREATE TRIGGER refuse_leaves BEFORE INSERT ON audit_leaves "
        "FOR EACH ROW EXECUTE FUNCTION refuse_leaves()",
    ],
}


def _actions(w: World) -> dict[str, Callable[[], object]]:
    from pars.agreements.document import parse_document
    from pars.agreements.service import apply_document

    note = sign_approval_note(w.store, "ice-2019", "courts")
    return {
        "approve": lambda: approve(w.store, w.clock, "ice-2019", note, by="clerk", record_admin_event=rec(w)),
        "terminate": lambda: terminate(
            w.store, w.clock, "ice-2017", NOW, "ended", by="clerk", force_past=True, record_admin_event=rec(w)
        ),
        "apply": lambda: apply_document(
            w.store,
            w.clock,
            parse_document(agreement("ice-2017", title="amended")),
            by="clerk",
            record_admin_event=rec(w),
        ),
        "party key add": lambda: add_party_key(
            w.store,
            w.clock,
            "mayor",
            SignerKey.generate("mayor").verifier_key,
            by="c",
            record_admin_event=rec(w),
        ),
        "party key replace": lambda: add_party_key(
            w.store,
            w.clock,
            "courts",
            SignerKey.generate("courts").verifier_key,
            by="c",
            record_admin_event=rec(w),
        ),
        "token issue": lambda: issue_token(
            w.store, w.clock, role="custodian", user="new.clerk", record_admin_event=rec(w)
        ),
        "token revoke": lambda: revoke_token(w.store, w.clock, w.tokens["ice"], record_admin_event=rec(w)),
    }


def test_each_admin_action_changes_nothing_when_the_log_refuses_its_entry(w: World) -> None:
    actions = _actions(w)
    with w.store.write() as conn:
        for sql in REFUSE[w.store.dialect]:
            conn.execute(text(sql))
    for name, act in actions.items():
        before = snapshot(w)
        with w.store.read() as conn:
            history = load_history(conn, "ice-2017")
        with pytest.raises(Exception, match=r"disk full|could not be written"):
            act()
        assert snapshot(w) == before, name
        with w.store.read() as conn:
            assert load_history(conn, "ice-2017") == history, name
    with w.store.write() as conn:
        conn.execute(text("DROP TRIGGER refuse_leaves" + ("" if w.store.is_sqlite else " ON audit_leaves")))
    # with the log writable again, each one goes through and is logged
    for name, act in actions.items():
        size = snapshot(w)[0]
        act()
        assert snapshot(w)[0] > size, name
    assert verify_log(w.store, w.log.verifier_key).ok


def test_no_service_call_has_a_default_recorder() -> None:
    """``record_admin_event`` is required everywhere an admin change is made."""
    import inspect

    from pars.agreements import parties, service
    from pars.gate import tokens

    for fn in (
        service.apply_document,
        service.approve,
        service.terminate,
        parties.add_party_key,
        tokens.issue_token,
        tokens.revoke_token,
    ):
        param = inspect.signature(fn).parameters["record_admin_event"]
        assert param.default is inspect.Parameter.empty, fn.__name__
    assert not hasattr(service, "no_admin_log")


def test_the_parties_migration_drops_unsigned_approvals_and_goes_down_and_up(store: Store) -> None:
    """Approvals from before 9.1 are a say-so: upgrading removes them (the log keeps their entries)."""
    from alembic import command
    from sqlalchemy import inspect

    from pars.store.migrate import alembic_config, current_heads, is_current, upgrade

    cfg = alembic_config(store)
    with store.engine.connect() as conn:
        cfg.attributes["connection"] = conn.execution_options(pars_write=True) if store.is_sqlite else conn
        command.downgrade(cfg, "0007_publish")
        if conn.in_transaction():
            conn.commit()
    assert current_heads(store) == {"0007_publish"}
    assert "party_keys" not in inspect(store.engine).get_table_names()
    when = NOW.replace(tzinfo=None)
    with store.write() as conn:
        conn.execute(
            text("INSERT INTO agreements VALUES ('ice-2017', 'ICE', :at, :utc)"),
            {"at": NOW.isoformat(), "utc": when},
        )
        conn.execute(
            text("INSERT INTO agreement_versions VALUES ('ice-2017', 1, :h, '{}', :at, :utc, 'clerk')"),
            {"h": "ab" * 32, "at": NOW.isoformat(), "utc": when},
        )
        conn.execute(
            text("INSERT INTO agreement_approvals VALUES ('ice-2017', 1, 'courts', :at, :utc, 'custodian')"),
            {"at": NOW.isoformat(), "utc": when},
        )
    upgrade(store)
    assert is_current(store) and "party_keys" in inspect(store.engine).get_table_names()
    with store.read() as conn:
        assert conn.scalar(select(func.count()).select_from(agreement_approvals)) == 0
        assert conn.scalar(text("SELECT count(*) FROM agreement_versions")) == 1
