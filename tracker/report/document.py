"""report.md and a self-contained report.html (PNG figures embedded as base64).

Every string that came from the user's data (task, metric, family, size names, notes) is
HTML-escaped in report.html; in report.md, table cells have '|' escaped.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass
from pathlib import Path

CSS = """body{font-family:sans-serif;max-width:1400px;margin:1em auto;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}th{background:#eee}
img{max-width:100%;border:1px solid #ddd;margin:.5em 0}.note{color:#a04000}
ul.findings{border-left:6px solid #c0392b;background:#fdf2f0;padding:.6em 1em .6em 2em;
margin:.5em 0;font-size:15px;line-height:1.45}
details{margin:1em 0}summary{font-weight:bold;cursor:pointer;font-size:1.1em}"""
FINDINGS_RGB = (0xC0, 0x39, 0x2B)  # the findings box's border (the screenshot test looks for it)


@dataclass(frozen=True)
class Section:
    """A heading, optional text, bullet items, a table (header, rows of strings) and
    figures (paths); `folded` puts it inside <details> in the HTML."""

    title: str
    text: str = ""
    header: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    figures: tuple[Path, ...] = ()
    items: tuple[str, ...] = ()
    folded: bool = False


def fmt(value) -> str:
    """Numbers with 3 decimals, NaN/None as '-', the rest as str."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def write_markdown(path: Path, title: str, notes: list[str], sections: list[Section]) -> Path:
    lines = [f"# {title}", ""] + [f"> note: {note}" for note in notes]
    for section in sections:
        lines += ["", f"## {section.title}", ""]
        if section.text:
            lines += [section.text, ""]
        lines += [f"- {_md_cell(item)}" for item in section.items]
        if section.header:
            lines.append("| " + " | ".join(section.header) + " |")
            lines.append("|" + "---|" * len(section.header))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in section.rows]
        for figure in section.figures:
            lines += ["", f"![{figure.stem}]({figure.parent.name}/{figure.name})"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _html_section(section: Section) -> list[str]:
    esc = html.escape
    title = esc(section.title)
    parts = [f"<details><summary>{title}</summary>" if section.folded else f"<h2>{title}</h2>"]
    if section.text:
        parts.append(f"<p>{esc(section.text)}</p>")
    if section.items:
        parts.append("<ul class='findings'>" + "".join(f"<li>{esc(item)}</li>"
                                                       for item in section.items) + "</ul>")
    if section.header:
        head = "".join(f"<th>{esc(h)}</th>" for h in section.header)
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>"
                       for row in section.rows)
        parts.append(f"<table><tr>{head}</tr>{body}</table>")
    for figure in section.figures:
        data = base64.b64encode(figure.read_bytes()).decode("ascii")
        parts.append(f"<img alt='{esc(figure.stem)}' src='data:image/png;base64,{data}'>")
    if section.folded:
        parts.append("</details>")
    return parts


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_html(path: Path, title: str, notes: list[str], sections: list[Section]) -> Path:
    esc = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
             f"<style>{CSS}</style></head><body><h1>{esc(title)}</h1>"]
    parts += [f"<p class='note'>note: {esc(note)}</p>" for note in notes]
    for section in sections:
        parts += _html_section(section)
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
