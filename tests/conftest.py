"""Fixtures shared by every test room.

``store`` runs each test on SQLite and, when ``PARS_TEST_POSTGRES_URL`` is set, on
PostgreSQL too. Every PostgreSQL test gets its own database cloned from a migrated
template made once per test process, so runs (and xdist workers) never collide.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from pars.store.db import Store, normalize_url
from pars.store.migrate import upgrade

PG_ENV = "PARS_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]


def postgres_admin_url() -> str | None:
    url = os.environ.get(PG_ENV)
    return normalize_url(url) if url else None


def _admin_engine(url: str) -> Engine:
    return create_engine(url, isolation_level="AUTOCOMMIT", pool_size=1)


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tmpl") / "template.db"
    store = Store(f"sqlite:///{path}")
    upgrade(store)
    store.dispose()
    return path


@pytest.fixture(scope="session")
def _pg_template() -> Iterator[tuple[str, str]]:
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (CI sets it)")
    name = f"pars_tmpl_{uuid.uuid4().hex[:12]}"
    eng = _admin_engine(admin)
    with eng.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    store = Store(url)
    upgrade(store)
    store.dispose()
    yield admin, name
    with eng.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    eng.dispose()


def make_store_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        path = tmp_path / "pars.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    admin, template_name = request.getfixturevalue("_pg_template")
    name = f"pars_t_{uuid.uuid4().hex[:16]}"
    eng = _admin_engine(admin)
    with eng.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with eng.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        eng.dispose()


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of a fresh, migrated store; one per backend."""
    yield from make_store_url(request.param, request, tmp_path)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.dispose()


@pytest.fixture
def sqlite_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite store, for tests whose subject is not the database."""
    for url in make_store_url("sqlite", request, tmp_path):
        s = Store(url)
        yield s
        s.dispose()
