"""``pars oversight report`` (CONTRACT section 6, as JSON, HTML or PDF) and ``transparency``.

Rule: thin. ``pars.oversight.build_report`` computes everything and
``pars.oversight.html``/``pdf`` lay it out; this parses the options, loads the keys
and the thresholds file, and writes the result.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pars.cli.common import err_console, option_instant
from pars.clock import SYSTEM_CLOCK
from pars.errors import InvalidInput

if TYPE_CHECKING:
    from pars.oversight import OversightConfig

app = typer.Typer(
    name="oversight",
    help="Oversight of partner access: detectors over the audit log, and the report.\n\n"
    "Keys come from PARS_KEY_DIR (the HMAC key recognises searches for victims and "
    "witnesses by their hashed names); the store is PARS_DATABASE_URL.",
    no_args_is_help=True,
)


class Format(StrEnum):
    json = "json"
    html = "html"
    pdf = "pdf"


PeriodStart = Annotated[
    str | None, typer.Option("--from", help="Period start, ISO 8601 with offset (inclusive).")
]
PeriodEnd = Annotated[str | None, typer.Option("--to", help="Period end, ISO 8601 with offset (inclusive).")]
OutFile = Annotated[Path | None, typer.Option("--out", help="Write to FILE instead of stdout.")]


def _period(start: str | None, end: str | None) -> tuple[datetime | None, datetime | None]:
    since, until = option_instant("--from", start), option_instant("--to", end)
    if since is not None and until is not None and since > until:
        raise InvalidInput("--from: must not be after --to")
    return since, until


def _config(path: Path | None) -> OversightConfig:
    import yaml

    from pars.oversight import OversightConfig

    if path is None:
        return OversightConfig()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"--config: cannot read {path} ({exc})") from None
    if not isinstance(data, dict):
        raise InvalidInput("--config: must be a mapping of setting names to values")
    return OversightConfig.from_mapping(data)


@app.command()
def report(
    agreement: Annotated[
        str | None, typer.Option("--agreement", help="Only this agreement (default: every agreement).")
    ] = None,
    start: PeriodStart = None,
    end: PeriodEnd = None,
    fmt: Annotated[
        Format,
        typer.Option("--format", help="json, html (one standalone page with plots) or pdf (needs --out)."),
    ] = Format.json,
    out: OutFile = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML file of detector thresholds (see OversightConfig).")
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            envvar="PARS_VERIFIER_KEY",
            help="Verifier key to check the log with (default: the key in PARS_KEY_DIR).",
        ),
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(
            "--processes",
            min=1,
            max=2,
            help="1, or 2 to run half the detectors in a second process (the same report). "
            "Default: 2 for a log of 100,000 entries or more on a machine with two cores.",
        ),
    ] = None,
    bundles: Annotated[
        Path | None,
        typer.Option(
            "--bundles",
            help="Also write one evidence bundle per finding into this folder (each checkable "
            "offline with pars audit check-bundle and the public keys).",
        ),
    ] = None,
) -> None:
    """Verify the log, run every detector over the period, and print the report.

    Findings name users, agreements and audit-log indices (prove each with
    ``pars audit prove --index I``); people appear only as ids.
    """
    from pars.audit import AuditLog, load_keys
    from pars.oversight import build_report
    from pars.store import open_store

    if fmt is Format.pdf and out is None:
        raise InvalidInput("--out: a PDF is written to a file; give --out FILE")
    since, until = _period(start, end)
    thresholds = _config(config)
    keys = load_keys()
    store = open_store()
    try:
        # The head under a stored checkpoint first (as the publisher does each round): the
        # report reads up to the newest published one (without witnesses, this one).
        with store.write() as conn:
            AuditLog(keys).checkpoint_head(conn, force=True)
        data = build_report(
            store,
            agreement_id=agreement,
            start=since,
            end=until,
            hmac_key=keys.hmac_key,
            config=thresholds,
            now=SYSTEM_CLOCK.now(),
            verifier_key=key or keys.verifier_key,
            processes=processes,
        )
        if bundles is not None:
            from pars.oversight.evidence import finding_bundles

            written = finding_bundles(store, data, bundles, key or keys.verifier_key)
            err_console.print(f"wrote {len(written)} evidence bundle(s) in {bundles}", highlight=False)
        if fmt is Format.json:
            text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        else:
            from pars.oversight.html import render_html  # matplotlib: loaded only when drawing

            text = render_html(store, data, config=thresholds)
    finally:
        store.dispose()
    if fmt is Format.pdf:
        from pars.oversight.pdf import render_pdf

        assert out is not None
        out.write_bytes(render_pdf(text))
    elif out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


class PublicFormat(StrEnum):
    json = "json"
    html = "html"


@app.command()
def transparency(
    start: PeriodStart = None,
    end: PeriodEnd = None,
    fmt: Annotated[PublicFormat, typer.Option("--format", help="json or html.")] = PublicFormat.json,
    out: OutFile = None,
) -> None:
    """The public transparency report: requests, denials and people seen per agency, purpose and month.

    Counts from 1 to 9 are shown as "<10", and further counts are withheld where
    the totals would give one away; no user or person is named.
    """
    from pars.oversight.transparency import build_transparency, render_transparency
    from pars.store import open_store

    since, until = _period(start, end)
    store = open_store()
    try:
        data = build_transparency(store, now=SYSTEM_CLOCK.now(), start=since, end=until)
    finally:
        store.dispose()
    if fmt is PublicFormat.json:
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    else:
        text = render_transparency(data)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="oversight")
