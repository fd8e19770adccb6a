"""CSV files in, clean de-duplicated corpora out: the library behind the clean_csv stage.

Each input is a CSV (our crawlers' raw files, or a user's dataset mapped by
`clean.extra_csv`) read into `Record`s. Every record's text and title are cleaned by
its kind (see textclean), then dropped if empty, too short or too long, or a
duplicate of an earlier record in its corpus (same text, same text up to case and
punctuation, or same id). The survivors are split into train and val by a hash of
their id, so a document always lands in the same split, whatever else changes.

Reading is strict: any problem with a file is a `DataError` of one line naming the
file and the fix. The one tolerated defect is a file cut off inside its last record
(a partial download): the partial record is dropped and counted.
"""

from __future__ import annotations

import ast
import csv
import hashlib
import io
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from nanoforge.atomic import atomic_path
from nanoforge.config import CleanConfig, Corpus, ExtraCsv
from nanoforge.data.records import RECORD_COLUMNS, Record
from nanoforge.data.textclean import clean_text, clean_title
from nanoforge.errors import DataError

log = logging.getLogger(__name__)

CORPORA: tuple[Corpus, ...] = ("general", "domain")
KINDS = ("prose", "lyrics", "verbatim")
SPLITS = ("train", "val")
OUTPUT_COLUMNS = ("id", "source", "title", "text", "tags", "split")
DROP_REASONS = (
    "truncated_record",
    "empty",
    "too_short",
    "too_long",
    "duplicate_exact",
    "duplicate_normalized",
    "duplicate_id",
)
# Rows per Parquet row group: readers stream a corpus one group at a time.
ROW_GROUP_ROWS = 128
# How much of a file is looked at for NUL bytes, the mark of a binary file.
_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class CsvInput:
    """One CSV file and how its columns become records."""

    path: Path
    corpus: Corpus
    """Which corpus its records join: general or domain."""
    columns: Mapping[str, str]
    """Record field -> CSV column (matched ignoring surrounding spaces); `text` is required."""
    source: str
    """Recorded as each record's source (unless a `source` column is mapped) and id prefix."""
    kind: str | None = None
    """prose, lyrics or verbatim; None takes it per row from the mapped `kind` column."""
    encoding: str = "utf-8"
    repair_arxiv_ids: bool = False
    """Restore arXiv ids mangled by a float round-trip (`704.001` -> `0704.0010`)."""
    prefix_ids: bool = True
    """Prefix ids from the id column with `source:`; off for our raw CSVs, already prefixed."""
    label: str = ""
    """Where the input was configured (`clean.extra_csv[2]`), named in errors."""

    def __post_init__(self) -> None:
        if self.corpus not in CORPORA:
            raise ValueError(f"corpus must be general or domain (got {self.corpus!r})")
        if "text" not in self.columns:
            raise ValueError("columns must map the `text` field")
        if self.kind is None and "kind" not in self.columns:
            raise ValueError("kind=None needs a mapped `kind` column")
        if self.kind is not None and self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)} (got {self.kind!r})")


def raw_input(path: str | Path, corpus: Corpus) -> CsvInput:
    """One of our crawlers' raw CSVs: every record column, ids and kinds per row."""
    path = Path(path)
    return CsvInput(
        path=path,
        corpus=corpus,
        columns={name: name for name in RECORD_COLUMNS},
        source=path.stem,
        kind=None,
        prefix_ids=False,
    )


def extra_input(extra: ExtraCsv, root: Path, index: int | None = None) -> CsvInput:
    """A user's CSV from `clean.extra_csv` (`index` names its entry in errors)."""
    return CsvInput(
        path=root / extra.path,
        corpus=extra.corpus,
        columns=dict(extra.columns),
        source=extra.source or Path(extra.path).stem,
        kind=extra.kind,
        encoding=extra.encoding,
        repair_arxiv_ids=extra.repair_arxiv_ids,
        label="clean.extra_csv" + (f"[{index}]" if index is not None else ""),
    )


# --------------------------------------------------------------------- reading


def _read_bytes(inp: CsvInput) -> bytes:
    try:
        data = inp.path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{inp.path}: file not found; {_fix_path(inp)}") from None
    except IsADirectoryError:
        raise DataError(f"{inp.path}: is a folder, not a CSV file; {_fix_path(inp)}") from None
    except OSError as err:
        raise DataError(f"{inp.path}: cannot be read ({err.strerror}); check it") from None
    # UTF-16/32 text is full of NUL bytes; every other text encoding has none.
    wide = inp.encoding.lower().replace("_", "-").startswith(("utf-16", "utf-32", "utf16", "utf32"))
    nul = -1 if wide else data.find(b"\x00", 0, _SNIFF_BYTES)
    if nul >= 0:
        raise DataError(
            f"{inp.path}: binary data (a NUL byte at offset {nul}), not a CSV text file; "
            f"{_fix_path(inp)}"
        )
    return data


def _decode(data: bytes, inp: CsvInput) -> str:
    # Decoded here rather than by pandas so that an error can name the exact byte offset.
    try:
        text = data.decode(inp.encoding)
    except UnicodeDecodeError as err:
        bad = data[err.start : err.start + 4]
        key = f"{inp.label}.encoding" if inp.label else "its encoding"
        raise DataError(
            f"{inp.path}: not valid {inp.encoding} at byte {err.start} ({bad!r}); "
            f"set {key} to the file's encoding (e.g. latin-1 or cp1252) or re-save it as UTF-8"
        ) from None
    text = text.removeprefix("\ufeff")  # a BOM would otherwise stick to the first column name
    if not text.strip():
        raise DataError(f"{inp.path}: the file is empty; it needs a header row and records")
    return text


def _parse(text: str, inp: CsvInput) -> tuple[pd.DataFrame, int]:
    """The CSV as a frame of strings, and how many truncated records were dropped (0 or 1)."""
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
        return frame.fillna(""), 0  # rows with missing trailing fields give NaN
    except pd.errors.ParserError as err:
        if "EOF inside string" not in str(err):
            detail = " ".join(str(err).split())
            raise DataError(
                f"{inp.path}: not a well-formed CSV ({detail}); check its quoting and delimiter"
            ) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{inp.path}: the file is empty; it needs a header row") from None
    # The file ends inside a quoted field: the csv module reads what is there (it does
    # not fail on a missing closing quote) and the last, incomplete record is dropped.
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header, body = rows[0], rows[1:-1]
    for n, row in enumerate(body, start=1):
        if len(row) > len(header):
            raise DataError(
                f"{inp.path}: record {n} has {len(row)} fields but the header has "
                f"{len(header)}; check its quoting and delimiter"
            )
    body = [row + [""] * (len(header) - len(row)) for row in body]
    log.warning("%s: ends inside a quoted field; dropped its incomplete last record", inp.path)
    return pd.DataFrame(body, columns=header, dtype=str), 1


def _resolve_columns(frame: pd.DataFrame, inp: CsvInput) -> dict[str, str]:
    """Record field -> actual column; names match after stripping spaces (`"Song "`)."""
    stripped: dict[str, str] = {}
    for col in frame.columns:
        stripped.setdefault(str(col).strip(), str(col))
    resolved = {}
    for name, wanted in inp.columns.items():
        if wanted in frame.columns:
            resolved[name] = wanted
        elif wanted.strip() in stripped:
            resolved[name] = stripped[wanted.strip()]
        else:
            found = ", ".join(repr(str(c))[:40] for c in list(frame.columns)[:20])
            more = f" and {len(frame.columns) - 20} more" if len(frame.columns) > 20 else ""
            if inp.label:
                where, fix = f"{inp.label}.columns.{name}", f"set {inp.label}.columns.{name}"
            else:
                where, fix = f"the `{name}` field", "re-create the file with its crawl stage"
            raise DataError(
                f"{inp.path}: no column {wanted!r} for {where} (columns found: {found}{more}); "
                f"{fix} to one of these"
            )
    return resolved


def read_records(inp: CsvInput) -> tuple[list[Record], int]:
    """Read one CSV into records (uncleaned), and the number of truncated records dropped."""
    frame, truncated = _parse(_decode(_read_bytes(inp), inp), inp)
    resolved = _resolve_columns(frame, inp)
    values = {name: frame[col].tolist() for name, col in resolved.items()}
    records = []
    for i in range(len(frame)):
        row = {name: str(column[i]) for name, column in values.items()}
        kind = inp.kind or row.get("kind", "").strip()
        if kind not in KINDS:
            raise DataError(
                f"{inp.path}: record {i + 1} has kind {kind!r}, not one of {', '.join(KINDS)}; "
                "re-create the file with its crawl stage"
            )
        source = row.get("source", "").strip() or inp.source
        records.append(
            Record(
                id=_record_id(row, source, inp),
                source=source,
                kind=kind,
                title=row.get("title", ""),
                text=row["text"],
                url=row.get("url", "").strip(),
                authors=row.get("authors", "").strip(),
                tags=parse_tags(row.get("tags", "")),
                date=row.get("date", "").strip(),
            )
        )
    return records, truncated


def _record_id(row: Mapping[str, str], source: str, inp: CsvInput) -> str:
    value = row.get("id", "").strip()
    if not value:
        # No id: a hash of the raw text, so the id (and so the split) survives changes
        # to the cleaning code.
        return f"{source}:{hashlib.sha1(row['text'].encode('utf-8')).hexdigest()[:16]}"
    if inp.repair_arxiv_ids:
        value = repair_arxiv_id(value)
    return f"{source}:{value}" if inp.prefix_ids else value


def _fix_path(inp: CsvInput) -> str:
    return f"check {inp.label}.path" if inp.label else "run the stage that creates it"


# ------------------------------------------------------------------ fields


_FLOAT_MANGLED_ID = re.compile(r"(\d{3,4})\.(\d{1,5})")


def repair_arxiv_id(value: str) -> str:
    """Restore an arXiv id mangled by a float: `704.0001` -> `0704.0001`, `704.001` -> `0704.0010`.

    New-style ids are YYMM.NNNN (to 2014) or YYMM.NNNNN (from 1501); a float loses the
    leading zero of 07..09 and trailing zeros of the number. Anything else (old-style
    `hep-th/9901001`, versioned ids, already valid ids) is returned unchanged.
    """
    m = _FLOAT_MANGLED_ID.fullmatch(value)
    if not m:
        return value
    yymm = m.group(1).zfill(4)
    width = 5 if int(yymm) >= 1501 else 4
    if not 1 <= int(yymm[2:]) <= 12 or len(m.group(2)) > width:
        return value
    return f"{yymm}.{m.group(2).ljust(width, '0')}"


def parse_tags(value: str) -> str:
    """Tags as space-separated words; a Python list literal (`"['cs.CV', 'cs.LG']"`) is unpacked.

    Kaggle CSVs store lists as their Python repr, so `ast.literal_eval` (never eval, never
    JSON: the quotes are single). The items are joined with single spaces as they are.
    """
    value = value.strip()
    if value.startswith("[") and value.endswith("]") and len(value) < 10_000:
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            parsed = None
        if isinstance(parsed, list | tuple) and all(isinstance(t, str) for t in parsed):
            return " ".join(" ".join(parsed).split())
    return " ".join(value.split())


# ---------------------------------------------------------------- cleaning


def normalized_key(text: str) -> str:
    """Text up to case, spacing and punctuation: near-identical copies share it."""
    return re.sub(r"[\W_]+", "", text.casefold())


def split_of(doc_id: str, val_fraction: float) -> str:
    """`val` or `train`, from a hash of the id: stable across runs, machines and inputs."""
    digest = hashlib.sha256(doc_id.encode("utf-8")).digest()
    return "val" if int.from_bytes(digest[:8], "big") / 2**64 < val_fraction else "train"


@dataclass
class _Seen:
    """What one corpus already holds, for de-duplication (first one in input order wins)."""

    texts: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class CleanResult:
    """The clean corpora (columns OUTPUT_COLUMNS, all strings) and the report."""

    general: pd.DataFrame
    domain: pd.DataFrame
    report: dict


def _drop_reason(text: str, doc_id: str, seen: _Seen, cfg: CleanConfig) -> str | None:
    if not text:
        return "empty"
    if len(text) < cfg.min_chars:
        return "too_short"
    if len(text) > cfg.max_chars:
        return "too_long"
    if text in seen.texts:
        return "duplicate_exact"
    key = normalized_key(text)
    if key in seen.keys:
        return "duplicate_normalized"
    if doc_id in seen.ids:
        return "duplicate_id"
    seen.texts.add(text)
    seen.keys.add(key)
    seen.ids.add(doc_id)
    return None


def clean_corpora(inputs: Sequence[CsvInput], cfg: CleanConfig) -> CleanResult:
    """Read, clean, de-duplicate (per corpus, before the split) and split every input."""
    rows: dict[str, list[dict[str, str]]] = {corpus: [] for corpus in CORPORA}
    seen = {corpus: _Seen() for corpus in CORPORA}
    per_input = []
    for inp in inputs:
        records, truncated = read_records(inp)
        dropped: Counter[str] = Counter(truncated_record=truncated)
        kept = 0
        # disable=None: a bar on a terminal, nothing in logs and tests.
        for record in tqdm(records, desc=inp.path.name, unit="doc", disable=None, leave=False):
            text = clean_text(record.text, record.kind, cfg.section_markers)
            reason = _drop_reason(text, record.id, seen[inp.corpus], cfg)
            if reason:
                dropped[reason] += 1
                continue
            kept += 1
            rows[inp.corpus].append(
                {
                    "id": record.id,
                    "source": record.source,
                    "title": clean_title(record.title),
                    "text": text,
                    "tags": record.tags,
                    "split": split_of(record.id, cfg.val_fraction),
                }
            )
        per_input.append(
            {
                "path": str(inp.path),
                "corpus": inp.corpus,
                "source": inp.source,
                "rows_in": len(records) + truncated,
                "rows_out": kept,
                "dropped": {reason: dropped[reason] for reason in DROP_REASONS},
            }
        )
        log.info("%s: %d of %d records kept", inp.path, kept, len(records) + truncated)
    frames = {corpus: _frame(rows[corpus]) for corpus in CORPORA}
    return CleanResult(frames["general"], frames["domain"], _report(frames, per_input))


def _frame(rows: list[dict[str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {col: pd.Series([row[col] for row in rows], dtype="str") for col in OUTPUT_COLUMNS}
    )


def _report(frames: Mapping[str, pd.DataFrame], per_input: list[dict]) -> dict:
    corpora = {}
    for corpus, frame in frames.items():
        lengths = frame["text"].str.len()
        corpora[corpus] = {
            "documents": {s: int((frame["split"] == s).sum()) for s in SPLITS},
            "chars": {s: int(lengths[frame["split"] == s].sum()) for s in SPLITS},
        }
    return {
        "rows_in": sum(i["rows_in"] for i in per_input),
        "rows_out": sum(i["rows_out"] for i in per_input),
        "dropped": {r: sum(i["dropped"][r] for i in per_input) for r in DROP_REASONS},
        "corpora": corpora,
        "inputs": per_input,
    }


# ----------------------------------------------------------------- writing


def write_parquet(df: pd.DataFrame, path: str | Path) -> None:
    """Write `df` as Parquet (pyarrow, no index) atomically: never a half-written file.

    Small row groups let readers stream a corpus without holding it all in memory.
    """
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, engine="pyarrow", index=False, row_group_size=ROW_GROUP_ROWS)
