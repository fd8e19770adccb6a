"""Encoding a corpus split into a token file: documents streamed, each followed by EOT."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from nanoforge.data.corpus import count_documents, iter_texts
from nanoforge.data.memmap import SplitMeta, write_token_file
from nanoforge.tokenizers.base import Tokenizer


def encode_split(
    tokenizer: Tokenizer, corpus: str | Path, split: str, out: str | Path, dtype: np.dtype
) -> SplitMeta:
    """Encode `split` of the Parquet `corpus` into the flat token file `out`."""
    documents = text_bytes = 0

    def counted(texts: Iterable[str]) -> Iterator[str]:
        nonlocal documents, text_bytes
        for text in texts:
            documents += 1
            text_bytes += len(text.encode("utf-8"))
            yield text

    def with_eot(texts: Iterable[str]) -> Iterator[list[int]]:
        eot = [tokenizer.eot_id]
        for ids in tokenizer.encode_iter(texts):
            yield ids
            yield eot

    total = count_documents(corpus, split)
    texts = tqdm(iter_texts(corpus, split), total=total, desc=f"{Path(corpus).stem}/{split}",
                 unit="doc")  # fmt: skip
    tokens = write_token_file(out, with_eot(counted(texts)), dtype)
    return SplitMeta(tokens=tokens, documents=documents, text_bytes=text_bytes)
