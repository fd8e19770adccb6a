"""Stage train_bpe: train the tokenizer on the general corpus's train split.

Writes data/tokenizer/tokenizer.json and reports/tokenizer.json (vocabulary size,
bytes per token on the val split, training seconds).
"""

import time

from nanoforge.atomic import write_json
from nanoforge.config import load_params
from nanoforge.data.corpus import iter_texts
from nanoforge.stage import run_stage
from nanoforge.tokenizers.bpe import BpeTokenizer
from nanoforge.tokenizers.char import CharTokenizer

CORPUS = "data/clean/general.parquet"
OUT = "data/tokenizer"
REPORT = "reports/tokenizer.json"


def main() -> None:
    cfg = load_params().tokenizer
    texts = iter_texts(CORPUS, "train")
    start = time.perf_counter()
    if cfg.kind == "bpe":
        tokenizer = BpeTokenizer.train(texts, cfg.vocab_size, cfg.regex, cfg.specials)
    else:
        tokenizer = CharTokenizer.train(texts, cfg.vocab_size, cfg.specials, cfg.unknown)
    seconds = time.perf_counter() - start
    tokenizer.save(OUT)
    val_bytes = val_tokens = 0
    for text in iter_texts(CORPUS, "val"):
        val_bytes += len(text.encode("utf-8"))
        val_tokens += len(tokenizer.encode(text))
    report = {
        "kind": cfg.kind,
        "vocab_size": tokenizer.vocab_size,
        "hash": tokenizer.hash,
        "train_seconds": round(seconds, 3),
        "val_bytes_per_token": round(val_bytes / max(val_tokens, 1), 4),
    }
    write_json(REPORT, report)


if __name__ == "__main__":
    run_stage(main)
