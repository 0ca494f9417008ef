"""A plain-HTML verdict at the top of the Data Docs index, readable without network access.

GX Data Docs pull jQuery, Bootstrap and bootstrap-table from CDNs and fill the index's table of
validation results with JavaScript, so on a host without internet access the index lists
nothing (GX issues #994 and #8734, closed as not planned). The validation pages themselves
render as plain HTML. This module writes the run's verdict, its failures and links to every
validation page into the index as static HTML, so the Data Docs are usable offline too.
"""

from __future__ import annotations

import html
import logging
import re
from pathlib import Path
from urllib.parse import quote, unquote

from checks.report import CheckReport, cell_text

log = logging.getLogger(__name__)

MARKER = "tradeguard-verdict"
_BODY = re.compile(r"<body[^>]*>", re.IGNORECASE)
_STYLE = (
    "font-family:sans-serif;margin:12px;padding:12px;border:2px solid {colour};"
    "border-radius:6px;background:#fff;color:#111"
)


def _e(value: object) -> str:
    return html.escape(cell_text(value))


def _failures(report: CheckReport) -> list[str]:
    parts: list[str] = []
    for outcome in report.failures:
        count = "" if outcome.unexpected_count is None else f" ({outcome.unexpected_count} row(s))"
        parts.append(f"<h3>FAIL <code>{_e(outcome.name)}</code> on {_e(outcome.batch)}"
                     f"{_e(count)}</h3><p>{_e(outcome.detail)}</p>")
        if outcome.sample:
            columns = list(dict.fromkeys(k for row in outcome.sample for k in row))
            head = "".join(f"<th>{_e(c)}</th>" for c in columns)
            body = "".join(
                "<tr>" + "".join(f"<td>{_e(row.get(c))}</td>" for c in columns) + "</tr>"
                for row in outcome.sample
            )
            parts.append(f"<table border='1' cellpadding='3' style='border-collapse:collapse'>"
                         f"<tr>{head}</tr>{body}</table>")
    return parts


def _links(docs_dir: Path) -> list[str]:
    pages = sorted((docs_dir / "validations").rglob("*.html"))
    items = [
        f"<li><a href='{html.escape(quote(p.relative_to(docs_dir).as_posix()))}'>"
        f"{html.escape(unquote(p.relative_to(docs_dir / 'validations').as_posix()))}</a></li>"
        for p in pages
    ]
    return ["<h3>Validation results</h3><ul>", *items, "</ul>"] if items else []


def section(report: CheckReport, docs_dir: Path) -> str:
    """Return the static HTML verdict of a report, linking the run's validation pages."""
    colour = "#1a7f37" if report.success else "#cf222e"
    notes = "".join(f"<li>{_e(note)}</li>" for note in report.notes)
    parts = [
        f"<section id='{MARKER}' style='{_STYLE.format(colour=colour)}'>",
        f"<h2 style='color:{colour}'>{_e(report.summary())}</h2>",
        *_failures(report),
        f"<ul>{notes}</ul>" if notes else "",
        *_links(docs_dir),
        "</section>",
    ]
    return "\n".join(parts)


def inject_verdict(index: Path | None, report: CheckReport) -> None:
    """Write the report's verdict at the top of a Data Docs index (replacing an older one)."""
    if index is None or not index.is_file():
        return
    page = index.read_text(encoding="utf-8")
    page = re.sub(rf"<section id='{MARKER}'.*?</section>\n?", "", page, flags=re.DOTALL)
    match = _BODY.search(page)
    if match is None:
        log.warning("data_docs_index_without_body index=%s", index)
        return
    block = section(report, index.parent)
    index.write_text(page[: match.end()] + "\n" + block + "\n" + page[match.end():],
                     encoding="utf-8")
