from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from pars.store.db import Store
from pars.store.migrate import alembic_config, current_heads, is_current, upgrade
from pars.store.schema import metadata


def test_migrated_store_has_every_table_and_is_current(store: Store) -> None:
    names = set(inspect(store.engine).get_table_names())
    assert {"events", "persons", "arrests", "parties", "charges", "expungements"} <= names
    assert {"gate_tokens", "console_sessions"} <= names
    assert is_current(store)
    upgrade(store)  # a second upgrade is a no-op
    assert is_current(store)


def test_migrations_build_the_tables_the_code_declares(store: Store) -> None:
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_console_sessions_migration_goes_down_and_up_again(store: Store) -> None:
    cfg = alembic_config(store)
    with store.engine.connect() as conn:
        cfg.attributes["connection"] = conn.execution_options(pars_write=True) if store.is_sqlite else conn
        command.downgrade(cfg, "0005_gate")
        if conn.in_transaction():
            conn.commit()
    assert current_heads(store) == {"0005_gate"}
    assert "console_sessions" not in inspect(store.engine).get_table_names()
    upgrade(store)
    assert is_current(store) and "console_sessions" in inspect(store.engine).get_table_names()


def test_publish_migration_goes_down_and_up_again(store: Store) -> None:
    cfg = alembic_config(store)
    with store.engine.connect() as conn:
        cfg.attributes["connection"] = conn.execution_options(pars_write=True) if store.is_sqlite else conn
        command.downgrade(cfg, "0006_console")
        if conn.in_transaction():
            conn.commit()
    assert current_heads(store) == {"0006_console"}
    assert "audit_cosignatures" not in inspect(store.engine).get_table_names()
    upgrade(store)
    tables = set(inspect(store.engine).get_table_names())
    assert is_current(store) and {"audit_cosignatures", "audit_witnesses", "audit_published"} <= tables
