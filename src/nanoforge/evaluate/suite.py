"""Evaluating one trained model: val scores, the decoding table, the adversarial suite and
readable samples. The evaluate stage runs this for each model it names."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nanoforge.config import EvaluateConfig, build
from nanoforge.data.memmap import TokenSplit
from nanoforge.errors import ConfigError
from nanoforge.evaluate import adversarial
from nanoforge.evaluate.perplexity import score_split
from nanoforge.evaluate.prompts import document_prompts
from nanoforge.evaluate.strategies import decoding_table
from nanoforge.infer.generate import GenerateConfig, Generator
from nanoforge.infer.sampling import Sampling
from nanoforge.tokenizers.load import load_tokenizer
from nanoforge.train.checkpoint import load_model
from nanoforge.train.device import pick_device

logger = logging.getLogger(__name__)

CORPORA = ("general", "domain")


@dataclass(frozen=True)
class ModelReport:
    """What the evaluate stage writes for one model."""

    metrics: dict[str, object]
    samples: str
    """Markdown: each hand-written prompt continued by each strategy."""


def strategies(cfg: EvaluateConfig) -> dict[str, Sampling]:
    """The configured strategies, each checked (a bad one is a ConfigError naming it)."""
    built = {}
    for name, raw in cfg.strategies.items():
        key = f"evaluate.strategies.{name}"
        try:
            built[name] = build(Sampling, raw, key)
        except ConfigError as err:
            message = str(err)
            raise ConfigError(message if message.startswith(key) else f"{key}: {message}") from None
    return built


def evaluate_model(
    folder: Path,
    tokens: Path,
    cfg: EvaluateConfig,
    vocabulary: set[str],
    device: str = "auto",
) -> ModelReport:
    """Score the model in `folder` on the val splits under `tokens` and probe its decoding."""
    sampling = strategies(cfg)
    model = load_model(folder, pick_device(device))
    tokenizer = load_tokenizer(folder)
    generator = Generator(model, tokenizer)
    val = {c: TokenSplit(tokens / c, "val", tokenizer.hash) for c in CORPORA}

    logger.info("%s: scoring the val splits", folder)
    metrics: dict[str, object] = {
        corpus: score_split(model, split, tokenizer, cfg.batch_size).to_dict()
        for corpus, split in val.items()
    }
    prompts = document_prompts(val["general"], cfg.n_prompts, cfg.prompt_tokens, cfg.max_new_tokens)
    logger.info("%s: decoding table (%d strategies)", folder, len(sampling))
    table = decoding_table(generator, prompts, sampling, cfg.max_new_tokens, cfg.seed)
    metrics["decoding"] = {name: row.to_dict() for name, row in table.items()}

    logger.info("%s: adversarial suite", folder)
    block = model.config.block_size
    hot_prompts = prompts[: max(1, len(prompts) // 2)]  # 2 runs per temperature: keep it short
    long_prompt = overflow_prompt(val["general"], cfg.overflow_factor * block)
    cases = [
        adversarial.overflow(generator, long_prompt, cfg.max_new_tokens),
        adversarial.repetition(generator, prompts, cfg.max_new_tokens, cfg.max_loop_rate, cfg.seed),
        adversarial.hallucination(
            generator, hot_prompts, cfg.hot_temperatures, cfg.max_new_tokens, vocabulary, cfg.seed
        ),
        adversarial.empty_prompt(generator, cfg.max_new_tokens, cfg.seed),
        adversarial.long_generation(generator, cfg.long_tokens, cfg.seed),
    ]
    metrics["adversarial"] = {case.name: case.to_dict() for case in cases}
    metrics["adversarial_passed"] = sum(case.passed for case in cases)
    metrics["adversarial_cases"] = len(cases)
    return ModelReport(metrics, samples_markdown(folder.name, generator, cfg, sampling))


def overflow_prompt(split: TokenSplit, n_tokens: int) -> list[int]:
    """The first `n_tokens` of `split`, read round again from the start if it is shorter."""
    tokens = np.memmap(split.path, dtype=split.dtype, mode="r")
    return np.resize(np.asarray(tokens[:n_tokens]), n_tokens).tolist()


def samples_markdown(
    name: str, generator: Generator, cfg: EvaluateConfig, sampling: Mapping[str, Sampling]
) -> str:
    """Each hand-written prompt continued by each strategy, as Markdown."""
    lines = [f"## {name}", ""]
    for prompt in cfg.prompts:
        ids = generator.encode_prompt(prompt)
        lines += [f"### Prompt: {prompt!r}", ""]
        for label, strategy in sampling.items():
            config = GenerateConfig(strategy, max_new_tokens=cfg.max_new_tokens, seed=cfg.seed)
            text = "".join(generator.stream_text(ids, config))
            described = strategy.describe()
            title = label if described == label else f"{label}: {described}"
            lines += [f"**{title}**", "", _fenced(prompt + text), ""]
    return "\n".join(lines)


def _fenced(text: str) -> str:
    """A code fence longer than any run of backticks in `text`, so nothing breaks out."""
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    return f"{fence}text\n{text}\n{fence}"


def _longest_backtick_run(text: str) -> int:
    best = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        best = max(best, run)
    return best
