"""Feed floors: a stream never starts before its subscriber's first open, nor past the newest event."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from pars.gate.floors import head_seq, open_cursor
from pars.store.db import Store
from pars.store.ingest import ingest_lines
from pars.store.schema.gate import gate_feed_floors
from tests.factories import arrest, lines

NOW = datetime(2018, 6, 1, 12, 0, tzinfo=UTC)


def book(store: Store, *numbers: int) -> None:
    ingest_lines(store, lines(*(arrest(n) for n in numbers)))


def test_head_is_the_newest_event_or_zero(store: Store) -> None:
    with store.read() as conn:
        assert head_seq(conn) == 0
    book(store, 1, 2, 3)
    with store.read() as conn:
        assert head_seq(conn) == 3


def test_the_first_open_sets_the_floor_at_the_head_and_later_opens_keep_it(store: Store) -> None:
    book(store, 1, 2)
    with store.write() as conn:
        # No Last-Event-ID: the newest event; a first open records its floor at the head.
        assert open_cursor(conn, "ag-1", "sa1", NOW, None) == 2
        rows = conn.execute(select(gate_feed_floors)).all()
        assert [(r.agreement_id, r.user, r.first_seq) for r in rows] == [("ag-1", "sa1", 2)]
        assert rows[0].first_utc == datetime(2018, 6, 1, 12, 0)
    book(store, 3, 4, 5)
    with store.write() as conn:
        assert open_cursor(conn, "ag-1", "sa1", NOW, 0) == 2  # never before the floor
        assert open_cursor(conn, "ag-1", "sa1", NOW, 1) == 2
        assert open_cursor(conn, "ag-1", "sa1", NOW, 2) == 2
        assert open_cursor(conn, "ag-1", "sa1", NOW, 4) == 4  # between floor and head: as sent
        assert open_cursor(conn, "ag-1", "sa1", NOW, 5) == 5
        assert open_cursor(conn, "ag-1", "sa1", NOW, 6) == 5  # never past the head
        assert open_cursor(conn, "ag-1", "sa1", NOW, None) == 5
        # Still one floor, where it was first set.
        assert [r.first_seq for r in conn.execute(select(gate_feed_floors)).all()] == [2]


def test_each_agreement_and_user_has_its_own_floor(store: Store) -> None:
    book(store, 1)
    with store.write() as conn:
        open_cursor(conn, "ag-1", "sa1", NOW, None)
    book(store, 2, 3)
    with store.write() as conn:
        # A first open with a Last-Event-ID from the past starts at the head, its floor.
        assert open_cursor(conn, "ag-1", "sa2", NOW, 0) == 3
        assert open_cursor(conn, "ag-2", "sa1", NOW, 0) == 3
        assert open_cursor(conn, "ag-1", "sa1", NOW, 0) == 1
        floors = {(r.agreement_id, r.user): r.first_seq for r in conn.execute(select(gate_feed_floors)).all()}
    assert floors == {("ag-1", "sa1"): 1, ("ag-1", "sa2"): 3, ("ag-2", "sa1"): 3}
