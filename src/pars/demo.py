"""``pars demo``: the PARS story end to end on an embedded SQLite store.

Each chapter is a plain function over a ``DemoContext`` so the console, the tests
and the CLI tell the same story. Rule: the demo uses only public room APIs and
synthetic people; it never writes outside its own folder.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from pars.store.db import Store
from pars.store.ingest import Totals, ingest_lines
from pars.store.migrate import upgrade
from pars.store.schema import arrests, charges, events, expungements, parties, persons
from pars.synth import generate

Say = Callable[[str], None]


@dataclass
class DemoContext:
    folder: Path
    arrests: int = 12_000
    seed: int = 2018
    say: Say = print
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def store_url(self) -> str:
        return f"sqlite:///{self.folder / 'pars.db'}"

    @property
    def key_dir(self) -> Path:
        return self.folder / "keys"


def _lines(arrest_count: int, seed: int) -> Iterator[tuple[int, str]]:
    stream = generate(arrests=arrest_count, seed=seed, start=date(2017, 9, 1), days=365)
    for n, ev in enumerate(stream, 1):
        yield n, json.dumps(ev, ensure_ascii=False)


def chapter_records(ctx: DemoContext, store: Store) -> Totals:
    """A year of synthetic Philadelphia bookings, validated and ingested."""
    began = time.perf_counter()
    totals = ingest_lines(store, _lines(ctx.arrests, ctx.seed))
    elapsed = time.perf_counter() - began
    with store.read() as conn:
        n_arrests = conn.scalar(select(func.count()).select_from(arrests)) or 0
        n_people = (
            conn.scalar(select(func.count()).select_from(persons).where(persons.c.kind == "arrestee")) or 0
        )
        arrestees = select(parties.c.country_of_origin).where(parties.c.role == "arrestee").subquery()
        foreign = conn.scalar(
            select(func.count()).select_from(arrestees).where(arrestees.c.country_of_origin != "US")
        )
        n_expunged = conn.scalar(select(func.count()).select_from(expungements)) or 0
        n_events = conn.scalar(select(func.count()).select_from(events)) or 0
        felonies = conn.scalar(
            select(func.count(func.distinct(charges.c.arrest_id))).where(
                charges.c.grade.in_(["F1", "F2", "F3", "F"])
            )
        )
    ctx.facts.update(arrests=n_arrests, events=n_events, expunged=n_expunged)
    ctx.say(
        f"Booked a year of synthetic arrests (Sep 2017 - Aug 2018): {n_events:,} events accepted "
        f"in {elapsed:.1f}s ({totals.rejected} rejected, {totals.warnings} identity warnings)."
    )
    ctx.say(
        f"  {n_arrests:,} arrests of {n_people:,} people; {felonies:,} with a felony charge; "
        f"{foreign or 0:,} arrestees born abroad; {n_expunged} arrests expunged by court order."
    )
    return totals


def run_demo(ctx: DemoContext) -> dict[str, Any]:
    ctx.folder.mkdir(parents=True, exist_ok=True)
    store = Store(ctx.store_url)
    try:
        upgrade(store)
        ctx.say(f"Store: {ctx.folder / 'pars.db'} (SQLite, embedded)")
        chapter_records(ctx, store)
    finally:
        store.dispose()
    return ctx.facts
