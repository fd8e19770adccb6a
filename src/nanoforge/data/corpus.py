"""Reading the clean corpora (`data/clean/*.parquet`) as streams of texts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nanoforge.errors import DataError

# Rows per read: enough to amortise Parquet decoding, small enough that memory stays flat.
BATCH_ROWS = 1024


def _open(path: str | Path) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(path)
    except FileNotFoundError:
        raise DataError(f"{path}: not found; run `dvc repro clean_csv`") from None
    except pa.ArrowInvalid as err:
        raise DataError(
            f"{path}: not a Parquet corpus ({err}); run `dvc repro clean_csv`"
        ) from None


def iter_texts(path: str | Path, split: str) -> Iterator[str]:
    """The texts of one split, in file order, read a batch of rows at a time."""
    for batch in _open(path).iter_batches(batch_size=BATCH_ROWS, columns=["text", "split"]):
        texts = batch.column("text").filter(pc.equal(batch.column("split"), split))
        yield from texts.to_pylist()


def count_documents(path: str | Path, split: str) -> int:
    """How many documents a split has (reads only the `split` column)."""
    column = _open(path).read(columns=["split"]).column("split")
    return int(pc.sum(pc.equal(column, split)).as_py() or 0)
