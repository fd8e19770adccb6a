"""The decoding table: each strategy's outputs scored for diversity, repetition and validity.

Every strategy continues the same real prompts; a last row scores the real
continuations the same way, so generated text can be read against human text.
For scale: with GPT-2 Large, Holtzman et al. (2019) found repetition in 73.66 % of greedy
generations, 0.36 % of nucleus (p = 0.95) ones and 0.28 % of human texts; the loop rate
here is the closest figure (`nanoforge.infer.repetition` says what counts as a loop).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from nanoforge.evaluate.decoding import DecodingStats, decoding_stats
from nanoforge.evaluate.prompts import Prompt
from nanoforge.infer.generate import GenerateConfig, Generator
from nanoforge.infer.repetition import find_loop
from nanoforge.infer.sampling import Sampling
from nanoforge.tokenizers.base import Tokenizer
from nanoforge.tokenizers.utf8 import Utf8Decoder

HUMAN = "human (val text)"


def continues_validly(tokenizer: Tokenizer, prompt: Sequence[int], output: Sequence[int]) -> bool:
    """Whether `output` continues `prompt` as valid UTF-8 and ends on a character boundary
    (judged from the prompt's final decoder state, so a prompt cut mid-character is fine)."""
    decoder = Utf8Decoder()
    decoder.feed(tokenizer.decode_bytes(prompt))
    return decoder.need_after(tokenizer.decode_bytes(output)) == 0


def score_outputs(
    tokenizer: Tokenizer, prompts: Sequence[Prompt], outputs: Sequence[Sequence[int]]
) -> DecodingStats:
    """One table row: the outputs' diversity, repetition, loops and validity."""
    pairs = zip(prompts, outputs, strict=True)
    return decoding_stats(
        outputs,
        valid_utf8=[continues_validly(tokenizer, p.ids, o) for p, o in pairs],
        loops=[find_loop(list(o)) is not None for o in outputs],
    )


def generate_all(
    generator: Generator, prompts: Sequence[Prompt], config: GenerateConfig
) -> list[list[int]]:
    """The outputs for every prompt, each seeded by the config's seed plus its index."""
    return [
        generator.generate(p.ids, replace(config, seed=config.seed + i)).ids
        for i, p in enumerate(prompts)
    ]


def decoding_table(
    generator: Generator,
    prompts: Sequence[Prompt],
    strategies: Mapping[str, Sampling],
    max_new_tokens: int,
    seed: int,
) -> dict[str, DecodingStats]:
    """A row per strategy, then the human row, keyed by name."""
    rows: dict[str, DecodingStats] = {}
    for name, sampling in strategies.items():
        config = GenerateConfig(sampling=sampling, max_new_tokens=max_new_tokens, seed=seed)
        outputs = generate_all(generator, prompts, config)
        rows[name] = score_outputs(generator.tokenizer, prompts, outputs)
    rows[HUMAN] = score_outputs(generator.tokenizer, prompts, [p.continuation for p in prompts])
    return rows
