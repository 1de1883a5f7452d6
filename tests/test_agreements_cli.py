"""``pars agreements ...`` and ``pars warrants add`` through Typer's runner, on both stores;
and replay against a fixture log."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from pars.agreements.decide import AgreementVersion
from pars.agreements.document import parse_document
from pars.agreements.replay import logged_requests, replay
from pars.cli import app
from pars.errors import ParsError
from pars.store.db import Store

FIXTURES = Path(__file__).parent / "fixtures" / "agreements"


@dataclass
class Outcome:
    exit_code: int
    output: str
    stdout: str
    exception: Exception | None = None


@pytest.fixture
def cli(store_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.setenv("PARS_DATABASE_URL", store_url)
    monkeypatch.setenv("PARS_KEY_DIR", str(tmp_path / "log-keys"))
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True) -> Any:
        result: Any = runner.invoke(app, list(args))
        if isinstance(result.exception, ParsError):
            # What ``pars.cli.main`` does: the message on stderr, the error's exit code.
            result = Outcome(result.exception.exit_code, str(result.exception), "")
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result

    invoke("init")
    return invoke


def party_keys(cli: Any, tmp_path: Path, *parties: str) -> dict[str, Path]:
    """``pars parties keygen`` and ``add`` for each party; returns the signer key files."""
    files = {}
    for party in parties:
        files[party] = tmp_path / f"{party}.key"
        verifier = cli("parties", "keygen", party, "--out", str(files[party])).stdout.strip()
        cli("parties", "add", party, "--key", verifier)
    return files


def current_ice(tmp_path: Path) -> Path:
    """The ICE fixture with a term around the real clock (the CLI uses the system clock)."""
    raw = yaml.safe_load((FIXTURES / "ice-2017.yaml").read_text())
    now = datetime.now(UTC).replace(microsecond=0)
    raw["term"] = {
        "start": (now - timedelta(days=1)).isoformat(),
        "end": (now + timedelta(days=365)).isoformat(),
    }
    path = tmp_path / "ice.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_apply_approve_show_list_decide_terminate(cli: Any, tmp_path: Path) -> None:
    doc = current_ice(tmp_path)
    out = json.loads(cli("agreements", "apply", str(doc), "--json").stdout)
    assert out["created"] and out["version"] == 1
    assert not json.loads(cli("agreements", "apply", str(doc), "--json").stdout)["created"]
    listed = json.loads(cli("agreements", "list", "--json").stdout)
    assert listed[0]["status"] == "pending approval"
    keys = party_keys(cli, tmp_path, "courts", "police")
    cli("agreements", "approve", "ice-2017", "--as", "courts", "--key", str(keys["courts"]), "--by", "judge")
    note = tmp_path / "police.note"
    note.write_text(
        cli("agreements", "sign", "ice-2017", "--as", "police", "--key", str(keys["police"])).stdout
    )
    assert (
        json.loads(cli("agreements", "list", "--json").stdout)[0]["status"] == "pending approval"
    )  # sign stores nothing
    r = json.loads(
        cli(
            "agreements", "approve", "ice-2017", "--note", str(note), "--version", out["hash"][:10], "--json"
        ).stdout
    )
    assert r["activated"] and r["party"] == "police" and r["note"] == note.read_text()
    bad = cli("agreements", "approve", "ice-2017", "--as", "mayor", "--key", str(keys["courts"]), ok=False)
    assert bad.exit_code == 2 and "it cannot sign as mayor" in bad.output
    shown = json.loads(cli("agreements", "show", "ice-2017", "--json").stdout)
    assert shown["status"] == "active" and shown["serving_version"]["hash"] == out["hash"]
    assert {a["party"] for a in shown["versions"][0]["approvals"]} == {"courts", "police"}
    assert all(
        a["valid"] and a["note"].startswith("pars-approval/v1\n") for a in shown["versions"][0]["approvals"]
    )

    req = tmp_path / "req.json"
    req.write_text(
        json.dumps({"purpose": "C", "case_number": "c", "justification": "j", "filters": {"ssn": "1"}})
    )
    d = json.loads(cli("agreements", "decide", "ice-2017", "--request", str(req), "--json").stdout)
    assert d == {
        **d,
        "decision": "deny",
        "rule": "fields.hidden_filter.person.ssn",
        "fields": [],
        "masked": {},
    }
    req.write_text(
        json.dumps(
            {"purpose": "C", "case_number": "c", "justification": "j", "filters": {"last_name": "Doe"}}
        )
    )
    d = json.loads(cli("agreements", "decide", "ice-2017", "--request", str(req), "--json").stdout)
    assert d["decision"] == "allow" and "person.last_name" in d["fields"]
    assert d["masked"] == {"person.ssn": "last4"}
    d = json.loads(
        cli(
            "agreements",
            "decide",
            "ice-2017",
            "--request",
            str(req),
            "--at",
            "2001-01-01T00:00:00+00:00",
            "--json",
        ).stdout
    )
    assert d["rule"] == "term.start"

    cedar = cli("agreements", "export-cedar", "ice-2017").stdout
    assert '@id("search.forbid_filters")' in cedar and '["country_of_origin"].containsAny' in cedar

    past = cli(
        "agreements",
        "terminate",
        "ice-2017",
        "--effective-at",
        "2001-01-01T00:00:00+00:00",
        "--reason",
        "x",
        ok=False,
    )
    assert past.exit_code == 2 and "--force-past" in past.output
    soon = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0).isoformat()
    t = json.loads(
        cli(
            "agreements", "terminate", "ice-2017", "--effective-at", soon, "--reason", "review", "--json"
        ).stdout
    )
    assert t["effective_at"] == soon and not t["forced"]
    shown = json.loads(cli("agreements", "show", "ice-2017", "--json").stdout)
    assert shown["last_second_served"] == soon and len(shown["terminations"]) == 1


def test_unknown_agreement_and_bad_document(cli: Any, tmp_path: Path) -> None:
    r = cli("agreements", "show", "nope", ok=False)
    assert r.exit_code == 1 and "no such agreement" in r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (FIXTURES / "ice-2017.yaml")
        .read_text()
        .replace("forbid_filters: [country_of_origin]", "forbid_filters: [race, contry]")
    )
    r = cli("agreements", "apply", str(bad), ok=False)
    assert r.exit_code == 2 and "search.forbid_filters[1]: unknown filter 'contry'" in r.output


def test_apply_and_replay_refuse_an_unknown_key_and_store_nothing(cli: Any, tmp_path: Path) -> None:
    text = (FIXTURES / "ice-2017.yaml").read_text()
    misplaced = tmp_path / "misplaced.yaml"  # forbid_filters belongs under search:
    misplaced.write_text(text + "forbid_filters: [sex]\n")
    nested = tmp_path / "nested.yaml"
    nested.write_text(text.replace("forbid_filters: [", "forbid_filter: ["))
    for path, message in (
        (misplaced, "forbid_filters: unknown key here; did you mean 'search.forbid_filters'?"),
        (nested, "search.forbid_filter: unknown key; did you mean 'forbid_filters'?"),
    ):
        for command in ("apply", "replay"):
            r = cli("agreements", command, str(path), ok=False)
            assert r.exit_code == 2 and message in r.output, (command, r.output)
    assert "ice-2017" not in cli("agreements", "list").output


def test_warrants_add_needs_the_arrest_on_file(cli: Any) -> None:
    r = cli(
        "warrants", "add", "--arrest", "A-404", "--reference", "W-1", "--issued-by", "CCP",
        "--agreement", "ice-2017", ok=False,
    )  # fmt: skip
    assert r.exit_code == 1
    assert "arrest: 'A-404' is not on file" in r.output


def test_warrants_add_files_a_warrant_for_one_agreement(cli: Any, store: Store, tmp_path: Path) -> None:
    from pars.store.ingest import ingest_lines
    from tests.factories import arrest

    cli("agreements", "apply", str(current_ice(tmp_path)))
    ingest_lines(store, [(1, json.dumps(arrest(1)))])
    add = ("warrants", "add", "--arrest", "A-2018-000001", "--reference", "W-1", "--issued-by", "CCP")
    filed = json.loads(cli(*add, "--agreement", "ice-2017", "--json").stdout)
    assert filed["agreement_id"] == "ice-2017" and filed["added"] is True
    again = cli(*add, "--agreement", "ice-2017")
    assert "already on file for A-2018-000001 under ice-2017" in again.output
    missing = cli(*add, "--agreement", "dea-2018", ok=False)
    assert missing.exit_code == 1 and "agreement: 'dea-2018' is not on file" in missing.output
    unbound = cli(*add, ok=False)
    assert unbound.exit_code == 2 and "--agreement" in unbound.output
    assert "--agreement" in cli("warrants", "add", "--help").output


# --- replay against a fixture log ---------------------------------------------------------

EDT = "-04:00"


def entry(time: str, filters: dict[str, str], decision: str, rule: str, **kw: Any) -> dict[str, Any]:
    e = {
        "v": 1,
        "time": f"2018-03-0{time}{EDT}",
        "kind": "request",
        "agreement_id": "ice-2017",
        "agreement_version": "x",
        "agency": "ICE",
        "user": "agent7",
        "action": "search",
        "route": "POST /v1/search",
        "purpose": "C",
        "case_number": "CN-1",
        "justification": "why",
        "warrant": None,
        "filters": filters,
        "sort": [],
        "limit": 10,
        "decision": decision,
        "rule": rule,
        "arrest_ids": [],
        "person_ids": [],
        "fields": [],
        "status": 200,
    }
    e.update(kw)
    return e


LOG = [
    entry("1T10:00:00", {"last_name": "h1"}, "allow", "allow"),
    entry("1T11:00:00", {"district": "24"}, "allow", "allow"),
    entry("2T10:00:00", {"country_of_origin": "MX"}, "deny", "search.forbid_filters.country_of_origin"),
    entry("2T11:00:00", {"sex": "F"}, "allow", "allow"),
    entry("3T09:00:00", {"district": "24"}, "allow", "allow", agency="FBI", agreement_id="fbi-2017"),
    {"v": 1, "time": "2018-03-03T09:00:00-04:00", "kind": "admin", "action": "approve", "agency": "ICE"},
    entry("3T10:00:00", {}, "deny", "purposes", purpose="J"),
]


def draft(**changes: Any) -> AgreementVersion:
    raw = yaml.safe_load((FIXTURES / "ice-2017.yaml").read_text())
    raw["search"].update(changes)
    doc = parse_document(raw)
    return AgreementVersion(doc.id, 0, doc.version_hash(), doc)


def test_replay_reports_which_decisions_change() -> None:
    report = replay(draft(forbid_filters=["country_of_origin", "district"]), logged_requests(enumerate(LOG)))
    assert report.replayed == 5  # the FBI entry and the admin entry are not ICE requests
    assert report.changed == 1 and report.allow_to_deny == 1
    change = report.changes[0]
    assert change.index == 1 and change.after == {
        "decision": "deny",
        "rule": "search.forbid_filters.district",
    }
    same = replay(draft(), logged_requests(enumerate(LOG)))
    assert same.changed == 0


def test_replay_window_and_rate_limit_rebuilt_from_the_log() -> None:
    report = replay(
        draft(rate_limit={"requests": 1, "per": "day"}),
        logged_requests(enumerate(LOG)),
        start=datetime.fromisoformat("2018-03-01T00:00:00-04:00"),
        end=datetime.fromisoformat("2018-03-01T23:59:59-04:00"),
    )
    assert report.replayed == 2
    assert [c.after["rule"] for c in report.changes] == ["search.rate_limit"]


def test_replay_cli_reads_a_fixture_log(cli: Any, tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps({"index": i, "entry": e}) for i, e in enumerate(LOG)))
    raw = yaml.safe_load((FIXTURES / "ice-2017.yaml").read_text())
    raw["search"]["forbid_filters"] = ["country_of_origin", "sex"]
    doc = tmp_path / "draft.yaml"
    doc.write_text(yaml.safe_dump(raw))
    out = json.loads(cli("agreements", "replay", str(doc), "--log", str(log), "--json").stdout)
    assert out["changed"] == 1 and out["changes"][0]["index"] == 3
    # Without --log, replay reads the store's own audit log (empty here).
    empty = json.loads(cli("agreements", "replay", str(doc), "--json").stdout)
    assert empty["replayed"] == 0


def test_a_denied_read_replays_with_the_arrest_it_asked_for() -> None:
    from pars.agreements.replay import LoggedRequest

    read = entry(
        "1T10:00:00",
        {"arrest_id": "A-2018-000042"},
        "deny",
        "not_found",
        action="read",
        route="GET /v1/arrests/{arrest_id}",
        status=404,
    )
    found = LoggedRequest.from_entry(7, read)
    assert isinstance(found, LoggedRequest)
    assert found.request.arrest_id == "A-2018-000042"


def test_error_messages_keep_text_that_looks_like_markup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real entry point (``pars.cli.main``) prints a domain error as it is: Rich once
    read ``[a-z0-9-]`` in the message as a style tag and swallowed it."""
    import sys

    from pars.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text((FIXTURES / "ice-2017.yaml").read_text().replace("id: ice-2017", "id: ICE_2017"))
    from pars.audit import create_keys

    create_keys(tmp_path / "keys")
    monkeypatch.setenv("PARS_KEY_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("PARS_DATABASE_URL", f"sqlite:///{tmp_path / 'pars.db'}")
    monkeypatch.setattr(sys, "argv", ["pars", "agreements", "apply", str(bad)])
    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err
    assert exited.value.code == 2, err
    assert "error: id: String should match pattern '^[a-z0-9-]{1,64}$'" in err, err


def test_replay_counts_rate_windows_as_the_gate_does() -> None:
    """Per (agreement, user), and a request the limit refused does not count: with 2 per
    minute, agent7's third request in a minute is refused, agent8 (a colleague) is not,
    and agent7 is let back in once its two counted requests leave the window."""

    def at(when: str, user: str = "agent7") -> dict[str, Any]:
        return {**entry("1T10:00:00", {"district": "24"}, "allow", "allow", user=user), "time": when}

    log = [
        at("2018-03-01T10:00:00-04:00"),
        at("2018-03-01T10:00:10-04:00"),
        at("2018-03-01T10:00:20-04:00"),  # agent7's third in a minute: refused
        at("2018-03-01T10:00:30-04:00", user="agent8"),
        at("2018-03-01T10:01:05-04:00"),  # 10:00:00 has left the window; 10:00:20 never counted
    ]
    report = replay(draft(rate_limit={"requests": 2, "per": "minute"}), logged_requests(enumerate(log)))
    assert report.replayed == 5
    assert [(c.index, c.after["rule"]) for c in report.changes] == [(2, "search.rate_limit")]


def test_without_the_log_keys_admin_commands_refuse_and_change_nothing(
    store_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No fallback: an admin change without its audit entry does not happen."""
    from pars.store.db import Store

    monkeypatch.setenv("PARS_DATABASE_URL", store_url)
    monkeypatch.setenv("PARS_KEY_DIR", str(tmp_path / "no-keys-here"))
    runner = CliRunner()
    signer = tmp_path / "courts.key"
    made = runner.invoke(app, ["parties", "keygen", "courts", "--out", str(signer)])  # touches no store
    assert made.exit_code == 0 and oct(signer.stat().st_mode & 0o777) == "0o600"
    for args in (
        ["agreements", "apply", str(current_ice(tmp_path))],
        ["parties", "add", "courts", "--key", made.stdout.strip()],
        ["tokens", "issue", "--role", "custodian", "--user", "clerk"],
        [
            "agreements",
            "terminate",
            "ice-2017",
            "--effective-at",
            "2030-01-01T00:00:00+00:00",
            "--reason",
            "r",
        ],
    ):
        result = runner.invoke(app, args)
        assert isinstance(result.exception, ParsError), (args, result.output)
        message = str(result.exception)
        assert "pars init" in message and "PARS_KEY_DIR" in message and "Nothing was changed" in message
    store = Store(store_url)
    try:
        with store.read() as conn:
            for table in ("agreements", "party_keys", "gate_tokens", "audit_leaves"):
                assert conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() == 0, table
    finally:
        store.dispose()
