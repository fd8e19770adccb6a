"""A small document model (headings, paragraphs, tables, images, preformatted text,
bullet lists) and its two renderings: Markdown and self-contained HTML.

The report is built once as a `Document` and rendered by both, so index.md and index.html
always say the same thing. The HTML embeds images as base64 data: URIs with inline CSS and
no scripts or external URLs, so it opens offline and travels as one file.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# ------------------------------------------------------------------ document model


@dataclass(frozen=True)
class Code:
    """Inline code (a command, a path): monospace in both formats, never reinterpreted."""

    text: str


@dataclass(frozen=True)
class Link:
    """A link to a file beside the report or an anchor in it (never an external URL)."""

    text: str
    href: str


Inline = str | Code | Link
"""A piece of running text: plain text (escaped by each renderer), code or a link."""


@dataclass(frozen=True)
class Heading:
    """A section title; level 1 is the report's title, 2 the sections (listed in Contents)."""

    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    """Running text made of inline pieces."""

    parts: tuple[Inline, ...]


@dataclass(frozen=True)
class Table:
    """A table of already formatted cells; `align` is one of l/r/c per column (default:
    the first column left, the others right, as most columns here hold numbers)."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    align: str = ""

    def alignment(self) -> str:
        """One of l/r/c per column, `align` padded with the default."""
        default = "l" + "r" * (len(self.header) - 1)
        return self.align + default[len(self.align) :]


@dataclass(frozen=True)
class Image:
    """A PNG figure: `src` is its path relative to reports/ (for Markdown), `png` its bytes
    (embedded in HTML)."""

    src: str
    caption: str
    png: bytes


@dataclass(frozen=True)
class Preformatted:
    """Text shown exactly as it is, in a monospace block."""

    text: str


@dataclass(frozen=True)
class BulletList:
    """An unordered list; each item is running text."""

    items: tuple[tuple[Inline, ...], ...]


@dataclass(frozen=True)
class TextFile:
    """A text file beside the report: linked from the Markdown (which sits beside it) and
    included in the HTML (which must stand alone)."""

    href: str
    text: str


Block = Heading | Paragraph | Table | Image | Preformatted | BulletList | TextFile


@dataclass(frozen=True)
class Document:
    """The whole report: its title and its blocks, in reading order."""

    title: str
    blocks: tuple[Block, ...]


def para(*parts: Inline) -> Paragraph:
    """A paragraph of the given pieces (shorthand used by every section)."""
    return Paragraph(tuple(parts))


def slug(text: str) -> str:
    """A heading's anchor, as GitHub derives it (lowercase, punctuation dropped, dashes)."""
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


# -------------------------------------------------------------------------- Markdown

_MD_SPECIAL = re.compile(
    r"[\\`*~<]"  # escapes, code, emphasis and strikethrough, HTML and autolinks
    r"|\](?=[(\[:])"  # what would close a link, image or reference definition
    r"|(?<![^\W_])_|_(?![^\W_])"  # `_` next to a letter or digit on both sides is literal
    r"|&(?=#?\w+;)"  # what would read as an entity (`&lt;`)
)
_MD_CELL = re.compile(r"\|")
_MD_LINE_START = re.compile(r"^([#>+=-])|^(\d+)([.)])")


def md_text(text: str, cell: bool = False) -> str:
    """Plain text made literal in Markdown, on one line; in a table `cell`, `|` too.

    Only what could start markup is escaped, so index.md stays readable as plain text
    (`top_p`, `[lo, hi]`, `|Δ| > 2` outside tables are left alone: they cannot be markup).
    """
    escaped = _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), text.replace("\n", " "))
    return _MD_CELL.sub(r"\\|", escaped) if cell else escaped


def md_line(parts: Iterable[Inline]) -> str:
    """Running text as Markdown; a start that would read as a heading, quote or list item
    (`# `, `> `, `- `, `1. `) is escaped."""
    text = "".join(md_inline(p) for p in parts)
    return _MD_LINE_START.sub(
        lambda m: "\\" + m.group(1) if m.group(1) else f"{m.group(2)}\\{m.group(3)}", text
    )


def _longest_run(text: str, char: str) -> int:
    """The longest run of `char` in `text` (a code fence or span must be longer)."""
    return max((len(run) for run in re.findall(f"{re.escape(char)}+", text)), default=0)


def md_label(text: str) -> str:
    """Text inside `[...]` of a link or image: every bracket escaped, so none closes it."""
    return re.sub(r"(?<!\\)([\[\]])", r"\\\1", md_text(text))


def md_dest(href: str) -> str:
    """A link destination; one with spaces or parentheses goes inside `<...>`."""
    return f"<{href}>" if re.search(r"[\s()]", href) else href


def md_inline(part: Inline) -> str:
    """One piece of running text in Markdown."""
    if isinstance(part, Code):
        ticks = "`" * (_longest_run(part.text, "`") + 1)
        pad = " " if part.text.startswith("`") or part.text.endswith("`") else ""
        return f"{ticks}{pad}{part.text}{pad}{ticks}"
    if isinstance(part, Link):
        return f"[{md_label(part.text)}]({md_dest(part.href)})"
    return md_text(part)


def md_table(table: Table) -> str:
    """A GitHub table; `|` in a cell is escaped by `md_text`."""
    rule = {"l": ":---", "r": "---:", "c": ":---:"}
    width = len(table.header)

    def row(cells: Sequence[str]) -> str:
        padded = list(cells[:width]) + [""] * (width - len(cells))
        return "| " + " | ".join(md_text(c, cell=True) for c in padded) + " |"

    lines = [row(table.header), "| " + " | ".join(rule[a] for a in table.alignment()) + " |"]
    return "\n".join(lines + [row(r) for r in table.rows])


def md_block(block: Block) -> str:
    """One block as Markdown (no trailing blank line)."""
    if isinstance(block, Heading):
        return f"{'#' * block.level} {md_text(block.text)}"
    if isinstance(block, Paragraph):
        return md_line(block.parts)
    if isinstance(block, Table):
        return md_table(block)
    if isinstance(block, Image):
        image = f"![{md_label(block.caption)}]({md_dest(block.src)})"
        return f"{image}\n\n*{md_text(block.caption)}*"
    if isinstance(block, Preformatted):
        fence = "`" * max(3, _longest_run(block.text, "`") + 1)
        return f"{fence}text\n{block.text.rstrip()}\n{fence}"
    if isinstance(block, BulletList):
        return "\n".join(f"- {md_line(item)}" for item in block.items)
    return f"Samples: [{md_label(block.href)}]({md_dest(block.href)})"


def render_markdown(doc: Document) -> str:
    """The document as Markdown, images linked relative to reports/."""
    return "\n\n".join(md_block(b) for b in doc.blocks) + "\n"


# ------------------------------------------------------------------------------ HTML

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CSS = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;
background:#fff;max-width:72rem;margin:2rem auto;padding:0 1rem}
h1,h2,h3{line-height:1.25}h2{border-bottom:1px solid #d0d7de;padding-bottom:.3rem;margin-top:2.5rem}
table{border-collapse:collapse;margin:1rem 0;font-size:.875rem;display:block;overflow-x:auto}
th,td{border:1px solid #d0d7de;padding:.3rem .6rem;vertical-align:top}
th{background:#f6f8fa}tbody tr:nth-child(even){background:#f9fafb}
.l{text-align:left}.r{text-align:right;font-variant-numeric:tabular-nums}.c{text-align:center}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.875em}
code{background:#eff1f3;padding:.1em .3em;border-radius:4px}
pre{background:#f6f8fa;padding:1rem;overflow:auto;white-space:pre-wrap;overflow-wrap:anywhere;
max-height:48rem}
figure{margin:1.5rem 0}img{max-width:100%;height:auto}figcaption{color:#59636e;font-size:.9rem}
""".strip()


def h(text: str) -> str:
    """Text made literal in HTML; control characters HTML forbids become U+FFFD."""
    return html.escape(_CONTROL.sub("\ufffd", text), quote=True)


def html_inline(part: Inline) -> str:
    """One piece of running text in HTML."""
    if isinstance(part, Code):
        return f"<code>{h(part.text)}</code>"
    if isinstance(part, Link):
        return f'<a href="{h(part.href)}">{h(part.text)}</a>'
    return h(part)


def html_table(table: Table) -> str:
    """A table, each column aligned by class."""
    align = table.alignment()

    def row(cells: Sequence[str], tag: str) -> str:
        return (
            "<tr>"
            + "".join(
                f'<{tag} class="{a}">{h(c)}</{tag}>' for a, c in zip(align, cells, strict=False)
            )
            + "</tr>"
        )

    body = "\n".join(row(r, "td") for r in table.rows)
    return f"<table>\n<thead>{row(table.header, 'th')}</thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def html_block(block: Block) -> str:
    """One block as HTML."""
    if isinstance(block, Heading):
        return f'<h{block.level} id="{h(slug(block.text))}">{h(block.text)}</h{block.level}>'
    if isinstance(block, Paragraph):
        return "<p>" + "".join(html_inline(p) for p in block.parts) + "</p>"
    if isinstance(block, Table):
        return html_table(block)
    if isinstance(block, Image):
        data = base64.b64encode(block.png).decode("ascii")
        return (
            f'<figure><img src="data:image/png;base64,{data}" alt="{h(block.caption)}">'
            f"<figcaption>{h(block.caption)}</figcaption></figure>"
        )
    if isinstance(block, Preformatted):
        return f"<pre>{h(block.text)}</pre>"
    if isinstance(block, BulletList):
        items = "".join(f"<li>{''.join(html_inline(p) for p in i)}</li>" for i in block.items)
        return f"<ul>{items}</ul>"
    link = f'<p>Samples: <a href="{h(block.href)}">{h(block.href)}</a></p>'
    return f"{link}\n<pre>{h(block.text)}</pre>"


def render_html(doc: Document) -> str:
    """The document as one self-contained HTML page: inline CSS, figures as data: URIs."""
    body = "\n".join(html_block(b) for b in doc.blocks)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{h(doc.title)}</title>\n<style>\n{CSS}\n</style>\n</head>\n"
        f"<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )
