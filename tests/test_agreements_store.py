"""Agreements in the store (SQLite and PostgreSQL): versions, approvals, serving
version, terminations, warrants, admin events."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Connection, insert, select

from pars.agreements.decide import decide
from pars.agreements.request import Request
from pars.agreements.service import (
    Applied,
    DuplicateApproval,
    apply_document,
    load_history,
    serving_version,
    terminate,
)
from pars.agreements.warrants import add_warrant, warranted_arrests
from pars.audit import AuditLog, create_keys
from pars.clock import FixedClock, to_utc_naive
from pars.errors import InvalidInput, NotFound
from pars.gate import admin_event_recorder
from pars.store.db import Store
from pars.store.schema.agreements import agreement_versions
from pars.store.schema.records import arrests
from tests.factories import approve_as, party_signer, register_parties

FIXTURES = Path(__file__).parent / "fixtures" / "agreements"
EDT = timezone(timedelta(hours=-4))
T0 = datetime(2017, 8, 1, 9, 0, tzinfo=EDT)  # before the ICE term
END = datetime(2018, 8, 31, 23, 59, 59, tzinfo=EDT)
SEARCH = Request.search({"purpose": "C", "case_number": "c", "justification": "j"})


_RECORDERS: dict[int, Any] = {}


@pytest.fixture(autouse=True)
def _audit_log(store: Store, tmp_path: Path) -> Iterator[None]:
    """Each store gets a real audit log (approval notes name its origin) and the parties' keys."""
    keys, _ = create_keys(tmp_path / "keys")
    recorder = admin_event_recorder(AuditLog(keys, FixedClock(T0)))
    register_parties(store, FixedClock(T0 - timedelta(days=1)), recorder)
    _RECORDERS[id(store)] = recorder
    yield
    del _RECORDERS[id(store)]


def rec(store: Store, events: list[dict[str, Any]] | None = None) -> Any:
    """The store's admin recorder: appends to its audit log (and to ``events``, if given)."""
    recorder = _RECORDERS[id(store)]

    def record(conn: Any, event: dict[str, Any]) -> None:
        recorder(conn, event)
        if events is not None:
            events.append(event)

    return record


def ice(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((FIXTURES / "ice-2017.yaml").read_text())
    raw = copy.deepcopy(raw)
    raw.update(changes)
    return raw


def apply(store: Store, clock: FixedClock, raw: dict[str, Any], events: list[Any] | None = None) -> Applied:
    from pars.agreements.document import parse_document

    return apply_document(
        store, clock, parse_document(raw), by="clerk", record_admin_event=rec(store, events)
    )


def at(store: Store, when: datetime) -> str:
    with store.read() as conn:
        v = serving_version(conn, "ice-2017", when)
    return decide(v, SEARCH, when).rule


def test_apply_creates_versions_and_identical_text_is_a_no_op(store: Store) -> None:
    clock = FixedClock(T0)
    first = apply(store, clock, ice())
    assert (first.number, first.created) == (1, True)
    again = apply(store, clock, ice())
    assert (again.number, again.created, again.hash) == (1, False, first.hash)
    amended = apply(store, clock, ice(title="fee waived"))
    assert (amended.number, amended.created) == (2, True)
    with store.read() as conn:
        history = load_history(conn, "ice-2017")
        stored = conn.execute(select(agreement_versions.c.hash, agreement_versions.c.document)).all()
    assert [v.hash for v in history.versions] == [first.hash, amended.hash]
    # The stored canonical text re-hashes to the version id.
    import hashlib

    for digest, text in stored:
        assert hashlib.sha256(text.encode()).hexdigest() == digest
    with pytest.raises(InvalidInput, match="identical to version 1"):
        apply(store, clock, ice())
    with pytest.raises(InvalidInput, match="partner: agreement ice-2017 is with ICE"):
        apply(store, clock, ice(partner="FBI"))


def test_a_version_serves_only_with_its_approvals(store: Store) -> None:
    clock = FixedClock(T0)
    events: list[dict[str, Any]] = []
    apply(store, clock, ice(), events)
    inside = datetime(2017, 10, 1, tzinfo=EDT)
    assert at(store, inside) == "approvals"
    clock.set(T0 + timedelta(hours=1))
    r = approve_as(store, clock, "ice-2017", "courts", rec(store, events))
    assert not r.activated and r.key_id == party_signer("courts").verifier_key.split("+")[1]
    assert at(store, inside) == "approvals"
    with pytest.raises(DuplicateApproval, match="courts already approved ice-2017 version 1") as dup:
        approve_as(store, clock, "ice-2017", "courts", rec(store))
    assert dup.value.rule == "approvals.duplicate"
    assert at(store, inside) == "approvals"  # the same approver twice is still one
    clock.set(T0 + timedelta(hours=2))
    r = approve_as(store, clock, "ice-2017", "police", rec(store, events), version="1")
    assert r.activated and r.approvers == frozenset({"courts", "police"})
    assert at(store, inside) == "allow"
    assert [e["action"] for e in events] == ["apply", "approve", "approve", "activate"]
    assert all(e["kind"] == "admin" and e["agreement_id"] == "ice-2017" for e in events)
    assert events[-1]["agreement_version"] == r.hash
    with store.read() as conn:
        history = load_history(conn, "ice-2017")
    # Approvals are dated: before the second one, the version did not serve.
    assert not history.serving(T0 + timedelta(hours=1, minutes=30)).approved
    assert history.serving(T0 + timedelta(hours=2)).approved


def test_unknown_versions_are_rejected_and_a_hash_prefix_names_one(store: Store) -> None:
    clock = FixedClock(T0)
    applied = apply(store, clock, ice())
    with pytest.raises(InvalidInput, match=r"^version:"):
        approve_as(store, clock, "ice-2017", "courts", rec(store), "7")
    with pytest.raises(NotFound):
        approve_as(store, clock, "nope", "courts", rec(store))
    r = approve_as(store, clock, "ice-2017", "courts", rec(store), applied.hash[:8])
    assert r.number == 1


def test_newer_unapproved_amendment_does_not_stop_the_approved_version(store: Store) -> None:
    clock = FixedClock(T0)
    v1 = apply(store, clock, ice())
    approve_as(store, clock, "ice-2017", "courts", rec(store))
    approve_as(store, clock, "ice-2017", "police", rec(store))
    clock.set(T0 + timedelta(days=1))
    raw = ice()
    raw["search"]["max_results"] = 10
    v2 = apply(store, clock, raw)
    inside = datetime(2017, 10, 1, tzinfo=EDT)
    with store.read() as conn:
        assert serving_version(conn, "ice-2017", inside).hash == v1.hash
    approve_as(store, clock, "ice-2017", "district_attorney", rec(store))
    approve_as(store, clock, "ice-2017", "courts", rec(store))
    with store.read() as conn:
        assert serving_version(conn, "ice-2017", inside).hash == v2.hash


def test_an_amendment_cannot_lower_its_own_approval_bar(store: Store) -> None:
    clock = FixedClock(T0)
    apply(store, clock, ice())
    approve_as(store, clock, "ice-2017", "courts", rec(store))
    approve_as(store, clock, "ice-2017", "police", rec(store))
    v1 = load_hash(store, 1)
    apply(store, clock, ice(approvals={"required": 1, "of": ["police"]}, title="lowered"))
    approve_as(store, clock, "ice-2017", "police", rec(store))
    inside = datetime(2017, 10, 1, tzinfo=EDT)
    with store.read() as conn:
        assert serving_version(conn, "ice-2017", inside).hash == v1  # still the old one
    with store.read() as conn:
        h = load_history(conn, "ice-2017")
    assert not h.is_approved(2)


def load_hash(store: Store, number: int) -> str:
    with store.read() as conn:
        return load_history(conn, "ice-2017").versions[number - 1].hash


def approved_ice(store: Store, clock: FixedClock, **changes: Any) -> None:
    apply(store, clock, ice(**changes))
    approve_as(store, clock, "ice-2017", "courts", rec(store))
    approve_as(store, clock, "ice-2017", "police", rec(store))


def test_term_end_and_termination_to_the_second(store: Store) -> None:
    clock = FixedClock(T0)
    approved_ice(store, clock)
    assert at(store, END) == "allow"
    assert at(store, END + timedelta(seconds=1)) == "term.end"
    now = datetime(2018, 3, 1, 8, 0, tzinfo=EDT)
    clock.set(now)
    cut = datetime(2018, 3, 1, 17, 0, 0, tzinfo=EDT)
    events: list[dict[str, Any]] = []
    t = terminate(
        store,
        clock,
        "ice-2017",
        cut,
        "audit findings",
        by="da",
        record_admin_event=rec(store, events),
    )
    assert not t.forced
    assert events[0]["action"] == "terminate" and events[0]["justification"] == "audit findings"
    assert at(store, cut) == "allow"
    assert at(store, cut + timedelta(seconds=1)) == "term.end"
    # History stays: the version, its approvals and the termination are all there.
    with store.read() as conn:
        h = load_history(conn, "ice-2017")
    assert len(h.versions) == 1 and len(h.versions[0].approvals) == 2
    assert h.status(cut + timedelta(seconds=1)) == "terminated"
    assert h.status(cut) == "active"


def test_termination_in_the_past_needs_force_and_is_recorded(store: Store) -> None:
    clock = FixedClock(datetime(2018, 3, 1, 12, 0, tzinfo=EDT))
    approved_ice(store, clock)
    past = datetime(2018, 2, 1, tzinfo=EDT)
    with pytest.raises(InvalidInput, match=r"^effective_at: .* in the past"):
        terminate(store, clock, "ice-2017", past, "breach", by="da", record_admin_event=rec(store))
    t = terminate(
        store, clock, "ice-2017", past, "breach", by="da", force_past=True, record_admin_event=rec(store)
    )
    assert t.forced
    with store.read() as conn:
        assert load_history(conn, "ice-2017").terminations[0].forced
    # Now is allowed without force (to the second), later terminations only move earlier.
    with pytest.raises(InvalidInput, match="already terminated"):
        terminate(store, clock, "ice-2017", clock.now(), "again", by="da", record_admin_event=rec(store))


def test_termination_affects_no_other_agreement(store: Store) -> None:
    clock = FixedClock(T0)
    approved_ice(store, clock)
    fbi = yaml.safe_load((FIXTURES / "fbi-2017.yaml").read_text())
    apply(store, clock, fbi)
    approve_as(store, clock, "fbi-2017", "courts", rec(store))
    approve_as(store, clock, "fbi-2017", "police", rec(store))
    clock.set(datetime(2018, 1, 1, tzinfo=EDT))
    terminate(store, clock, "ice-2017", clock.now(), "ended", by="da", record_admin_event=rec(store))
    later = datetime(2018, 2, 1, tzinfo=EDT)
    assert at(store, later) == "term.end"
    with store.read() as conn:
        v = serving_version(conn, "fbi-2017", later)
    assert v.terminated_at is None
    assert decide(v, Request.search({"purpose": "C", "case_number": "c"}), later).allowed


def test_an_amendment_cannot_undo_a_termination_but_a_renewal_can_follow(store: Store) -> None:
    clock = FixedClock(T0)
    approved_ice(store, clock)
    clock.set(datetime(2018, 1, 1, tzinfo=EDT))
    cut = datetime(2018, 1, 15, tzinfo=EDT)
    terminate(store, clock, "ice-2017", cut, "ended", by="da", record_admin_event=rec(store))
    # An amendment of the same term, fully approved, stays terminated.
    apply(store, clock, ice(title="amended after termination"))
    approve_as(store, clock, "ice-2017", "courts", rec(store))
    approve_as(store, clock, "ice-2017", "police", rec(store))
    assert at(store, datetime(2018, 2, 1, tzinfo=EDT)) == "term.end"
    # A renewal with a new term starting after the termination serves in its term.
    apply(store, clock, ice(term={"start": "2018-09-01T00:00:00-04:00", "end": "2019-08-31T23:59:59-04:00"}))
    approve_as(store, clock, "ice-2017", "courts", rec(store))
    approve_as(store, clock, "ice-2017", "district_attorney", rec(store))
    assert at(store, datetime(2018, 10, 1, tzinfo=EDT)) == "allow"
    assert at(store, datetime(2018, 8, 1, tzinfo=EDT)) == "term.start"


def test_renewal_by_new_version_with_new_term(store: Store) -> None:
    clock = FixedClock(T0)
    approved_ice(store, clock)
    after = END + timedelta(days=30)
    assert at(store, after) == "term.end"
    apply(store, clock, ice(term={"start": "2017-09-01T00:00:00-04:00", "end": "2019-08-31T23:59:59-04:00"}))
    approve_as(store, clock, "ice-2017", "courts", rec(store))
    approve_as(store, clock, "ice-2017", "police", rec(store))
    assert at(store, after) == "allow"


def add_arrest(conn: Connection, arrest_id: str) -> None:
    # Only the columns the records room currently has (its schema is still moving).
    values = {
        "arrest_id": arrest_id,
        "person_id": "P-1",
        "agency": "PPD",
        "district": "24",
        "arrested_at": "2018-06-01T13:10:00-04:00",
        "arrested_utc": to_utc_naive(datetime(2018, 6, 1, 17, 10, tzinfo=UTC)),
        "arrest_type": "T",
        "location": None,
        "updated_seq": 1,
    }
    conn.execute(insert(arrests).values({k: v for k, v in values.items() if k in arrests.c}))


def test_warrants_registry(store: Store) -> None:
    clock = FixedClock(datetime(2018, 6, 2, 9, 0, tzinfo=EDT))
    apply(store, clock, ice())
    apply(store, clock, ice(id="dea-2018", partner="DEA"))
    with store.write() as conn:
        add_arrest(conn, "A-1")
        add_arrest(conn, "A-2")
    expires = datetime(2018, 7, 1, 0, 0, 0, tzinfo=EDT)
    filed: dict[str, Any] = {
        "reference": "W-17",
        "issued_by": "Phila. CCP",
        "agreement_id": "ice-2017",
        "by": "clerk",
    }
    w = add_warrant(store, clock, arrest_id="A-1", expires_at=expires, **filed)
    assert w.added and w.agreement_id == "ice-2017"
    again = add_warrant(store, clock, arrest_id="A-1", expires_at=expires, **filed)
    assert not again.added
    with pytest.raises(InvalidInput, match=r"^reference:"):
        add_warrant(store, clock, arrest_id="A-1", **{**filed, "issued_by": "Other"})
    with pytest.raises(NotFound, match=r"^arrest:"):
        add_warrant(store, clock, arrest_id="A-404", **filed)
    with pytest.raises(NotFound, match=r"^agreement: 'nope-1'"):
        add_warrant(store, clock, arrest_id="A-1", **{**filed, "agreement_id": "nope-1"})
    with pytest.raises(InvalidInput, match=r"^agreement: required"):
        add_warrant(store, clock, arrest_id="A-1", **{**filed, "agreement_id": " "})
    with pytest.raises(InvalidInput, match=r"^expires:"):
        add_warrant(store, clock, arrest_id="A-2", expires_at=clock.now() - timedelta(seconds=1), **filed)
    with store.read() as conn:

        def covered(ref: str | None, when: datetime, agreement: str = "ice-2017") -> frozenset[str]:
            return warranted_arrests(conn, ref, ["A-1", "A-2"], when, agreement_id=agreement)

        assert covered("W-17", clock.now()) == {"A-1"}
        assert covered("W-17", expires) == {"A-1"}  # the expiry second is still valid
        assert covered("W-17", expires + timedelta(seconds=1)) == frozenset()
        assert covered("W-17", clock.now() - timedelta(seconds=1)) == frozenset()  # not yet filed
        assert covered("w-17", clock.now()) == frozenset()  # references are exact
        assert covered(None, clock.now()) == frozenset()
        assert covered("W-99", clock.now()) == frozenset()
        assert covered("W-17", clock.now(), "dea-2018") == frozenset()  # filed for ICE's requests only
        assert covered("W-17", clock.now(), "") == frozenset()


def test_a_warrant_filed_before_agreements_were_named_unlocks_nothing(store: Store) -> None:
    """Revision 0010_warrants gives older rows agreement "": they stay on file and cover nothing."""
    from alembic import command
    from sqlalchemy import inspect

    from pars.store.migrate import alembic_config, upgrade
    from pars.store.schema.agreements import warrants

    clock = FixedClock(datetime(2018, 6, 2, 9, 0, tzinfo=EDT))
    apply(store, clock, ice())
    with store.write() as conn:
        add_arrest(conn, "A-1")
    cfg = alembic_config(store)
    with store.engine.connect() as conn:
        cfg.attributes["connection"] = conn.execution_options(pars_write=True) if store.is_sqlite else conn
        command.downgrade(cfg, "0010_warrants-1")
        if conn.in_transaction():
            conn.commit()
    assert "agreement_id" not in {c["name"] for c in inspect(store.engine).get_columns("warrants")}
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO warrants (reference, arrest_id, issued_by, added_at, added_utc, added_by) "
            "VALUES ('W-OLD', 'A-1', 'CCP', '2018-06-01T09:00:00-04:00', '2018-06-01 13:00:00', 'clerk')"
        )
    upgrade(store)
    with store.read() as conn:
        assert conn.execute(select(warrants.c.agreement_id)).scalar_one() == ""
        for agreement in ("ice-2017", ""):
            found = warranted_arrests(conn, "W-OLD", ["A-1"], clock.now(), agreement_id=agreement)
            assert found == frozenset()
    # Filed again for an agreement, the same warrant covers that agreement's requests.
    filed: dict[str, Any] = {"reference": "W-OLD", "issued_by": "CCP", "agreement_id": "ice-2017", "by": "c"}
    add_warrant(store, clock, arrest_id="A-1", **filed)
    with store.read() as conn:
        later = clock.now() + timedelta(seconds=1)
        assert warranted_arrests(conn, "W-OLD", ["A-1"], later, agreement_id="ice-2017") == {"A-1"}
