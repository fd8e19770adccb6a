"""Benchmark: generation speed, nanoforge's KV-cached `Generator` against recomputing the whole
context every step, and the cost of the ghost-byte blocker.

Run with `python bench/generate.py` (from the repository root or anywhere); `--device cuda`
on a GPU, `--repeat N` for more rounds, `--threads N` to set torch's CPU threads (on a
machine where another process keeps a core busy, one thread is much faster: the cached
methods' small single-position operations otherwise wait on a descheduled thread).

The model has the project's default shape (vocab 512, 4 layers, 4 heads, width 128) with a
context of 256 tokens, and random weights (`torch.manual_seed(0)`): speed does not depend
on what the weights say, and no trained model is needed. The tokenizer is a byte-level BPE
of 512 ids (GPT-4's pre-split regex) trained here on Tiny Shakespeare
(`../shared/data/tinyshakespeare/input.txt` beside the repository) or, without it, on
Python's documentation (`pydoc_data.topics`). The prompt is the corpus's first 32 tokens;
every method generates exactly 500 new tokens after it (end-of-text does not stop it),
greedily, so the context fills and slides.

Methods, all on the same model in the same process:

- naive (the reference, written here): each step runs the model over the last <= 256
  tokens, takes the last position's logits, masks the never-generated special tokens and
  picks the next token with nanoforge's own sampling functions. No cache.
- KV cache: `Generator.generate` (prefill once, then one position per step against the
  cached keys and values; the window slides by a quarter of the context when full), with
  the ghost-byte blocker off, so it does the same per-step work as naive except the cache.
- KV cache + blocker: the same with the ghost-byte blocker on (the default), measured
  against the blocker off.

Tokens/s is 500 over the wall time of one whole generation, prompt included, after a
warm-up of each method; the figure is the median over `--repeat` rounds, each running
every method in turn, so that a change in the machine's load touches every method alike
(the cached methods, several times faster, run 3 times a round, alternately, which
steadies the blocker's small difference). Targets: the KV cache at least 3x the naive
tokens/s; the blocker at most 10% slower (at least 0.90x the tokens/s with it off). This
is not a test: timings depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from nanoforge.config import PATTERNS
from nanoforge.infer.generate import GenerateConfig, Generator
from nanoforge.infer.sampling import Sampling, next_token_distribution, sample
from nanoforge.model.gpt import GPT, GPTConfig
from nanoforge.tokenizers.base import EOT
from nanoforge.tokenizers.bpe import BpeTokenizer
from nanoforge.train.device import pick_device

ROOT = Path(__file__).resolve().parents[1]
SHAKESPEARE = ROOT.parent / "shared" / "data" / "tinyshakespeare" / "input.txt"

VOCAB, BLOCK = 512, 256
NEW_TOKENS = 500
PROMPT_TOKENS = 32
SEED = 0
CACHED_RUNS = 3
"""Runs of each cached method per round (naive runs once per round)."""
TARGET_CACHE_SPEEDUP = 3.0
TARGET_BLOCKER_RATIO = 0.90  # at most 10% slower


def corpus() -> tuple[str, list[str]]:
    """(name, documents) of the text the tokenizer is trained on."""
    if SHAKESPEARE.is_file():
        return "tinyshakespeare", [SHAKESPEARE.read_text(encoding="utf-8")]
    from pydoc_data.topics import topics

    return "pydoc_data.topics", list(topics.values())


def naive_generate(
    model: GPT,
    prompt: list[int],
    sampling: Sampling,
    never: torch.Tensor,
    seed: int,
    new_tokens: int = NEW_TOKENS,
) -> list[int]:
    """The reference: every step recomputes the whole (cropped) context, no cache."""
    device = next(model.parameters()).device
    block = model.config.block_size
    generator = torch.Generator(device=device).manual_seed(seed)
    ids = list(prompt)
    with torch.inference_mode():
        for _ in range(new_tokens):
            idx = torch.tensor([ids[-block:]], dtype=torch.long, device=device)  # (1, T)
            logits, _ = model(idx)  # (1, T, V)
            logits = logits[:, -1, :].masked_fill(never, -torch.inf)  # (1, V)
            probs = next_token_distribution(logits, sampling)
            ids.append(int(sample(probs, generator)))
    return ids[len(prompt) :]


def timed(run: Callable[[], list[int]]) -> tuple[float, list[int]]:
    """(tokens/s, the ids) of one generation."""
    start = time.perf_counter()
    out = run()
    seconds = time.perf_counter() - start
    if len(out) != NEW_TOKENS:
        raise RuntimeError(f"generated {len(out)} tokens, expected {NEW_TOKENS}")
    return NEW_TOKENS / seconds, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (%(default)s)")
    parser.add_argument(
        "--threads", type=int, help="torch CPU threads (default: torch's own choice)"
    )
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)

    name, docs = corpus()
    tokenizer = BpeTokenizer.train(docs, VOCAB, PATTERNS["gpt4"], [EOT])
    prompt = tokenizer.encode(docs[0][:4000])[:PROMPT_TOKENS]
    torch.manual_seed(SEED)
    config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=BLOCK, n_layer=4, n_head=4,
                       n_embd=128)  # fmt: skip
    model = GPT(config).to(device).eval()
    generator = Generator(model, tokenizer)
    never = torch.from_numpy(generator.table.never).to(device)
    greedy = Sampling("greedy")

    def cached(blocker: bool) -> Callable[[], list[int]]:
        cfg = GenerateConfig(
            greedy, max_new_tokens=NEW_TOKENS, seed=SEED, block_ghost_bytes=blocker,
            stop_at_eot=False,
        )  # fmt: skip
        return lambda: generator.generate(prompt, cfg).ids

    methods: dict[str, Callable[[], list[int]]] = {
        "naive": lambda: naive_generate(model, prompt, greedy, never, SEED),
        "cache": cached(blocker=False),
        "cache+blocker": cached(blocker=True),
    }

    print(
        f"python {platform.python_version()}, torch {torch.__version__}, device {device}, "
        f"{os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads"
    )
    print(
        f"model: random weights (seed {SEED}), vocab {config.vocab_size}, {config.n_layer} "
        f"layers, {config.n_head} heads, {config.n_embd} wide, block {config.block_size}, "
        f"{model.num_params(non_embedding=False) / 1e6:.2f}M params; tokenizer: bpe "
        f"{tokenizer.vocab_size} trained on {name}"
    )
    print(
        f"task: {NEW_TOKENS} new tokens after a {len(prompt)}-token prompt, greedy, no stop at "
        f"end-of-text; median of {args.repeat} runs (cached: {args.repeat * CACHED_RUNS}) "
        f"after a warm-up"
    )

    # Warm-up: the cached methods once in full (the blocker's masks are built per decoder
    # state on first use), the naive one for a few tokens (its steps are all alike).
    naive_generate(model, prompt, greedy, never, SEED, new_tokens=16)
    for method in ("cache", "cache+blocker"):
        methods[method]()

    # The cached methods take a fraction of naive's time, and the blocker's cost is a small
    # difference between two of them: they run CACHED_RUNS times per round, alternately.
    runs: dict[str, list[float]] = {method: [] for method in methods}
    outputs: dict[str, list[int]] = {}
    for _ in range(args.repeat):
        schedule = ["naive", *["cache", "cache+blocker"] * CACHED_RUNS]
        for method in schedule:
            tokens_s, outputs[method] = timed(methods[method])
            runs[method].append(tokens_s)
    before_slide = BLOCK - len(prompt)  # tokens generated before the cache window slides
    same = outputs["naive"][:before_slide] == outputs["cache"][:before_slide]
    print(
        f"check: cache and naive pick the same {before_slide} tokens until the window "
        f"first slides: {'yes' if same else 'NO'}"
    )
    speed = {method: statistics.median(values) for method, values in runs.items()}

    rows = [
        ("naive, no cache (reference)", speed["naive"], speed["naive"], None),
        ("KV cache, blocker off", speed["cache"], speed["naive"], TARGET_CACHE_SPEEDUP),
        ("KV cache, blocker off (reference)", speed["cache"], speed["cache"], None),
        ("KV cache, blocker on", speed["cache+blocker"], speed["cache"], TARGET_BLOCKER_RATIO),
    ]
    width = 34
    print(f"\n{'method':{width}} {'tokens/s':>9} {'ratio':>7} {'target':>8}  result")
    results = []
    for what, ours, ref, target in rows:
        ratio = ours / ref
        if target is None:
            print(f"{what:{width}} {ours:9.1f} {ratio:6.2f}x")
            continue
        met = ratio >= target
        results.append(met)
        print(f"{what:{width}} {ours:9.1f} {ratio:6.2f}x {'>= ' + f'{target:.2f}x':>8}  "
              f"{'pass' if met else 'FAIL'}")  # fmt: skip
    print(
        "\nruns (tokens/s): "
        + "; ".join(f"{m} {', '.join(f'{v:.0f}' for v in values)}" for m, values in runs.items())
    )
    missed = results.count(False)
    print("all targets met" if not missed else f"{missed} of {len(results)} targets missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
