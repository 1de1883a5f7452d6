from sqlalchemy import inspect

from pars.store.db import Store
from pars.store.migrate import is_current, upgrade


def test_migrated_store_has_every_table_and_is_current(store: Store) -> None:
    names = set(inspect(store.engine).get_table_names())
    assert {"events", "persons", "arrests", "parties", "charges", "expungements"} <= names
    assert is_current(store)
    upgrade(store)  # a second upgrade is a no-op
    assert is_current(store)
