"""Reading the clean corpora (`data/clean/*.parquet`) as streams of texts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nanoforge.errors import DataError


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
    """The texts of one split, in file order, read one row group at a time.

    The clean corpora are written in small row groups (`clean.ROW_GROUP_ROWS`), so
    memory stays flat whatever the corpus size. Larger reads (pyarrow's batches span
    row groups, and read ahead on threads) leave the allocators holding many large
    freed buffers: peak memory then grows with the corpus.
    """
    corpus = _open(path)
    for group in range(corpus.num_row_groups):
        table = corpus.read_row_group(group, columns=["text", "split"], use_threads=False)
        yield from table.column("text").filter(pc.equal(table.column("split"), split)).to_pylist()


def count_documents(path: str | Path, split: str) -> int:
    """How many documents a split has (reads only the `split` column)."""
    column = _open(path).read(columns=["split"]).column("split")
    return int(pc.sum(pc.equal(column, split)).as_py() or 0)
