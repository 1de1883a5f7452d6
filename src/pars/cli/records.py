"""``pars init``, ``pars ingest``, ``pars synth``: the records room's commands."""

from __future__ import annotations

import typer

from pars.cli.common import console
from pars.store import open_store
from pars.store.migrate import upgrade


def init() -> None:
    """Create or migrate the store (PARS_DATABASE_URL) and the log's signing key."""
    store = open_store()
    upgrade(store)
    console.print(f"store ready: {store.engine.url.render_as_string(hide_password=True)}")


def register(app: typer.Typer) -> None:
    app.command("init")(init)
