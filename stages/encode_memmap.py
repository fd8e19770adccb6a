"""Stage encode_memmap: both clean corpora, train and val, as flat token arrays.

Writes data/tokens/{general,domain}/{train,val}.bin with a meta.json each, and
reports/tokens.json (tokens, documents and bytes per token of every split).
"""

from pathlib import Path

from nanoforge.atomic import write_json
from nanoforge.data.memmap import SPLITS, CorpusMeta, SplitMeta, token_dtype
from nanoforge.stage import run_stage
from nanoforge.tokenizers.encode import encode_split
from nanoforge.tokenizers.load import load_tokenizer

TOKENIZER = "data/tokenizer"
CORPUS = "data/clean/{corpus}.parquet"
OUT = Path("data/tokens")
REPORT = "reports/tokens.json"


def bytes_per_token(split: SplitMeta) -> float:
    """Bytes of text per token of text (the EOT after each document is not text)."""
    return round(split.text_bytes / max(split.tokens - split.documents, 1), 4)


def main() -> None:
    tokenizer = load_tokenizer(TOKENIZER)
    dtype = token_dtype(tokenizer.vocab_size)
    report = {}
    for corpus in ("general", "domain"):
        folder = OUT / corpus
        splits = {
            split: encode_split(
                tokenizer, CORPUS.format(corpus=corpus), split, folder / f"{split}.bin", dtype
            )
            for split in SPLITS
        }
        meta = CorpusMeta(
            dtype.name, tokenizer.vocab_size, tokenizer.hash, tokenizer.eot_id, splits
        )
        meta.save(folder)
        report[corpus] = {
            split: {**vars(s), "bytes_per_token": bytes_per_token(s)} for split, s in splits.items()
        }
    write_json(REPORT, report)


if __name__ == "__main__":
    run_stage(main)
