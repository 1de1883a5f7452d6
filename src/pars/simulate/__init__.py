"""Simulated partner users, normal and misusing, driven through the gate.

Used by the demo, the oversight tests and the benchmarks. Synthetic only: the
people they look for are the synthetic city's.

Rule: simulated users reach records only through ``pars.gate``.
"""

from pars.simulate.behaviour import BEHAVIOURS, Ask, Behaviour, Persona, asks_for
from pars.simulate.runner import SimulationStats, schedule, simulate
from pars.simulate.team import (
    ANALYSTS,
    EXPECTED,
    FEED_HONEST,
    FEED_TERMS,
    PER_DAY,
    SPLIT,
    detection_team,
    detection_world,
    enrol,
    feed_team,
    run_feed,
)
from pars.simulate.world import Bystander, Target, World, load_world

__all__ = [
    "ANALYSTS",
    "BEHAVIOURS",
    "EXPECTED",
    "FEED_HONEST",
    "FEED_TERMS",
    "PER_DAY",
    "SPLIT",
    "Ask",
    "Behaviour",
    "Bystander",
    "Persona",
    "SimulationStats",
    "Target",
    "World",
    "asks_for",
    "detection_team",
    "detection_world",
    "enrol",
    "feed_team",
    "load_world",
    "run_feed",
    "schedule",
    "simulate",
]
