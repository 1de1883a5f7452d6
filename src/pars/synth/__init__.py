"""Synthetic booking streams for a Philadelphia-like city (``pars synth``).

>>> from datetime import date
>>> from pars.synth import generate
>>> first = next(generate(1000, seed=1, start=date(2017, 9, 1), days=365))

Rule: deterministic. The same arguments give byte-identical streams, and no value
is ever a real person's identifier (see ``people`` for the SSN ranges).
"""

from __future__ import annotations

from pars.synth.generator import ArrestSpec, Profile, generate
from pars.synth.people import Person, is_synthetic_ssn
from pars.synth.statutes import Charge, charge
from pars.synth.timeline import CITY_TZ

__all__ = [
    "CITY_TZ",
    "ArrestSpec",
    "Charge",
    "Person",
    "Profile",
    "charge",
    "generate",
    "is_synthetic_ssn",
]
