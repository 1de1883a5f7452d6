"""The store adapter: what oversight may know of each arrest, the scope baseline,
party hashes, and the config and public names it is driven by."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import pars.oversight
from pars.agreements.document import parse_document
from pars.agreements.service import apply_document
from pars.audit import AuditLog, create_keys, keyed_hash
from pars.clock import FixedClock
from pars.errors import InvalidInput
from pars.gate import admin_event_recorder
from pars.oversight import OversightConfig, load_facts
from pars.oversight.reasons import Lexicon
from pars.oversight.strata import Cell
from pars.store.db import Store
from pars.store.ingest import ingest_lines
from tests.factories import arrest, follow, lines, person

KEY = b"h" * 32
FIXTURES = Path(__file__).parent / "fixtures" / "agreements"


def felony(
    n: int, country: str | None, grade: str = "F2", when: str = "2018-02-01T10:00:00-05:00"
) -> dict[str, Any]:
    who = person(f"Name{n}", "Pat", dob="1980-01-01", ssn=f"9{n:02d}-12-{n:04d}")
    if country is not None:
        who["country_of_origin"] = country
    ev = arrest(n, person=who, arrested_at=when)
    ev["charges"] = [
        {"seq": 1, "statute": "18 § 3502(a)(1)", "description": "Burglary", "grade": grade},
        {"seq": 2, "statute": "18 § 3503(a)(1)", "description": "Trespass", "grade": grade},
    ]
    return ev


@pytest.fixture
def filled(store: Store, tmp_path: Path) -> Store:
    ingest_lines(
        store,
        lines(
            felony(1, "US"),
            felony(2, "MX"),
            felony(3, None),  # unknown origin: not foreign-born
            felony(4, "US"),
            felony(5, "GT", grade="S"),  # summary only: non-criminal, and outside ICE's felony scope
            felony(6, "US"),
            felony(7, "SV"),
            felony(8, "US", when="2016-06-01T10:00:00-04:00"),  # before ICE's scope.since
            follow("charging", 1, "c-1", decision="declined"),
            follow(
                "disposition",
                6,
                "d-6",
                charges=[{"seq": 1, "disposition": "withdrawn"}, {"seq": 2, "disposition": "dismissed"}],
            ),
            follow("disposition", 4, "d-4", charges=[{"seq": 1, "disposition": "dismissed"}]),
            follow("expungement", 7, "x-7", order="CP-51-MD-0007-2018"),
        ),
    )
    clock = FixedClock(datetime(2017, 8, 1, tzinfo=UTC))
    apply_document(
        store,
        clock,
        parse_document((FIXTURES / "ice-2017.yaml").read_text()),
        by="clerk",
        record_admin_event=admin_event_recorder(AuditLog(create_keys(tmp_path / "keys")[0], clock)),
    )
    return store


def aid(n: int) -> str:
    return f"A-2018-{n:06d}"


def test_arrest_facts_and_the_scope_baseline(filled: Store) -> None:
    facts = load_facts(
        filled, arrest_ids=[aid(n) for n in range(1, 9)], agreement_ids=["ice-2017"], hmac_key=KEY
    )
    got = {a: (f.foreign_born, f.non_criminal) for a, f in facts.arrests.items()}
    assert got == {
        aid(1): (False, True),  # declined
        aid(2): (True, False),
        aid(3): (False, False),  # origin unknown
        aid(4): (False, False),  # one charge dismissed, one still open
        aid(5): (True, True),  # summary only
        aid(6): (False, True),  # every charge withdrawn or dismissed
        aid(8): (False, False),
    }
    # Expunged: counted by id, known as nothing else.
    assert facts.expunged == {aid(7)} and facts.arrest(aid(7)) is None
    # ICE's scope: felonies since 2017-01-01 -> arrests 1, 2, 3, 4, 6 (5 is summary, 7 expunged, 8 too old).
    base = facts.baselines["ice-2017"]
    assert (base.arrests, base.persons, base.foreign_born_persons, base.non_criminal_arrests) == (5, 5, 1, 2)
    assert facts.partners == {"ice-2017": "ICE"}
    assert set(facts.purposes.values()) == {frozenset({"C"})}


def test_the_baseline_follows_the_period(filled: Store) -> None:
    facts = load_facts(
        filled,
        arrest_ids=[],
        agreement_ids=["ice-2017", "no-such-agreement"],
        hmac_key=KEY,
        start=datetime(2018, 3, 1, tzinfo=UTC),
        end=datetime(2018, 8, 31, tzinfo=UTC),
    )
    assert facts.baselines["ice-2017"].arrests == 0
    assert "no-such-agreement" not in facts.baselines
    # The per-query view's strata reach every date in scope, whatever the period.
    strata = facts.strata["ice-2017"]
    feb1 = datetime(2018, 2, 1).toordinal()
    assert strata.counts((None, None, None)) == Cell(5, 1, 5, 2)
    assert strata.counts((("24",), feb1, feb1)) == Cell(5, 1, 5, 2)
    assert strata.counts((("24",), feb1 + 1, None)) == Cell(0, 0, 0, 0)
    assert strata.counts((("7",), None, None)) == Cell(0, 0, 0, 0)


def test_victims_are_recognised_by_keyed_hashes_only(filled: Store) -> None:
    facts = load_facts(filled, arrest_ids=[], agreement_ids=[], hmac_key=KEY)
    roe = (keyed_hash("last_name", "ROE ", KEY), keyed_hash("first_name", "ann", KEY))
    assert roe in facts.protected_names and roe not in facts.arrestee_names
    doe = (keyed_hash("last_name", "name2", KEY), keyed_hash("first_name", "Pat", KEY))
    assert doe in facts.arrestee_names
    # An expunged arrest's parties are forgotten with it.
    assert (
        keyed_hash("last_name", "Name7", KEY),
        keyed_hash("first_name", "Pat", KEY),
    ) not in facts.arrestee_names
    assert len(facts.protected_persons) >= 2


def test_config_from_a_mapping_refuses_unknown_settings() -> None:
    c = OversightConfig.from_mapping({"alpha": 0.05, "purpose_phrases": {"IMM": ["visa overstay"]}})
    assert c.alpha == 0.05 and c.purpose_phrases == {"IMM": ("visa overstay",)}
    with pytest.raises(InvalidInput, match=r"^alpah: not an oversight setting"):
        OversightConfig.from_mapping({"alpah": 0.05})


def test_purposes_are_read_as_whole_words() -> None:
    lex = Lexicon.from_config(OversightConfig())
    assert lex.purposes("ICE detainer; subject is an illegal alien") == {"IMM"}
    assert lex.purposes("Visa-overstay check before deportation") == {"IMM"}
    assert lex.purposes("Alienated spouse reported the burglary") == set()
    assert lex.purposes("Pre-employment background check") == {"EMP"}
    assert lex.purposes(None) == set()


def test_the_public_names_are_pinned() -> None:
    assert pars.oversight.__all__ == [
        "KINDS",
        "ArrestFact",
        "Baseline",
        "Finding",
        "OversightConfig",
        "RecordFacts",
        "build_report",
        "detectors",
        "find",
        "load_facts",
        "run",
    ]
    assert len(pars.oversight.KINDS) == 8


def test_every_setting_is_documented() -> None:
    import dataclasses
    import inspect

    import pars.oversight.config as module

    source = inspect.getsource(module).splitlines()
    doc = module.__doc__ or ""
    for f in dataclasses.fields(OversightConfig):
        [line] = [i for i, text in enumerate(source) if text.strip().startswith(f"{f.name}:")]
        above = source[line - 1].strip()
        # A comment of its own, a mention in the module docstring, or one of a group
        # (probe_min, probe_medium, probe_high) under the group's comment.
        group = f.name.rsplit("_", 1)[0] + "_"
        assert above.startswith(("#:", group)) or f"``{f.name}``" in doc, f.name
