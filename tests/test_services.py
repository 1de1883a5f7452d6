"""Web and console receive services, never a raw Store (issue 14, item 3).

The import-linter contract ``web-services`` keeps ``pars.store``, SQLAlchemy and
psycopg out of ``pars.web`` and ``pars.console``; this checks the running app: what
every route and page gets (``app.state.pars``) holds no store, engine or connection.
"""

from __future__ import annotations

import dataclasses

from sqlalchemy import Connection, Engine

from pars.services import Services
from pars.store.db import Store
from tests.test_gate_fixtures import World, world

__all__ = ["world"]


def test_routes_get_services_and_no_store(world: World) -> None:
    svc = world.app.state.pars
    assert isinstance(svc, Services)
    held = {f.name: getattr(svc, f.name) for f in dataclasses.fields(svc)}
    assert not [name for name, value in held.items() if isinstance(value, Store | Engine | Connection)]
    assert not hasattr(svc, "store") and not hasattr(svc, "log")
