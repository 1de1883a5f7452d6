"""All tables, one module per room; every module adds to the one ``metadata``.

Rule: a table changes only together with a migration in ``store/migrations``.
"""

from pars.store.schema import agreements as agreements  # the agreements room
from pars.store.schema import audit as audit  # the audit log room
from pars.store.schema import console as console  # the console's sessions
from pars.store.schema import gate as gate  # the gate room
from pars.store.schema import publish as publish  # the log published to witnesses
from pars.store.schema.base import metadata
from pars.store.schema.records import (
    arraignments,
    arrests,
    charges,
    charging,
    custody,
    dispositions,
    events,
    expungements,
    parties,
    persons,
)

__all__ = [
    "arraignments",
    "arrests",
    "charges",
    "charging",
    "custody",
    "dispositions",
    "events",
    "expungements",
    "metadata",
    "parties",
    "persons",
]
