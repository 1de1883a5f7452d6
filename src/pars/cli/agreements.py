"""``pars agreements ...``: apply, list, show, sign, approve, terminate, decide, replay, export-cedar.

Rule: no business logic here; commands parse arguments, call ``pars.agreements``
and print. Admin events reach the audit log only through ``admin_recorder()``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pars.cli.common import console, option_instant, print_json
from pars.clock import SYSTEM_CLOCK, Clock
from pars.errors import InvalidInput

if TYPE_CHECKING:
    from pars.agreements.approval_note import SignerKey
    from pars.agreements.service import AdminEventRecorder
    from pars.store.db import Store

app = typer.Typer(
    name="agreements",
    help="Sharing agreements: versions, approvals, terms, decisions.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON data.")]
ByOption = Annotated[str | None, typer.Option("--by", help="Who does this (default: the login name).")]


def clock() -> Clock:
    return SYSTEM_CLOCK


@contextmanager
def opened() -> Iterator[Store]:
    """The configured store, its connections closed when the command ends."""
    from pars.store import open_store

    store = open_store()
    try:
        yield store
    finally:
        store.dispose()


def admin_recorder() -> AdminEventRecorder:
    """Where applications, approvals, activations and terminations reach the audit log
    (``pars.cli.common.admin_recorder``): without the log's keys, an error, no change."""
    from pars.cli.common import admin_recorder as recorder

    return recorder(clock())


def _user(by: str | None) -> str:
    from pars.cli.common import login_name

    return login_name(by)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8") if str(path) != "-" else typer.get_text_stream("stdin").read()
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read ({exc.strerror})") from None


@app.command("apply")
def apply_cmd(
    file: Annotated[Path, typer.Argument(help="Agreement document, YAML or JSON ('-': stdin).")],
    by: ByOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an agreement or amend it with a new version (identical text: no change)."""
    from pars.agreements.service import apply_document

    with opened() as store:
        result = apply_document(
            store, clock(), _read(file), by=_user(by), record_admin_event=admin_recorder()
        )
    data = {
        "id": result.agreement_id,
        "version": result.number,
        "hash": result.hash,
        "created": result.created,
    }
    if as_json:
        print_json(data)
    elif result.created:
        console.print(f"{result.agreement_id}: version {result.number} applied ({result.hash})")
    else:
        console.print(f"{result.agreement_id}: unchanged, still version {result.number}")


@app.command("list")
def list_cmd(as_json: JsonFlag = False) -> None:
    """Every agreement with its partner, status and serving version."""
    from pars.agreements.service import agreement_ids, load_history

    now = clock().now()
    with opened() as store, store.read() as conn:
        rows = []
        for agreement_id in agreement_ids(conn):
            history = load_history(conn, agreement_id)
            serving = history.serving(now)
            rows.append(
                {
                    "id": agreement_id,
                    "partner": history.partner,
                    "status": history.status(now),
                    "versions": len(history.versions),
                    "serving_version": serving.number if serving.approved else None,
                    "last_second_served": serving.ends_at.isoformat(),
                }
            )
    if as_json:
        print_json(rows)
        return
    for r in rows:
        console.print(
            f"{r['id']:<20} {r['partner']:<8} {r['status']:<17} "
            f"v{r['serving_version'] or '-'} of {r['versions']}  until {r['last_second_served']}",
            highlight=False,
        )


@app.command("show")
def show_cmd(agreement_id: Annotated[str, typer.Argument(metavar="ID")], as_json: JsonFlag = False) -> None:
    """Versions, term, approvals, terminations and status of one agreement."""
    from pars.agreements.service import load_history

    now = clock().now()
    with opened() as store, store.read() as conn:
        data = load_history(conn, agreement_id).describe(now)
    if as_json:
        print_json(data)
        return
    console.print(f"{data['id']} ({data['partner']}): {data['title']}", highlight=False)
    console.print(f"status: {data['status']}; last second served {data['last_second_served']}")
    for v in data["versions"]:
        roles = (
            ", ".join(
                f"{a['party']} (key {a['key_id']})"
                if a["valid"]
                else f"{a['party']} (NOT VERIFIED, not counted)"
                for a in v["approvals"]
            )
            or "none"
        )
        mark = "approved" if v["approved"] else "awaiting approval"
        console.print(
            f"  v{v['number']} {v['hash'][:12]} applied {v['applied_at']} "
            f"term {v['term']['start']} .. {v['term']['end']}; approvals: {roles} ({mark})",
            highlight=False,
        )
    for t in data["terminations"]:
        forced = " (forced, effective in the past)" if t["forced"] else ""
        console.print(f"  terminated: last second {t['effective_at']}{forced}: {t['reason']}")


VersionOption = Annotated[
    str | None, typer.Option("--version", help="Version number or hash prefix (default latest).")
]
KeyOption = Annotated[
    Path | None,
    typer.Option("--key", help="The party's signer key file (from pars parties keygen)."),
]


def _signer(party: str, key: Path) -> SignerKey:
    from pars.agreements.approval_note import SignerKey

    signer = SignerKey.parse(_read(key))
    if signer.name != party:
        raise InvalidInput(f"--key: {key} is {signer.name}'s key; it cannot sign as {party}")
    return signer


@app.command("sign")
def sign_cmd(
    agreement_id: Annotated[str, typer.Argument(metavar="ID")],
    as_: Annotated[str, typer.Option("--as", help="The approving party (the key's name).")],
    key: Annotated[Path, typer.Option("--key", help="The party's signer key file.")],
    version: VersionOption = None,
) -> None:
    """Print PARTY's signed approval note of a version; nothing is stored.

    Give the note to the custodian (pars agreements approve --note, or POST
    /v1/agreements/ID/approvals): it counts once recorded, and only if it verifies.
    """
    from pars.agreements.service import approval_note_for

    signer = _signer(as_, key)
    with opened() as store, store.read() as conn:
        note = approval_note_for(conn, agreement_id, signer, version)
    typer.echo(note, nl=False)


@app.command("approve")
def approve_cmd(
    agreement_id: Annotated[str, typer.Argument(metavar="ID")],
    as_: Annotated[
        str | None,
        typer.Option("--as", help="The approving party (required with --key; checked with --note)."),
    ] = None,
    key: KeyOption = None,
    note: Annotated[
        Path | None,
        typer.Option("--note", help="A signed approval note from pars agreements sign ('-': stdin)."),
    ] = None,
    version: VersionOption = None,
    by: ByOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Record a party's approval: its signature, made here with --key or given with --note.

    The approval counts only if the note verifies against the party's registered
    key (pars parties add) and names this log, this agreement and a version that
    lists the party; the note is written verbatim into the audit log.
    """
    from pars.agreements.approval_note import split_note
    from pars.agreements.service import approval_note_for, approve

    if (key is None) == (note is None):
        raise InvalidInput("give exactly one of --key FILE (sign here) or --note FILE (signed elsewhere)")
    with opened() as store:
        if key is not None:
            if as_ is None:
                raise InvalidInput("--as: required with --key (the party the key approves for)")
            with store.read() as conn:
                text = approval_note_for(conn, agreement_id, _signer(as_, key), version)
        else:
            assert note is not None
            text = _read(note)
            party = split_note(text).approval.party
            if as_ is not None and as_ != party:
                raise InvalidInput(f"--as: the note approves as {party}, not {as_}")
        r = approve(
            store,
            clock(),
            agreement_id,
            text,
            version=version,
            by=_user(by),
            record_admin_event=admin_recorder(),
        )
    data = {
        "id": r.agreement_id,
        "version": r.number,
        "hash": r.hash,
        "party": r.role,
        "key_id": r.key_id,
        "activated": r.activated,
        "approvers": sorted(r.approvers),
        "note": r.note,
    }
    if as_json:
        print_json(data)
        return
    console.print(
        f"{r.role} approved {r.agreement_id} version {r.number} (signature by key {r.key_id} verified)",
        highlight=False,
    )
    if r.activated:
        console.print(f"{r.agreement_id} version {r.number} is now approved and serves requests")


@app.command("terminate")
def terminate_cmd(
    agreement_id: Annotated[str, typer.Argument(metavar="ID")],
    effective_at: Annotated[
        str, typer.Option("--effective-at", help="Last second served, ISO 8601 with offset.")
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded with the termination).")],
    force_past: Annotated[
        bool, typer.Option("--force-past", help="Allow an effective time already past.")
    ] = False,
    by: ByOption = None,
    as_json: JsonFlag = False,
) -> None:
    """End an agreement (all its versions) after the given second; history is kept."""
    from pars.agreements.service import terminate

    at = option_instant("--effective-at", effective_at)
    assert at is not None
    with opened() as store:
        t = terminate(
            store,
            clock(),
            agreement_id,
            at,
            reason,
            by=_user(by),
            force_past=force_past,
            record_admin_event=admin_recorder(),
        )
    data = {
        "id": agreement_id,
        "effective_at": t.effective_at.isoformat(),
        "forced": t.forced,
        "reason": t.reason,
    }
    if as_json:
        print_json(data)
    else:
        console.print(f"{agreement_id}: last second served is now {data['effective_at']}")


@app.command("decide")
def decide_cmd(
    agreement_id: Annotated[str, typer.Argument(metavar="ID")],
    request: Annotated[Path, typer.Option("--request", help="JSON body as for POST /v1/search.")],
    at: Annotated[str | None, typer.Option("--at", help="Instant to decide at (default now).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """What the latest version (approved or not) answers to one request; nothing is logged."""
    from pars.agreements.decide import decide
    from pars.agreements.request import Request
    from pars.agreements.service import load_history

    now = option_instant("--at", at) or clock().now()
    from pars.bounds import load_json

    try:
        body = load_json(_read(request))
    except ValueError as exc:
        raise InvalidInput(f"--request: {exc}") from None
    req = Request.parse(body)
    with opened() as store, store.read() as conn:
        history = load_history(conn, agreement_id)
    version = history.as_version(history.latest.number, now, assume_approved=True)
    d = decide(version, req, now)
    plan = d.plan
    data: dict[str, Any] = {
        "decision": d.decision,
        "rule": d.rule,
        "violations": list(d.violations),
        "fields": sorted(plan.shown) if plan else [],
        "masked": dict(sorted(plan.masked.items())) if plan else {},
        "agreement_version": d.agreement_version,
        "detail": d.detail,
    }
    if as_json:
        print_json(data)
        return
    console.print(f"{d.decision} ({d.rule}) under version {history.latest.number}", highlight=False)
    if d.detail:
        console.print(d.detail, highlight=False)
    if len(d.violations) > 1:
        console.print("every clause broken: " + ", ".join(d.violations), highlight=False)
    if plan:
        console.print("fields: " + ", ".join(data["fields"]), highlight=False)
        for path, mask in data["masked"].items():
            console.print(f"masked: {path} ({mask})", highlight=False)


def _fixture_entries(path: Path) -> Iterator[tuple[int, Mapping[str, Any]]]:
    for n, line in enumerate(_read(path).splitlines()):
        if not line.strip():
            continue
        item = json.loads(line)
        if isinstance(item, dict) and "entry" in item and "index" in item:
            yield int(item["index"]), item["entry"]
        else:
            yield n, item


def audit_entries(log: Path | None, store: Store, partner: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """The logged entries replay reads: the partner's requests in the audit log, or a
    JSON Lines file of entries given with ``--log``."""
    from pars.audit import open_log

    if log is not None:
        yield from _fixture_entries(log)
        return
    # Checked entry bytes in one snapshot, up to the newest published checkpoint.
    from pars.audit.text_store import stream_with_texts

    with open_log(store) as view:
        # As typed: a committed filter or sort name is decided again under its own name.
        for index, entry in stream_with_texts(view.conn, view.entries(kind="access")):
            if entry.get("agency") == partner:
                yield index, entry


@app.command("replay")
def replay_cmd(
    file: Annotated[Path, typer.Argument(help="Draft agreement document (YAML or JSON).")],
    from_: Annotated[str | None, typer.Option("--from", help="Earliest logged time.")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Latest logged time.")] = None,
    log: Annotated[
        Path | None, typer.Option("--log", help="Audit entries as JSON Lines instead of the log.")
    ] = None,
    ignore_term: Annotated[
        bool, typer.Option("--ignore-term", help="Judge every clause but the draft's term.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Decide every logged request of the draft's partner again under the draft."""
    from pars.agreements.decide import AgreementVersion
    from pars.agreements.document import parse_document
    from pars.agreements.history import VersionRecord
    from pars.agreements.replay import logged_requests, replay
    from pars.agreements.service import agreement_ids, load_history

    doc = parse_document(_read(file))
    draft_hash = doc.version_hash()
    terminated_at = None
    with opened() as store, store.read() as conn:
        if doc.id in agreement_ids(conn):
            history = load_history(conn, doc.id)
            nxt = VersionRecord(history.latest.number + 1, draft_hash, doc, clock().now(), "draft")
            caps = [t.effective_at for t in history.terminations if t.applies_to(nxt)]
            terminated_at = min(caps) if caps else None
    draft = AgreementVersion(doc.id, 0, draft_hash, doc, True, terminated_at=terminated_at)
    with opened() as store:
        report = replay(
            draft,
            logged_requests(audit_entries(log, store, doc.partner)),
            start=option_instant("--from", from_),
            end=option_instant("--to", to),
            ignore_term=ignore_term,
        )
    data = report.to_dict()
    if as_json:
        print_json(data)
        return
    console.print(
        f"{data['replayed']} requests replayed; {data['changed']} decisions change "
        f"({data['allow_to_deny']} allow->deny, {data['deny_to_allow']} deny->allow)",
        highlight=False,
    )
    for c in report.changes:
        console.print(
            f"  #{c.index} {c.time} {c.user}: {c.before['decision']} ({c.before['rule']}) -> "
            f"{c.after['decision']} ({c.after['rule']})",
            highlight=False,
        )


@app.command("export-cedar")
def export_cedar_cmd(
    agreement_id: Annotated[str, typer.Argument(metavar="ID")],
    version: Annotated[str | None, typer.Option("--version", help="Default: latest.")] = None,
) -> None:
    """Print a version as Cedar policies, one @id per clause."""
    from pars.agreements.cedar import to_cedar
    from pars.agreements.service import load_history

    now = clock().now()
    with opened() as store, store.read() as conn:
        history = load_history(conn, agreement_id)
    v = history.version(version)
    typer.echo(to_cedar(history.as_version(v.number, now)), nl=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app)
