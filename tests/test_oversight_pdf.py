"""The oversight report as PDF (WeasyPrint), and the CLI's --format json|html|pdf and --out."""

from __future__ import annotations

import builtins
import json
import re
import zlib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pars.cli import app
from pars.errors import InvalidInput
from pars.oversight.pdf import PdfUnavailable, render_pdf
from tests.test_oversight_html import City, check_page, drive
from tests.test_oversight_story import city  # noqa: F401  (the fixture)

runner = CliRunner()


def pages(pdf: bytes) -> int:
    """Page objects in a PDF, looking inside its compressed object streams too.

    Each stream is inflated from its ``stream`` keyword to the end of its zlib data.
    Cutting it at ``\r?\nendstream`` instead took a last data byte 0x0D for part of
    the line end, so that stream did not inflate (about one stream in 256), and a
    report whose page objects sat in it counted 0 pages.
    """
    inflated = []
    for m in re.finditer(rb"(?<!end)stream\r?\n", pdf):
        try:
            inflated.append(zlib.decompressobj().decompress(pdf[m.end() :]))
        except zlib.error:
            continue
    return len(re.findall(rb"/Type\s*/Page\b", pdf + b"".join(inflated)))


def test_a_small_page_becomes_a_pdf() -> None:
    pdf = render_pdf(
        '<!DOCTYPE html><html lang="en"><head><title>t</title></head><body><p>hi</p></body></html>'
    )
    assert pdf.startswith(b"%PDF-") and pages(pdf) == 1


def test_the_cli_writes_the_report_as_json_html_and_pdf(
    city: City,  # noqa: F811
    store_url: str,
    tmp_path: Path,
) -> None:
    report = drive(city, misuse=True)
    env = {"PARS_DATABASE_URL": store_url, "PARS_KEY_DIR": str(tmp_path / "keys")}
    out = tmp_path / "report.pdf"
    made = runner.invoke(app, ["oversight", "report", "--format", "pdf", "--out", str(out)], env=env)
    assert made.exit_code == 0, made.output
    pdf = out.read_bytes()
    assert pdf.startswith(b"%PDF-") and pages(pdf) >= 3
    html = runner.invoke(app, ["oversight", "report", "--format", "html"], env=env)
    assert html.exit_code == 0, html.output
    page = check_page(html.stdout)
    assert page.text_of("log-root") == report["log"]["root_hex"]
    assert "finding-1" in page.ids
    saved = tmp_path / "report.html"
    again = runner.invoke(app, ["oversight", "report", "--format", "html", "--out", str(saved)], env=env)
    assert again.exit_code == 0 and again.stdout == ""
    assert saved.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    as_json = runner.invoke(app, ["oversight", "report", "--format", "json"], env=env)
    assert json.loads(as_json.stdout)["log"]["root_hex"] == report["log"]["root_hex"]
    nowhere = runner.invoke(app, ["oversight", "report", "--format", "pdf"], env=env)
    assert isinstance(nowhere.exception, InvalidInput) and str(nowhere.exception).startswith("--out:")


def _importing(error: BaseException) -> Any:
    real = builtins.__import__

    def fake(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "weasyprint" or name.startswith("weasyprint."):
            raise error
        return real(name, *args, **kwargs)

    return fake


@pytest.mark.parametrize(
    ("error", "names"),
    [
        (
            OSError(
                "cannot load library 'libpango-1.0-0': libpango-1.0-0: cannot open shared object file: "
                "No such file or directory"
            ),
            ["system library libpango-1.0-0", "apt-get install", "libpangoft2-1.0-0"],
        ),
        (
            ImportError("No module named 'weasyprint'"),
            ["Python package WeasyPrint", "pip install weasyprint"],
        ),
    ],
)
def test_a_missing_library_is_named_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, error: BaseException, names: list[str]
) -> None:
    monkeypatch.delitem(__import__("sys").modules, "weasyprint", raising=False)
    monkeypatch.setattr(builtins, "__import__", _importing(error))
    with pytest.raises(PdfUnavailable) as caught:
        render_pdf("<p>x</p>")
    assert caught.value.exit_code == 2
    assert all(n in str(caught.value) for n in names), str(caught.value)


def test_write_reports_puts_every_format_in_one_folder(
    city: City,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pars.oversight.publish import write_reports

    store, _, log, _ = city
    report = drive(city, misuse=True)
    now = log.clock.now()
    keys = str(tmp_path / "keys")
    paths = write_reports(store, tmp_path / "out", hmac_key=log.keys.hmac_key, now=now, key_dir=keys)
    assert sorted(paths) == ["html", "json", "pdf", "transparency"]
    assert all(p.parent == tmp_path / "out" and p.stat().st_size > 0 for p in paths.values())
    written = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert written["log"] == report["log"] and written["findings"] == report["findings"]
    assert "finding-1" in check_page(paths["html"].read_text(encoding="utf-8")).ids
    assert "agent7" not in paths["transparency"].read_text(encoding="utf-8")
    check_page(paths["transparency"].read_text(encoding="utf-8"))
    assert paths["pdf"].read_bytes().startswith(b"%PDF-")
    monkeypatch.delitem(__import__("sys").modules, "weasyprint", raising=False)
    monkeypatch.setattr(builtins, "__import__", _importing(ImportError("No module named 'weasyprint'")))
    without = write_reports(store, tmp_path / "bare", hmac_key=log.keys.hmac_key, now=now, key_dir=keys)
    assert "pdf" not in without and not (tmp_path / "bare" / "oversight-report.pdf").exists()
