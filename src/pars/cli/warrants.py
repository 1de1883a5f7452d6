"""``pars warrants add``: put a judicial warrant on file for one arrest and one agreement.

Rule: no business logic here; ``pars.agreements.warrants`` decides what is valid.
"""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from pars.cli.common import console, print_json
from pars.clock import SYSTEM_CLOCK, parse_instant
from pars.errors import InvalidInput

app = typer.Typer(name="warrants", help="Judicial warrants on file.", no_args_is_help=True)


@app.command("add")
def add_cmd(
    arrest: Annotated[str, typer.Option("--arrest", help="The arrest the warrant covers.")],
    reference: Annotated[str, typer.Option("--reference", help="Reference requests cite.")],
    issued_by: Annotated[str, typer.Option("--issued-by", help="The issuing court.")],
    agreement: Annotated[
        str,
        typer.Option(
            "--agreement", help="The agreement whose requests may cite it; it unlocks nothing for any other."
        ),
    ],
    expires: Annotated[
        str | None, typer.Option("--expires", help="Last valid instant, ISO 8601 with offset.")
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who files it.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON data.")] = False,
) -> None:
    """Put a judicial warrant on file for one agreement's requests; they cite it by REF."""
    from pars.agreements.warrants import add_warrant
    from pars.store import open_store

    try:
        expires_at = parse_instant(expires) if expires else None
    except ValueError as exc:
        raise InvalidInput(f"--expires: {exc}") from None
    store = open_store()
    try:
        w = add_warrant(
            store,
            SYSTEM_CLOCK,
            arrest_id=arrest,
            reference=reference,
            issued_by=issued_by,
            agreement_id=agreement,
            expires_at=expires_at,
            by=by or getpass.getuser(),
        )
    finally:
        store.dispose()
    data = {
        "reference": w.reference,
        "arrest_id": w.arrest_id,
        "agreement_id": w.agreement_id,
        "issued_by": w.issued_by,
        "expires": w.expires_at.isoformat() if w.expires_at else None,
        "added": w.added,
    }
    if as_json:
        print_json(data)
    elif w.added:
        console.print(
            f"warrant {w.reference} on file for {w.arrest_id} under {w.agreement_id}", highlight=False
        )
    else:
        console.print(
            f"warrant {w.reference} was already on file for {w.arrest_id} under {w.agreement_id}",
            highlight=False,
        )


def register(root: typer.Typer) -> None:
    root.add_typer(app)
