"""The oversight report as PDF: the HTML page, laid out for print by WeasyPrint.

    pdf_bytes = render_pdf(render_html(store, report))

WeasyPrint draws with Pango, HarfBuzz and fontconfig, which are system libraries,
not Python packages; where one is missing the import fails with an ``OSError`` and
``render_pdf`` raises ``PdfUnavailable`` naming it and how to install it.

Rule: the PDF is rendered from the same HTML as the page, never from a separate
template, and nothing is fetched while rendering (the URL fetcher allows no protocol).
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from pars.errors import ConfigError

#: What to install on Debian or Ubuntu when a library is missing.
SYSTEM_PACKAGES = "libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 fonts-dejavu-core"
_LIBRARY = re.compile(r"cannot load library '([^']+)'")


class PdfUnavailable(ConfigError):
    """WeasyPrint or a system library it needs is missing; the message says which."""

    code = "pdf_unavailable"


def _weasyprint() -> Any:
    try:
        with warnings.catch_warnings():
            # Without HarfBuzz-Subset fonts are embedded whole: a larger PDF, not a wrong one.
            warnings.filterwarnings("ignore", "HarfBuzz-Subset", DeprecationWarning)
            import weasyprint  # heavy, and only the PDF needs it
    except ImportError as exc:
        raise PdfUnavailable(
            f"PDF needs the Python package WeasyPrint, which is not installed ({exc}); "
            "install it with: pip install weasyprint==70.0"
        ) from None
    except OSError as exc:
        found = _LIBRARY.search(str(exc))
        library = found.group(1) if found else str(exc).split(":")[0]
        raise PdfUnavailable(
            f"PDF needs the system library {library}, which WeasyPrint could not load; on Debian or "
            f"Ubuntu install it with: apt-get install -y --no-install-recommends {SYSTEM_PACKAGES}"
        ) from None
    return weasyprint


def unavailable() -> str | None:
    """Why a PDF cannot be made here (the missing package or library), or None if it can."""
    try:
        _weasyprint()
    except PdfUnavailable as exc:
        return str(exc)
    return None


def render_pdf(html: str) -> bytes:
    """The page as PDF bytes (``%PDF-...``); raises ``PdfUnavailable`` if WeasyPrint cannot run."""
    weasyprint = _weasyprint()
    # No protocol is allowed: anything the page referred to would be skipped, not fetched.
    document = weasyprint.HTML(string=html, url_fetcher=weasyprint.URLFetcher(allowed_protocols=()))
    pdf: bytes = document.write_pdf()
    return pdf
