"""The raw record every source produces, and its CSV form (`data/raw/*.csv`).

One schema for arXiv papers, songs and the builtin corpora, so that every later stage
is the same whatever `data.source` is.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from nanoforge.atomic import atomic_path


@dataclass(frozen=True)
class Record:
    """One document as a source produced it, before cleaning."""

    id: str
    """Stable, source-prefixed id (`arxiv:2202.12139v1`, `genius:378195`, `pydoc:topic:if`)."""
    source: str
    """Where it came from: arxiv, genius, python-docs, python-source, or a CSV's name."""
    kind: str
    """How to clean its text: prose, lyrics or verbatim (see config.TextKind)."""
    title: str
    """Paper title, song title, doc topic or module path."""
    text: str
    """Abstract, lyrics, documentation or source code."""
    url: str = ""
    """Where a person can read it."""
    authors: str = ""
    """Authors or artist, `; `-separated."""
    tags: str = ""
    """Categories or other labels, space-separated."""
    date: str = ""
    """Publication date, ISO 8601 when known."""


RECORD_COLUMNS = tuple(f.name for f in fields(Record))


@dataclass(frozen=True)
class Written:
    """What `write_records_csv` wrote."""

    records: int
    text_bytes: int


def write_records_csv(path: str | Path, records: Iterable[Record]) -> Written:
    """Write records as a UTF-8 CSV (quoted multi-line fields) atomically, streaming.

    If `records` raises part-way (a crawl that fails), the previous file is untouched.
    """
    count = text_bytes = 0
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=RECORD_COLUMNS, quoting=csv.QUOTE_MINIMAL)
        writer.writeheader()
        for record in records:
            writer.writerow(asdict(record))
            count += 1
            text_bytes += len(record.text.encode("utf-8"))
    return Written(count, text_bytes)
