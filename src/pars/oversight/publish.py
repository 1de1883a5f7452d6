"""Every report in one folder: the oversight report as JSON, HTML and PDF, and the transparency page.

    paths = write_reports(store, folder, hmac_key=keys.hmac_key, now=clock.now(), key_dir=key_dir)
    paths["html"]  # folder / "oversight-report.html"

The PDF is written only where WeasyPrint can run; elsewhere ``paths`` has no
"pdf" (``pars.oversight.pdf.unavailable()`` says why), so a demo never fails for
want of Pango.

Rule: the report is built once and every format is laid out from that one dict,
so the JSON, the page and the PDF always agree.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from pars.oversight.html import render_html
from pars.oversight.pdf import PdfUnavailable, render_pdf
from pars.oversight.report import build_report
from pars.oversight.transparency import build_transparency, render_transparency
from pars.store.db import Store

FILES = {
    "json": "oversight-report.json",
    "html": "oversight-report.html",
    "pdf": "oversight-report.pdf",
    "transparency": "transparency.html",
}


def write_reports(
    store: Store, folder: Path, *, hmac_key: bytes, now: datetime, key_dir: str | None
) -> dict[str, Path]:
    """Write the reports into ``folder`` (created if need be) and return their paths by format."""
    folder.mkdir(parents=True, exist_ok=True)
    report = build_report(store, hmac_key=hmac_key, now=now, key_dir=key_dir)
    paths = {kind: folder / name for kind, name in FILES.items()}
    paths["json"].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    page = render_html(store, report)
    paths["html"].write_text(page, encoding="utf-8")
    try:
        paths["pdf"].write_bytes(render_pdf(page))
    except PdfUnavailable:
        del paths["pdf"]
    paths["transparency"].write_text(
        render_transparency(build_transparency(store, now=now)), encoding="utf-8"
    )
    return paths
