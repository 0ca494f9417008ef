"""Render a Report as Markdown (charts as files or data: URIs) and as self-contained HTML."""

from __future__ import annotations

import base64
import html
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from tradeguard.reports.document import Chart, Report, Table

log = logging.getLogger(__name__)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;color:#1d1d1f;line-height:1.45}
h1{font-size:1.6em;border-bottom:2px solid #333;padding-bottom:.2em}
h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.6em 0;font-size:.86em}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f0f0f0} tr:nth-child(even) td{background:#fafafa}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 16px}
dl.facts dt{font-weight:600} dl.facts dd{margin:0}
figure{margin:1em 0} figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.85em;color:#555}
.note{font-size:.85em;color:#555}
"""


def data_uri(png: bytes) -> str:
    """Return a PNG as a data: URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _md_cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def _md_table(table: Table) -> list[str]:
    lines = [f"**{table.title}**", ""] if table.title else []
    if not table.rows:
        return [*lines, "_none_", ""]
    lines.append("| " + " | ".join(table.columns) + " |")
    lines.append("|" + "---|" * len(table.columns))
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    if table.note:
        lines += ["", f"_{table.note}_"]
    return [*lines, ""]


def to_markdown(report: Report, inline_images: bool = False) -> str:
    """Render Markdown; charts link to their PNG files, or are inlined as data: URIs."""
    lines = [f"# {report.title}", ""]
    lines += [f"- **{k}**: {_md_cell(v)}" for k, v in report.facts]
    lines.append("")
    for section in report.sections:
        lines += [f"## {section.heading}", ""]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
        for chart in section.charts:
            target = data_uri(chart.png) if inline_images else chart.name
            lines += [f"![{chart.caption}]({target})", "", f"_{chart.caption}_", ""]
        for table in section.tables:
            lines += _md_table(table)
    return "\n".join(lines).rstrip() + "\n"


def _html_table(table: Table) -> str:
    head = f"<h3>{html.escape(table.title)}</h3>" if table.title else ""
    if not table.rows:
        return head + "<p><em>none</em></p>"
    cols = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table.rows
    )
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    return f"{head}<table><thead><tr>{cols}</tr></thead><tbody>{body}</tbody></table>{note}"


def _html_chart(chart: Chart) -> str:
    alt = html.escape(chart.caption)
    return (
        f'<figure><img alt="{alt}" src="{data_uri(chart.png)}">'
        f"<figcaption>{alt}</figcaption></figure>"
    )


def to_html(report: Report) -> str:
    """Render one self-contained HTML page (charts embedded as base64, no external files)."""
    parts = [
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>{html.escape(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(report.title)}</h1><dl class=\"facts\">",
    ]
    parts += [f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in report.facts]
    parts.append("</dl>")
    for section in report.sections:
        parts.append(f"<h2>{html.escape(section.heading)}</h2>")
        parts += [f"<p>{html.escape(p)}</p>" for p in section.paragraphs]
        parts += [_html_chart(c) for c in section.charts]
        parts += [_html_table(t) for t in section.tables]
    parts.append("</body></html>\n")
    return "".join(parts)


@dataclass(frozen=True)
class WrittenReport:
    """Where a report was written: its directory, Markdown, HTML and chart files."""

    directory: Path
    markdown: Path
    html: Path
    charts: tuple[Path, ...]


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)  # a reader never sees half a report


def write_report(report: Report, directory: Path) -> WrittenReport:
    """Write report.md, report.html, report.json (facts, meta) and the PNGs into directory."""
    directory.mkdir(parents=True, exist_ok=True)
    charts = []
    for chart in report.charts:
        path = directory / chart.name
        _write(path, chart.png)
        charts.append(path)
    markdown = directory / "report.md"
    page = directory / "report.html"
    _write(markdown, to_markdown(report).encode())
    _write(page, to_html(report).encode())
    meta = {"kind": report.kind, "slug": report.slug, "title": report.title,
            "facts": dict(report.facts), "meta": dict(report.meta)}
    _write(directory / "report.json", json.dumps(meta, indent=1, default=str).encode())
    log.info("report_written kind=%s dir=%s charts=%d", report.kind, directory, len(charts))
    return WrittenReport(directory, markdown, page, tuple(charts))
