"""Create or upgrade a store to the newest schema (``pars init``)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from pars.store.db import Store


def alembic_config(store: Store) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "pars.store:migrations")
    cfg.set_main_option("sqlalchemy.url", store.url.replace("%", "%%"))
    return cfg


def upgrade(store: Store) -> None:
    """Bring the schema to every head; safe to run on an up-to-date store."""
    cfg = alembic_config(store)
    with store.engine.connect() as conn:
        if store.is_sqlite:
            # Our connect hook disables the driver's implicit transactions;
            # alembic manages its own, so run it in plain autocommit-free mode.
            conn = conn.execution_options(pars_write=True)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")
        if conn.in_transaction():
            conn.commit()


def current_heads(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def newest_heads(store: Store) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(store)).get_heads())


def is_current(store: Store) -> bool:
    return current_heads(store) == newest_heads(store)


def require_current(store: Store) -> Store:
    """Fail with an actionable message unless the store is at the newest schema."""
    from pars.errors import ConfigError

    try:
        current = current_heads(store)
    except Exception as exc:  # an unreachable server, a bad file...
        where = store.engine.url.render_as_string(hide_password=True)
        raise ConfigError(f"cannot open the store at {where}: {exc.__class__.__name__}: {exc}") from exc
    if current != newest_heads(store):
        where = store.engine.url.render_as_string(hide_password=True)
        state = "not initialised" if not current else "older than this version of PARS"
        raise ConfigError(f"the store at {where} is {state}; run `pars init`")
    return store
