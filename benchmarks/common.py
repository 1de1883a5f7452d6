"""What the benchmark scripts share: a fresh, migrated store per backend.

Rule: a benchmark's PostgreSQL database is its own, created here and dropped
when the measurement ends, so runs never collide with tests or each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from pars.store.db import Store, normalize_url
from pars.store.migrate import upgrade
from pars.store.schema import parties

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def backend_store(name: str, pg_admin: str, workdir: Path) -> Iterator[Store]:
    """A migrated store: SQLite in ``workdir``, or a new PostgreSQL database via ``pg_admin``."""
    if name == "sqlite":
        store = Store(f"sqlite:///{workdir / 'bench.db'}")
        upgrade(store)
        try:
            yield store
        finally:
            store.dispose()
        return
    admin = create_engine(normalize_url(pg_admin), isolation_level="AUTOCOMMIT")
    db = f"pars_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db}"'))
    store = Store(make_url(normalize_url(pg_admin)).set(database=db).render_as_string(hide_password=False))
    try:
        upgrade(store)
        yield store
    finally:
        store.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()


def search_bodies(store: Store, people: int) -> list[dict[str, Any]]:
    """Realistic audited searches, by name and date of birth, of up to ``people`` distinct
    arrestees: the bodies the wrk benchmarks (http.py, workers.py) rotate over."""
    with store.read() as conn:
        rows = conn.execute(
            select(parties.c.last_name, parties.c.first_name, parties.c.dob)
            .where(parties.c.role == "arrestee", parties.c.dob.is_not(None))
            .distinct()
            .limit(people)
        ).all()
    base = {"purpose": "C", "case_number": "B-1", "justification": "benchmark search"}
    return [
        {**base, "filters": {"last_name": r.last_name, "first_name": r.first_name, "dob": str(r.dob)}}
        for r in rows
    ]
