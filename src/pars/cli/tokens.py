"""``pars tokens issue|revoke|list``: API tokens for partners, custodians and oversight.

Rule: a token is printed once, alone on stdout, by ``issue``; nothing else ever
prints or stores it (only its SHA-256 is kept).
"""

from __future__ import annotations

from typing import Annotated

import typer

from pars.cli.common import admin_recorder, console, login_name, print_json, ready_store
from pars.clock import SYSTEM_CLOCK
from pars.errors import InvalidInput

app = typer.Typer(name="tokens", help="API tokens (shown once, stored only as hashes).", no_args_is_help=True)


@app.command("issue")
def issue_cmd(
    user: Annotated[str, typer.Option("--user", help="The named person the token is for.")],
    agreement: Annotated[
        str | None, typer.Option("--agreement", help="A partner token's agreement id.")
    ] = None,
    role: Annotated[
        str | None, typer.Option("--role", help="custodian or oversight (instead of --agreement).")
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who issues it (default: the login name).")] = None,
) -> None:
    """Issue a token and print it once (the token alone on stdout); the issue is logged."""
    from pars.gate.tokens import issue_token

    if (agreement is None) == (role is None):
        raise InvalidInput("give exactly one of --agreement ID (a partner) or --role custodian|oversight")
    if role is not None and role not in ("custodian", "oversight"):
        raise InvalidInput("--role: must be custodian or oversight")
    store = ready_store()
    try:
        token, _ = issue_token(
            store,
            SYSTEM_CLOCK,
            role=role or "partner",
            user=user,
            agreement_id=agreement,
            by=login_name(by),
            record_admin_event=admin_recorder(SYSTEM_CLOCK),
        )
    finally:
        store.dispose()
    typer.echo(token)


@app.command("revoke")
def revoke_cmd(
    token: Annotated[str, typer.Argument(help="The token, or its id from `pars tokens list`.")],
    by: Annotated[str | None, typer.Option("--by", help="Who revokes it (default: the login name).")] = None,
) -> None:
    """Revoke a token at once (revoking twice is harmless); the revocation is logged."""
    from pars.gate.tokens import revoke_token

    store = ready_store()
    try:
        info = revoke_token(
            store, SYSTEM_CLOCK, token, by=login_name(by), record_admin_event=admin_recorder(SYSTEM_CLOCK)
        )
    finally:
        store.dispose()
    console.print(f"token {info.token_id} ({info.role}, {info.user}) revoked", highlight=False)


@app.command("list")
def list_cmd(as_json: Annotated[bool, typer.Option("--json", help="Print JSON data.")] = False) -> None:
    """Every token issued: id, role, user, agreement, created, revoked (never the token)."""
    from pars.gate.tokens import list_tokens

    store = ready_store()
    try:
        infos = list_tokens(store)
    finally:
        store.dispose()
    if as_json:
        print_json([i.to_json() for i in infos])
        return
    for i in infos:
        state = f"revoked {i.revoked.isoformat()}" if i.revoked else "live"
        console.print(
            f"{i.token_id}  {i.role:<9}  {i.user}  {i.agreement_id or '-'}  {state}", highlight=False
        )


def register(root: typer.Typer) -> None:
    root.add_typer(app)
