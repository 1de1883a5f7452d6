"""Record tables: the accepted booking events and the current state they build.

``events`` is the source of truth (the store can be rebuilt from it); the other
tables are the current view, kept in step in the same transaction. Times are kept
as the sender wrote them (``*_at`` text, with offset) and, where searched or
ordered, as naive UTC (``*_utc``).
"""

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
)

from pars.store.schema.base import BigId, metadata

events = Table(
    "events",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("event_id", String(200), nullable=False, unique=True),
    Column("type", String(16), nullable=False),
    Column("arrest_id", String(64), nullable=False, index=True),
    Column("at", String(40), nullable=False),
    Column("content_sha256", String(64), nullable=False),
    # Canonical JSON of the event; NULL once an expungement order removed it.
    Column("body", Text, nullable=True),
    Column("expunged_by", String(200), nullable=True),
    Column("received_utc", DateTime, nullable=False),
)

persons = Table(
    "persons",
    metadata,
    Column("person_id", String(32), primary_key=True),
    # 'arrestee' identities never merge with 'party' (victim/witness) identities.
    Column("kind", String(10), nullable=False),
    Column("ssn", String(11), nullable=True),
    Column("name_key", String(200), nullable=False),
    Column("dob", String(10), nullable=True),
    Column("created_event", String(200), nullable=False),
    Index("ix_persons_kind_ssn", "kind", "ssn"),
    Index("ix_persons_kind_name_dob", "kind", "name_key", "dob"),
)

arrests = Table(
    "arrests",
    metadata,
    Column("arrest_id", String(64), primary_key=True),
    Column("person_id", String(32), nullable=False, index=True),
    Column("agency", String(32), nullable=False),
    Column("district", String(8), nullable=False, index=True),
    Column("arrested_at", String(40), nullable=False),
    Column("arrested_utc", DateTime, nullable=False, index=True),
    Column("arrest_type", String(1), nullable=False),
    Column("location", String(200), nullable=True),
)

parties = Table(
    "parties",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "arrest_id",
        String(64),
        ForeignKey("arrests.arrest_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("position", Integer, nullable=False),
    Column("role", String(10), nullable=False),
    Column("person_id", String(32), nullable=False, index=True),
    Column("last_name", String(100), nullable=False),
    Column("first_name", String(100), nullable=False),
    Column("last_key", String(100), nullable=False),
    Column("first_key", String(100), nullable=False),
    Column("dob", String(10), nullable=True),
    Column("sex", String(1), nullable=True),
    Column("race", String(1), nullable=True),
    Column("ssn", String(11), nullable=True, index=True),
    Column("country_of_origin", String(2), nullable=True),
    Column("address", String(200), nullable=True),
    Index("ix_parties_name_dob", "last_key", "first_key", "dob"),
)

charges = Table(
    "charges",
    metadata,
    Column(
        "arrest_id",
        String(64),
        ForeignKey("arrests.arrest_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("seq", Integer, primary_key=True),
    Column("statute", String(64), nullable=False, index=True),
    Column("description", String(200), nullable=True),
    Column("grade", String(2), nullable=True, index=True),
    Column("disposition", String(16), nullable=True),
    Column("disposition_utc", DateTime, nullable=True),
)

charging = Table(
    "charging",
    metadata,
    Column(
        "arrest_id",
        String(64),
        ForeignKey("arrests.arrest_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("decision", String(10), nullable=False),
    Column("at", String(40), nullable=False),
    Column("at_utc", DateTime, nullable=False),
)

arraignments = Table(
    "arraignments",
    metadata,
    Column(
        "arrest_id",
        String(64),
        ForeignKey("arrests.arrest_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("held_at", String(40), nullable=False),
    Column("held_utc", DateTime, nullable=False),
    Column("bail_type", String(12), nullable=False),
    Column("bail_amount", Numeric(14, 2), nullable=True),
    Column("commissioner", String(100), nullable=True),
)

custody = Table(
    "custody",
    metadata,
    Column(
        "arrest_id",
        String(64),
        ForeignKey("arrests.arrest_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("released_at", String(40), nullable=False),
    Column("released_utc", DateTime, nullable=False),
    Column("facility", String(100), nullable=True),
)

dispositions = Table(
    "dispositions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "arrest_id",
        String(64),
        ForeignKey("arrests.arrest_id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("seq", Integer, nullable=False),
    Column("disposition", String(16), nullable=False),
    Column("at", String(40), nullable=False),
    Column("at_utc", DateTime, nullable=False),
    Column("event_id", String(200), nullable=False),
)

expungements = Table(
    "expungements",
    metadata,
    Column("arrest_id", String(64), primary_key=True),
    Column("order_ref", String(200), nullable=False),
    Column("at", String(40), nullable=False),
    Column("event_id", String(200), nullable=False),
)
