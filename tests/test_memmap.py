"""Token arrays: written streaming, read back exactly, batched reproducibly, guarded by hash."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nanoforge.data.clean import write_parquet
from nanoforge.data.memmap import CorpusMeta, SplitMeta, TokenSplit, token_dtype, write_token_file
from nanoforge.errors import DataError
from nanoforge.tokenizers.char import CharTokenizer
from nanoforge.tokenizers.encode import encode_split

HASH = "0123456789abcdef"


def make_corpus(folder: Path, ids: list[int], dtype: str = "uint16") -> TokenSplit:
    count = write_token_file(folder / "train.bin", [ids[:7], ids[7:]], np.dtype(dtype))
    meta = CorpusMeta(dtype, 1000, HASH, 999, {"train": SplitMeta(count, 1, 3 * count)})
    meta.save(folder)
    return TokenSplit(folder, "train", HASH)


def test_token_dtype_is_the_smallest_that_fits() -> None:
    assert token_dtype(512) == np.uint16 and token_dtype(65536) == np.uint16
    assert token_dtype(65537) == np.uint32


def test_written_chunks_read_back_as_one_flat_array(tmp_path: Path) -> None:
    ids = list(range(100))
    split = make_corpus(tmp_path, ids)
    assert len(split) == 100
    assert np.fromfile(tmp_path / "train.bin", dtype=np.uint16).tolist() == ids
    saved = json.loads((tmp_path / "meta.json").read_text())
    assert saved["splits"]["train"] == {"tokens": 100, "documents": 1, "text_bytes": 300}


def test_an_id_too_large_for_the_dtype_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OverflowError):
        write_token_file(tmp_path / "x.bin", [[70_000]], np.dtype(np.uint16))
    assert not (tmp_path / "x.bin").exists()


def test_batches_are_shifted_windows_in_range_and_reproducible(tmp_path: Path) -> None:
    split = make_corpus(tmp_path, list(range(100)))
    x, y = split.batch(step=3, batch_size=8, block_size=10, seed=1)
    assert x.shape == y.shape == (8, 10) and x.dtype == np.int64
    assert (y == x + 1).all()  # the ids are 0..99, so the next token is id + 1
    assert x.min() >= 0 and y.max() <= 99
    again_x, _ = split.batch(step=3, batch_size=8, block_size=10, seed=1)
    other_x, _ = split.batch(step=4, batch_size=8, block_size=10, seed=1)
    assert (again_x == x).all() and not (other_x == x).all()


def test_every_window_start_is_reachable(tmp_path: Path) -> None:
    split = make_corpus(tmp_path, list(range(20)))
    starts = {int(split.batch(s, 4, 5, seed=0)[0][i, 0]) for s in range(200) for i in range(4)}
    assert starts == set(range(20 - 5))  # the last window ends on the last token


def test_eval_batches_predict_each_token_once_in_fixed_order(tmp_path: Path) -> None:
    split = make_corpus(tmp_path, list(range(103)))
    batches = list(split.eval_batches(batch_size=4, block_size=10))
    targets = np.concatenate([y.reshape(-1) for _, y in batches]).tolist()
    assert targets == list(range(1, 101))  # 10 windows of 10; the 2-token tail is left out
    assert [x.shape[0] for x, _ in batches] == [4, 4, 2]
    assert len(list(split.eval_batches(4, 10, max_batches=2))) == 2


def test_arrays_of_another_tokenizer_are_refused(tmp_path: Path) -> None:
    make_corpus(tmp_path, list(range(50)))
    with pytest.raises(DataError, match=r"encoded with tokenizer 0123456789abcdef, but the "):
        TokenSplit(tmp_path, "train", "fedcba9876543210")


def test_a_truncated_array_is_refused(tmp_path: Path) -> None:
    make_corpus(tmp_path, list(range(50)))
    data = (tmp_path / "train.bin").read_bytes()
    (tmp_path / "train.bin").write_bytes(data[:-10])
    with pytest.raises(DataError, match=r"train.bin: 90 bytes, but meta.json says 50 uint16"):
        TokenSplit(tmp_path, "train", HASH)


def test_a_split_shorter_than_a_block_is_refused(tmp_path: Path) -> None:
    split = make_corpus(tmp_path, list(range(8)))
    with pytest.raises(DataError, match=r"8 tokens, fewer than block_size \+ 1 = 9"):
        split.batch(0, 1, block_size=8, seed=0)


def test_missing_or_broken_meta_says_to_rerun_the_stage(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"meta.json: not found; run `dvc repro encode_memmap`"):
        TokenSplit(tmp_path, "train", HASH)
    (tmp_path / "meta.json").write_text("{}")
    with pytest.raises(DataError, match=r"not a token-array meta file"):
        TokenSplit(tmp_path, "train", HASH)


WORDS = ["alpha", "beta", "gamma", "delta", "token", "über", "naïve", "日本"]


def write_corpus(path: Path, documents: int, doc_chars: int = 0, seed: int = 0) -> list[str]:
    """A corpus of random words; documents of about `doc_chars` if given (cheap to make)."""
    rng = random.Random(seed)
    if doc_chars:
        base = " ".join(rng.choices(WORDS, k=doc_chars))  # slices of it at random offsets
        starts = [rng.randrange(len(base) - doc_chars) for _ in range(documents)]
        texts = [base[s : s + doc_chars] for s in starts]
    else:
        texts = [" ".join(rng.choices(WORDS, k=rng.randint(20, 400))) for _ in range(documents)]
    frame = pd.DataFrame(
        {
            "id": [f"doc:{i}" for i in range(documents)],
            "source": "test",
            "title": "",
            "text": texts,
            "tags": "",
            "split": [rng.choice(["train", "train", "val"]) for _ in range(documents)],
        }
    )
    write_parquet(frame, path)
    return texts


def test_encode_split_writes_documents_each_followed_by_eot(tmp_path: Path) -> None:
    texts = write_corpus(tmp_path / "corpus.parquet", 50)
    tokenizer = CharTokenizer.train(texts, 64, ["<|endoftext|>"], "unk")
    meta = encode_split(
        tokenizer, tmp_path / "corpus.parquet", "val", tmp_path / "val.bin", np.dtype("uint16")
    )
    ids = np.fromfile(tmp_path / "val.bin", dtype=np.uint16).tolist()
    frame = pd.read_parquet(tmp_path / "corpus.parquet")
    val = frame[frame["split"] == "val"]["text"].tolist()
    expected = [i for text in val for i in [*tokenizer.encode(text), tokenizer.eot_id]]
    assert ids == expected
    assert meta == SplitMeta(len(ids), len(val), sum(len(t.encode()) for t in val))


# The peak is read from /proc (VmHWM), not getrusage's ru_maxrss: Linux keeps
# ru_maxrss across fork and exec, so a child would report this test process's peak.
ENCODE_AND_REPORT_PEAK = """
import re, sys
from pathlib import Path
import numpy as np
from nanoforge.tokenizers.load import load_tokenizer
from nanoforge.tokenizers.encode import encode_split
tokenizer = load_tokenizer(sys.argv[1])
encode_split(tokenizer, sys.argv[2], "train", sys.argv[3], np.dtype("uint16"))
print(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1))
"""


def peak_rss_kib_of_encoding(tmp_path: Path, documents: int) -> tuple[int, int]:
    corpus = tmp_path / f"corpus{documents}.parquet"
    write_corpus(corpus, documents, doc_chars=10_000)
    out = subprocess.run(
        [sys.executable, "-c", ENCODE_AND_REPORT_PEAK, str(tmp_path), str(corpus),
         str(tmp_path / "train.bin")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return int(out.split()[-1]), corpus.stat().st_size


def test_peak_memory_of_encoding_stays_flat_for_a_ten_times_larger_corpus(
    tmp_path: Path,
) -> None:
    CharTokenizer.train(
        write_corpus(tmp_path / "t.parquet", 20), 64, ["<|endoftext|>"], "unk"
    ).save(tmp_path)
    small_kib, small_bytes = peak_rss_kib_of_encoding(tmp_path, 1_000)
    large_kib, large_bytes = peak_rss_kib_of_encoding(tmp_path, 10_000)
    assert large_bytes > 9 * small_bytes
    # The large corpus holds about 100 MB of text (95 MiB more than the small one);
    # holding it, its ids or its Parquet table would grow the peak by more than that
    # (reading it whole: +425 MiB). What does grow (+25 MiB here, +10 MiB with the
    # system allocator) is pyarrow's mimalloc pool keeping freed pages: it levels off
    # whatever the corpus size.
    growth_mib = (large_kib - small_kib) / 1024
    assert growth_mib < 95 / 2, f"peak RSS grew by {growth_mib:.1f} MiB"
