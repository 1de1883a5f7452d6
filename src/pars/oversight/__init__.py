"""Oversight: detectors over the audit log joined to records, and the report.

    from pars.oversight import OversightConfig, build_report
    report = build_report(store, hmac_key=keys.hmac_key, now=clock.now())

The statistics (``stats``) and the detectors work on plain values; ``facts`` and
``report`` are the adapters that read the store and the log. The report as a page
(``html``), as PDF (``pdf``), the public ``transparency`` report, and
``write_reports`` (all of them into one folder, in ``publish``) load matplotlib
and WeasyPrint, so they are imported from their modules, or lazily from here::

    from pars.oversight import write_reports

Rule: findings name people and records only by ids and audit indices; an expunged
record is only ever counted, never described.
"""

from pars.oversight.config import OversightConfig
from pars.oversight.facts import load_facts
from pars.oversight.model import KINDS, ArrestFact, Baseline, Finding, RecordFacts, run
from pars.oversight.report import build_report, detectors, find


def __getattr__(name: str) -> object:
    # write_reports pulls in matplotlib: only on first use, so importing oversight stays light.
    if name == "write_reports":
        from pars.oversight.publish import write_reports

        return write_reports
    raise AttributeError(f"module 'pars.oversight' has no attribute {name!r}")


__all__ = [
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
