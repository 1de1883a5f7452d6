"""Reasons read against disguise: normalisation, the lexicon, and its measured precision and recall."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pars.errors import InvalidInput
from pars.oversight import OversightConfig
from pars.oversight.reasons import Lexicon, normalise, phrase_pattern, prototypes, score

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "tests" / "fixtures" / "reasons" / "labelled.jsonl"
DOC = ROOT / "docs" / "oversight-lexicon.md"
LEX = Lexicon.from_config(OversightConfig())


def _labelled() -> list[tuple[str, bool]]:
    rows = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [(r["text"], bool(r["immigration"])) for r in rows if "text" in r]


@pytest.mark.parametrize(
    "text",
    [
        "ｉｍｍｉｇｒａｔｉｏｎ",  # fullwidth (NFKC)
        "Immіgration",  # Cyrillic і (confusables)
        "Im\u200bmigration",  # zero-width space (Cf)
        "deportación",  # Spanish, accent
        "non-citizen",
        "287(g) … removability",
        "visa-overstayer",
        "8 U.S.C. § 1227(a)(2)",
        "Check A# 212-345-678",
    ],
)
def test_the_disguises_of_issue_12_state_immigration(text: str) -> None:
    assert LEX.purposes(text) == {"IMM"}


@pytest.mark.parametrize(
    "text",
    [
        "Visa fraud ring: forged I-94s sold to students",
        "Victim is a Honduran national, robbed at gunpoint",
        "Alien smuggling load house, 8 USC 1324 criminal case",
        "Interstate detainer for outstanding Delaware County warrant",
        "Arrest A-2018-000123 co-defendant",
        "Deportment of the suspect during interview noted",
    ],
)
def test_honest_criminal_reasons_do_not(text: str) -> None:
    assert LEX.purposes(text) == set()


def test_normalise_each_step() -> None:
    assert normalise("ＩＭＭＩＧＲＡＴＩＯＮ") == "immigration"
    assert normalise("de\u00adport\u2060ation") == "deportation"
    assert normalise("Dеportation") == "deportation"  # Cyrillic е
    assert normalise("Ιmmigration") == "immigration"  # Greek capital iota
    assert normalise("Situación") == "situacion"
    assert normalise("plain ascii stays") == "plain ascii stays"
    assert normalise(None) == ""


def test_confusables_come_from_unicode_data_pinned() -> None:
    table = prototypes()
    assert len(table) > 6000  # confusables.txt 13.0.0 has 6,296 single-character sources
    assert table["\u0456"] == "i" and table["\uff49"] == "i" and table["\u0131"] == "i"


def test_a_strong_phrase_is_never_excused_by_a_crime_named_beside_it() -> None:
    assert LEX.purposes("Deportation review, fraud case") == {"IMM"}
    assert LEX.purposes("Immigration, fraud case") == set()  # a weak word is


def test_the_lexicon_is_configurable_and_checked() -> None:
    c = OversightConfig.from_mapping(
        {"purpose_phrases": {"IMM": ["retorno forzoso"]}, "purpose_patterns": {}, "purpose_weak": {}}
    )
    lex = Lexicon.from_config(c)
    assert lex.purposes("Retorno forzoso del sujeto") == {"IMM"}
    assert lex.purposes("deportation") == set()
    with pytest.raises(InvalidInput, match=r"^purpose_patterns\.IMM: "):
        Lexicon.from_config(OversightConfig.from_mapping({"purpose_patterns": {"IMM": ["(unclosed"]}}))
    with pytest.raises(InvalidInput, match="at least one word"):
        phrase_pattern("  ...  ")


def test_precision_and_recall_on_the_labelled_set_are_published() -> None:
    labelled = _labelled()
    assert len(labelled) >= 200
    assert sum(w for _, w in labelled) >= 100 and sum(not w for _, w in labelled) >= 100
    s = score(LEX, labelled)
    assert s.precision >= 0.95 and s.recall >= 0.95, s.line()
    doc = DOC.read_text(encoding="utf-8")
    published = (
        doc.split("<!-- measured by tests/test_oversight_reasons.py -->", 1)[1].strip().splitlines()[0]
    )
    assert published == s.line(), f"docs/oversight-lexicon.md must say: {s.line()}"


def test_every_oversight_setting_is_documented() -> None:
    import dataclasses

    doc = (ROOT / "docs" / "oversight-detectors.md").read_text(encoding="utf-8")
    missing = [f.name for f in dataclasses.fields(OversightConfig) if f"| `{f.name}` |" not in doc]
    assert not missing, f"docs/oversight-detectors.md lacks {missing}"
