"""``pars parties keygen|add|list``: the keys whose signatures approve agreements.

Rule: a signer key is written once, mode 0600, never printed; only its verifier
key is shown. Registering or replacing a key is an admin audit entry (no entry,
no change).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pars.cli.common import admin_recorder, console, login_name, print_json, ready_store
from pars.clock import SYSTEM_CLOCK

app = typer.Typer(
    name="parties",
    help="Approving parties' keys: an approval is a signature by the party's own key.",
    no_args_is_help=True,
)


@app.command("keygen")
def keygen_cmd(
    party: Annotated[str, typer.Argument(metavar="PARTY", help="courts, police, district_attorney...")],
    out: Annotated[
        Path, typer.Option("--out", help="Where to write the signer key (mode 0600; never overwritten).")
    ],
) -> None:
    """Make PARTY's Ed25519 signing key (C2SP note signer key) and print its verifier key.

    Keep the key file with the party; register the printed verifier key with
    pars parties add PARTY --key VERIFIER_KEY.
    """
    from pars.agreements.approval_note import SignerKey
    from pars.agreements.parties import write_signer_key

    signer = SignerKey.generate(party)
    write_signer_key(out, signer)
    typer.echo(signer.verifier_key)


@app.command("add")
def add_cmd(
    party: Annotated[str, typer.Argument(metavar="PARTY")],
    key: Annotated[str, typer.Option("--key", help="The party's verifier key name+keyid+base64.")],
    by: Annotated[str | None, typer.Option("--by", help="Who does this (default: the login name).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON data.")] = False,
) -> None:
    """Register the key whose signatures approve for PARTY, or replace it (logged)."""
    from pars.agreements.parties import add_party_key

    store = ready_store()
    try:
        done = add_party_key(
            store,
            SYSTEM_CLOCK,
            party,
            key,
            by=login_name(by),
            record_admin_event=admin_recorder(SYSTEM_CLOCK),
        )
    finally:
        store.dispose()
    if as_json:
        print_json(
            {
                **done.key.to_json(),
                "changed": done.changed,
                "replaced_key": done.replaced.verifier_key if done.replaced else None,
            }
        )
    elif not done.changed:
        console.print(f"{party}: key {done.key.key_id} already registered; nothing changed", highlight=False)
    elif done.replaced is not None:
        console.print(
            f"{party}: key {done.replaced.key_id} replaced by {done.key.key_id} (logged)", highlight=False
        )
    else:
        console.print(f"{party}: key {done.key.key_id} registered (logged)", highlight=False)


@app.command("list")
def list_cmd(as_json: Annotated[bool, typer.Option("--json", help="Print JSON data.")] = False) -> None:
    """Each party's current key (and how many it replaced)."""
    from pars.agreements.parties import key_history

    store = ready_store()
    try:
        with store.read() as conn:
            history = key_history(conn)
    finally:
        store.dispose()
    rows = [
        {**keys[-1].to_json(), "replaced_keys": [k.verifier_key for k in keys[:-1]]}
        for _, keys in sorted(history.items())
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no party keys registered (pars parties add PARTY --key VERIFIER_KEY)")
    for r in rows:
        replaced = f"; replaced {len(r['replaced_keys'])}" if r["replaced_keys"] else ""
        console.print(
            f"{r['party']:<20} {r['verifier_key']}  added {r['added_at']} by {r['added_by']}{replaced}",
            highlight=False,
        )


def register(root: typer.Typer) -> None:
    root.add_typer(app)
