"""Pennsylvania statutes and how a synthetic arrest's charge list is drawn.

Each offense family has a top charge and the lesser included charges a Philadelphia
booking typically lists with it. Frequencies follow the shape of the city's arrest
mix (drugs, theft, assault and DUI most common). Pure: takes a ``random.Random``.

Rule: every grade here is one of CONTRACT section 1's grades, and a charge list has
1 to 4 charges numbered ``seq`` from 1.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

GRADES: tuple[str, ...] = ("F1", "F2", "F3", "F", "M1", "M2", "M3", "M", "S")

#: Gravity order used to pick bail and disposition odds (lower index = graver).
GRAVITY: dict[str, int] = {g: i for i, g in enumerate(GRADES)}

#: key -> (statute citation, description)
STATUTES: dict[str, tuple[str, str]] = {
    "simple_assault": ("18 § 2701(a)(1)", "Simple assault"),
    "agg_assault_sbi": ("18 § 2702(a)(1)", "Aggravated assault - serious bodily injury"),
    "agg_assault_weapon": (
        "18 § 2702(a)(4)",
        "Aggravated assault - bodily injury with deadly weapon",
    ),
    "reap": ("18 § 2705", "Recklessly endangering another person"),
    "terroristic_threats": (
        "18 § 2706(a)(1)",
        "Terroristic threats with intent to terrorize another",
    ),
    "harassment": ("18 § 2709(a)(1)", "Harassment - subject other to physical contact"),
    "criminal_mischief": ("18 § 3304(a)(5)", "Criminal mischief - damage property"),
    "burglary_person_present": (
        "18 § 3502(a)(1)",
        "Burglary - overnight accommodation, person present",
    ),
    "burglary_no_person": (
        "18 § 3502(a)(4)",
        "Burglary - not adapted for overnight accommodation, no person present",
    ),
    "criminal_trespass": (
        "18 § 3503(a)(1)(i)",
        "Criminal trespass - enter structure by subterfuge",
    ),
    "defiant_trespass": ("18 § 3503(b)(1)(i)", "Defiant trespass - actual communication"),
    "robbery_serious": ("18 § 3701(a)(1)(ii)", "Robbery - threat of immediate serious injury"),
    "robbery_bodily": ("18 § 3701(a)(1)(iv)", "Robbery - inflict or threaten bodily injury"),
    "robbery_force": ("18 § 3701(a)(1)(v)", "Robbery - take property from other by force"),
    "theft": ("18 § 3921(a)", "Theft by unlawful taking - movable property"),
    "rsp": ("18 § 3925(a)", "Receiving stolen property"),
    "retail_theft": ("18 § 3929(a)(1)", "Retail theft - take merchandise"),
    "false_identification": ("18 § 4914(a)", "False identification to law enforcement authorities"),
    "resisting": ("18 § 5104", "Resisting arrest or other law enforcement"),
    "disorderly": ("18 § 5503(a)(1)", "Disorderly conduct - engage in fighting"),
    "persons_not_to_possess": ("18 § 6105(a)(1)", "Persons not to possess firearms"),
    "firearm_no_license": ("18 § 6106(a)(1)", "Firearms not to be carried without a license"),
    "firearm_public_phila": ("18 § 6108", "Carrying firearms on public streets in Philadelphia"),
    "pic": ("18 § 907(a)", "Possessing instruments of crime"),
    "possession": (
        "35 § 780-113(a)(16)",
        "Intentional possession of a controlled substance by person not registered",
    ),
    "pwid": (
        "35 § 780-113(a)(30)",
        "Manufacture, delivery, or possession with intent to deliver",
    ),
    "paraphernalia": ("35 § 780-113(a)(32)", "Use or possession of drug paraphernalia"),
    "dui": ("75 § 3802(a)(1)", "DUI: general impairment"),
}


@dataclass(frozen=True, slots=True)
class Charge:
    """One charge as booked; ``seq`` is given when the list is numbered."""

    statute: str
    description: str
    grade: str

    def to_json(self, seq: int) -> dict[str, object]:
        return {"seq": seq, "statute": self.statute, "description": self.description, "grade": self.grade}


def charge(key: str, grade: str) -> Charge:
    """A charge by statute key: ``charge("simple_assault", "M2")``."""
    if grade not in GRAVITY:
        raise ValueError(f"grade: {grade!r} is not one of {' '.join(GRADES)}")
    statute, description = STATUTES[key]
    return Charge(statute, description, grade)


def _value_grade(rng: random.Random) -> str:
    """Theft / receiving stolen property graded by the value taken."""
    value = rng.lognormvariate(5.5, 1.4)
    if value > 2000:
        return "F3"
    if value > 200:
        return "M1"
    return "M2"


def retail_theft_grade(rng: random.Random, priors: int) -> str:
    """18 § 3929(b): first offense under $150 summary, second M2, $150+ M1,
    third offense or over $1,000 F3."""
    value = rng.lognormvariate(4.3, 1.1)
    if priors >= 2 or value > 1000:
        return "F3"
    if value >= 150:
        return "M1"
    return "M2" if priors == 1 else "S"


def _maybe(rng: random.Random, p: float, c: Charge, out: list[Charge]) -> None:
    if rng.random() < p:
        out.append(c)


def _family_charges(family: str, rng: random.Random, retail_priors: int) -> list[Charge]:
    out: list[Charge] = []
    if family == "possession":
        out.append(charge("possession", "M"))
        _maybe(rng, 0.5, charge("paraphernalia", "M"), out)
    elif family == "pwid":
        out.append(charge("pwid", "F"))
        _maybe(rng, 0.85, charge("possession", "M"), out)
        _maybe(rng, 0.3, charge("paraphernalia", "M"), out)
    elif family == "retail_theft":
        out.append(charge("retail_theft", retail_theft_grade(rng, retail_priors)))
        _maybe(rng, 0.15, charge("rsp", "M2"), out)
    elif family == "theft":
        grade = _value_grade(rng)
        out.append(charge("theft", grade))
        _maybe(rng, 0.6, charge("rsp", grade), out)
    elif family == "rsp":
        out.append(charge("rsp", _value_grade(rng)))
    elif family == "simple_assault":
        out.append(charge("simple_assault", "M2"))
        _maybe(rng, 0.4, charge("reap", "M2"), out)
        _maybe(rng, 0.3, charge("harassment", "S"), out)
    elif family == "agg_assault":
        if rng.random() < 0.55:
            out.append(charge("agg_assault_sbi", "F1"))
        else:
            out.append(charge("agg_assault_weapon", "F2"))
        _maybe(rng, 0.9, charge("simple_assault", "M2"), out)
        _maybe(rng, 0.6, charge("reap", "M2"), out)
        _maybe(rng, 0.4, charge("pic", "M1"), out)
    elif family == "dui":
        out.append(charge("dui", "M"))
    elif family == "firearms":
        if rng.random() < 0.25:
            out.append(charge("persons_not_to_possess", "F2"))
        out.append(charge("firearm_no_license", "F3"))
        _maybe(rng, 0.85, charge("firearm_public_phila", "M1"), out)
    elif family == "robbery":
        r = rng.random()
        key, grade = (
            ("robbery_serious", "F1")
            if r < 0.5
            else ("robbery_bodily", "F2")
            if r < 0.75
            else ("robbery_force", "F3")
        )
        out.append(charge(key, grade))
        _maybe(rng, 0.7, charge("theft", "M1"), out)
        _maybe(rng, 0.4, charge("rsp", "M1"), out)
        _maybe(rng, 0.4, charge("simple_assault", "M2"), out)
    elif family == "burglary":
        if rng.random() < 0.45:
            out.append(charge("burglary_person_present", "F1"))
        else:
            out.append(charge("burglary_no_person", "F2"))
        _maybe(rng, 0.7, charge("criminal_trespass", "F3"), out)
        _maybe(rng, 0.5, charge("theft", "M1"), out)
        _maybe(rng, 0.3, charge("rsp", "M1"), out)
    elif family == "disorderly":
        out.append(charge("disorderly", "M3" if rng.random() < 0.6 else "S"))
    elif family == "criminal_mischief":
        out.append(charge("criminal_mischief", "M3" if rng.random() < 0.55 else "S"))
    elif family == "trespass":
        if rng.random() < 0.4:
            out.append(charge("criminal_trespass", "F3"))
        else:
            out.append(charge("defiant_trespass", "M3"))
    elif family == "threats":
        out.append(charge("terroristic_threats", "M1"))
        _maybe(rng, 0.5, charge("harassment", "S"), out)
        _maybe(rng, 0.2, charge("simple_assault", "M2"), out)
    elif family == "harassment":
        out.append(charge("harassment", "S"))
    else:  # pragma: no cover - FAMILIES and this function move together
        raise ValueError(f"unknown offense family {family!r}")
    return out


#: Offense family -> share of arrests (relative weights).
FAMILIES: dict[str, float] = {
    "possession": 14,
    "pwid": 11,
    "retail_theft": 9,
    "theft": 6,
    "rsp": 2,
    "simple_assault": 10,
    "agg_assault": 6,
    "dui": 10,
    "firearms": 6,
    "robbery": 4,
    "burglary": 4,
    "disorderly": 5,
    "criminal_mischief": 3,
    "trespass": 3,
    "threats": 3,
    "harassment": 2,
}
_FAMILY_NAMES = tuple(FAMILIES)
_FAMILY_CUM = tuple(itertools.accumulate(FAMILIES.values()))

#: Families whose arrests usually name a victim.
VICTIM_FAMILIES = frozenset(
    {
        "simple_assault",
        "agg_assault",
        "robbery",
        "burglary",
        "theft",
        "threats",
        "harassment",
        "criminal_mischief",
    }
)


def draw_family(rng: random.Random) -> str:
    return rng.choices(_FAMILY_NAMES, cum_weights=_FAMILY_CUM)[0]


def draw_charges(family: str, rng: random.Random, retail_priors: int = 0) -> list[Charge]:
    """The booked charges for one arrest: top charge first, 1 to 4 in all."""
    out = _family_charges(family, rng, retail_priors)
    _maybe(rng, 0.05, charge("resisting", "M2"), out)
    _maybe(rng, 0.02, charge("false_identification", "M3"), out)
    return out[:4]


def top_grade(charges: list[Charge] | tuple[Charge, ...]) -> str:
    return min((c.grade for c in charges), key=GRAVITY.__getitem__)


_DOWNGRADES: dict[str, tuple[str, str]] = {
    "18 § 2702(a)(1)": ("agg_assault_weapon", "F2"),
    "18 § 3701(a)(1)(ii)": ("robbery_bodily", "F2"),
    "18 § 3701(a)(1)(iv)": ("robbery_force", "F3"),
    "18 § 3502(a)(1)": ("burglary_no_person", "F2"),
    "35 § 780-113(a)(30)": ("possession", "M"),
    "18 § 3503(a)(1)(i)": ("defiant_trespass", "M3"),
    "18 § 2706(a)(1)": ("harassment", "S"),
}


def modify(charges: list[Charge], rng: random.Random) -> list[Charge]:
    """The DA's amended list: a top charge downgraded, a lesser one dropped, or one added.

    Always differs from ``charges``.
    """
    out = list(charges)
    top = out[0]
    r = rng.random()
    if top.statute in _DOWNGRADES and r < 0.5:
        out[0] = charge(*_DOWNGRADES[top.statute])
    elif len(out) > 1 and r < 0.8:
        del out[rng.randrange(1, len(out))]
    elif len(out) < 4:
        extra = charge("pic", "M1") if GRAVITY[top.grade] < GRAVITY["M"] else charge("reap", "M2")
        out.append(extra if extra not in out else charge("resisting", "M2"))
    else:
        out.pop()
    if out == charges:  # the added charge was already there: drop the last one instead
        out = out[:-1] if len(out) > 1 else [charge("disorderly", "M3")]
    return out
