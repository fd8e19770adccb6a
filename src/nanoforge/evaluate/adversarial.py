"""The adversarial suite: the cases where small language models and naive decoders break.

Each case returns a `Case`: whether it passed (the rule is in its `rule`) and the
figures behind the verdict.

- overflow: a prompt `overflow_factor` times the context; generation must go on for
  every requested token and stay valid UTF-8.
- repetition: greedy and nucleus decoding from real prompts; the loop rate of each and
  where greedy loops begin. Passes when nucleus sampling loops at most `max_loop_rate`
  of the time (greedy loops are expected from a small model; they are reported).
- hallucination: temperatures far above 1. Validity with and without the ghost-byte
  blocker, per-token entropy, and the share of generated words that exist in the
  training text. Passes when every output with the blocker is valid UTF-8.
- empty prompt: generation starts from <|endoftext|> and gives valid text.
- long generation: `long_tokens` tokens in one run; passes when memory after the first
  tenth and at the end differ by less than `MAX_GROWTH_MB` (the KV cache is preallocated
  and the window slides, so nothing should grow but the list of ids).
"""

from __future__ import annotations

import resource
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from statistics import mean, median

import torch

from nanoforge.evaluate.decoding import word_in_vocabulary_share
from nanoforge.evaluate.prompts import Prompt
from nanoforge.evaluate.strategies import continues_validly, generate_all
from nanoforge.infer.generate import GenerateConfig, Generation, Generator
from nanoforge.infer.repetition import find_loop
from nanoforge.infer.sampling import Sampling

MAX_GROWTH_MB = 16.0
NUCLEUS = Sampling("top_p", temperature=1.0, top_p=0.9)


@dataclass(frozen=True)
class Case:
    """One adversarial case's verdict, the rule it was judged by, and its figures."""

    name: str
    passed: bool
    rule: str
    figures: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def overflow(generator: Generator, long_prompt: Sequence[int], max_new_tokens: int) -> Case:
    block = generator.model.config.block_size
    config = GenerateConfig(NUCLEUS, max_new_tokens=max_new_tokens, stop_at_eot=False)
    start = time.perf_counter()
    out = generator.generate(long_prompt, config).ids
    valid = continues_validly(generator.tokenizer, long_prompt, out)
    return Case(
        "context overflow",
        passed=len(out) == max_new_tokens and valid,
        rule="every requested token is generated after the long prompt, as valid UTF-8",
        figures={
            "prompt_tokens": len(long_prompt),
            "prompt_over_block_size": round(len(long_prompt) / block, 2),
            "generated": len(out),
            "utf8_valid": valid,
            "seconds": round(time.perf_counter() - start, 3),
        },
    )


def repetition(
    generator: Generator,
    prompts: Sequence[Prompt],
    max_new_tokens: int,
    max_loop_rate: float,
    seed: int,
) -> Case:
    figures: dict[str, object] = {}
    rates = {}
    for name, sampling in (("greedy", Sampling("greedy")), ("top_p", NUCLEUS)):
        config = GenerateConfig(sampling, max_new_tokens=max_new_tokens, seed=seed)
        loops = [find_loop(o) for o in generate_all(generator, prompts, config)]
        starts = [loop.start for loop in loops if loop is not None]
        rates[name] = len(starts) / len(loops)
        figures[f"{name}_loop_rate"] = rates[name]
        figures[f"{name}_loop_starts"] = starts
        figures[f"{name}_median_loop_start"] = median(starts) if starts else None
    return Case(
        "repetition loops",
        passed=rates["top_p"] <= max_loop_rate,
        rule=f"nucleus sampling (p={NUCLEUS.top_p}) loops in at most {max_loop_rate:.0%} "
        "of outputs",
        figures={"prompts": len(prompts), "max_new_tokens": max_new_tokens, **figures},
    )


def hallucination(
    generator: Generator,
    prompts: Sequence[Prompt],
    temperatures: Sequence[float],
    max_new_tokens: int,
    vocabulary: set[str],
    seed: int,
) -> Case:
    rows = []
    for t in temperatures:
        config = GenerateConfig(
            Sampling("temperature", t), max_new_tokens=max_new_tokens, seed=seed, stop_at_eot=False
        )
        with_blocker = _hot_runs(generator, prompts, config)
        without = _hot_runs(generator, prompts, replace(config, block_ghost_bytes=False))
        texts = [generator.tokenizer.decode(r.ids) for r in with_blocker]
        row = {
            "temperature": t,
            "utf8_valid_with_blocker": _valid_share(generator, prompts, with_blocker),
            "utf8_valid_without_blocker": _valid_share(generator, prompts, without),
            "entropy_nats_per_token": mean(h for r in with_blocker for h in r.entropies),
            "real_word_share": mean(word_in_vocabulary_share(x, vocabulary) for x in texts),
        }
        rows.append(row)
    return Case(
        "high-temperature hallucination",
        passed=all(row["utf8_valid_with_blocker"] == 1.0 for row in rows),
        rule="with the ghost-byte blocker every output is valid UTF-8 at every temperature",
        figures={"prompts": len(prompts), "temperatures": rows},
    )


def _hot_runs(
    generator: Generator, prompts: Sequence[Prompt], config: GenerateConfig
) -> list[Generation]:
    return [
        generator.generate(p.ids, replace(config, seed=config.seed + i))
        for i, p in enumerate(prompts)
    ]


def _valid_share(generator: Generator, prompts: Sequence[Prompt], runs: list[Generation]) -> float:
    pairs = zip(prompts, runs, strict=True)
    return mean(continues_validly(generator.tokenizer, p.ids, r.ids) for p, r in pairs)


def empty_prompt(generator: Generator, max_new_tokens: int, seed: int) -> Case:
    prompt = generator.encode_prompt("")
    out = generator.generate(prompt, GenerateConfig(NUCLEUS, max_new_tokens, seed=seed))
    valid = continues_validly(generator.tokenizer, prompt, out.ids)
    return Case(
        "empty prompt",
        passed=len(out.ids) > 0 and valid,
        rule="starting from <|endoftext|> gives non-empty, valid UTF-8 text",
        figures={
            "generated": len(out.ids),
            "stop_reason": out.stop_reason,
            "utf8_valid": valid,
            "text_start": generator.tokenizer.decode(out.ids)[:80],
        },
    )


def long_generation(generator: Generator, n_tokens: int, seed: int) -> Case:
    config = GenerateConfig(NUCLEUS, max_new_tokens=n_tokens, seed=seed, stop_at_eot=False)
    device = generator.device
    marks: dict[str, float] = {}
    times: list[float] = []
    last = time.perf_counter()
    for i, _ in enumerate(generator.steps(generator.encode_prompt(""), config), start=1):
        now = time.perf_counter()
        times.append(now - last)
        last = now
        if i == max(1, n_tokens // 10):
            marks["first_tenth"] = memory_mb(device)
    marks["end"] = memory_mb(device)
    growth = marks["end"] - marks.get("first_tenth", marks["end"])
    quarter = max(1, len(times) // 4)
    return Case(
        "very long generation",
        passed=len(times) == n_tokens and growth < MAX_GROWTH_MB,
        rule=f"{n_tokens} tokens in one run; memory grows by less than {MAX_GROWTH_MB:g} MB "
        "between the first tenth and the end",
        figures={
            "generated": len(times),
            "memory_kind": "cuda allocated" if device.type == "cuda" else "process RSS",
            "memory_mb_after_first_tenth": round(marks.get("first_tenth", 0.0), 1),
            "memory_mb_at_end": round(marks["end"], 1),
            "growth_mb": round(growth, 2),
            "ms_per_token_first_quarter": round(1000 * mean(times[:quarter]), 3),
            "ms_per_token_last_quarter": round(1000 * mean(times[-quarter:]), 3),
        },
    )


def memory_mb(device: torch.device) -> float:
    """Memory in use now: CUDA allocations on a GPU, else the process's resident set."""
    if device.type == "cuda":
        return torch.cuda.memory_allocated(device) / 2**20
    statm = Path("/proc/self/statm")
    if statm.exists():
        pages = int(statm.read_text().split()[1])
        return pages * resource.getpagesize() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # macOS: peak, bytes
