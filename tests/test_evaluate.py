"""The evaluation library: val scores, real prompts, the decoding table, adversarial cases."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from nanoforge.config import EvaluateConfig
from nanoforge.data.memmap import CorpusMeta, SplitMeta, TokenSplit, write_token_file
from nanoforge.errors import ConfigError, DataError
from nanoforge.evaluate import adversarial
from nanoforge.evaluate.perplexity import score_split, token_byte_lengths
from nanoforge.evaluate.prompts import document_prompts, documents
from nanoforge.evaluate.strategies import HUMAN, continues_validly, decoding_table
from nanoforge.evaluate.suite import _fenced, strategies
from nanoforge.infer.generate import Generator
from nanoforge.infer.sampling import Sampling
from nanoforge.model.gpt import GPT, GPTConfig
from nanoforge.tokenizers.base import EOT
from nanoforge.tokenizers.bpe import BpeTokenizer
from nanoforge.tokenizers.patterns import PATTERNS

TEXTS = [
    "The module provides functions for working with files and directories. " * 4,
    "Return the value of the named attribute of the object, or raise an error. " * 4,
    "Les données sont écrites dans un fichier; café, naïve, déjà vu. " * 4,
]


@pytest.fixture(scope="module")
def tokenizer() -> BpeTokenizer:
    return BpeTokenizer.train(TEXTS, vocab_size=300, pattern=PATTERNS["gpt4"], specials=[EOT])


@pytest.fixture(scope="module")
def model(tokenizer: BpeTokenizer) -> GPT:
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=32, n_layer=2, n_head=2,
                       n_embd=16)  # fmt: skip
    return GPT(config).eval()


def write_split(folder: Path, tokenizer: BpeTokenizer, docs: list[str], copies: int = 6) -> Path:
    """A val split of `docs` (each repeated `copies` times), documents ended by EOT."""
    folder.mkdir(parents=True, exist_ok=True)
    encoded = [[*tokenizer.encode(d), tokenizer.eot_id] for d in docs * copies]
    count = write_token_file(folder / "val.bin", encoded, np.dtype(np.uint16))
    text_bytes = sum(len(d.encode()) for d in docs * copies)
    CorpusMeta("uint16", tokenizer.vocab_size, tokenizer.hash, tokenizer.eot_id,
               {"val": SplitMeta(count, len(encoded), text_bytes)}).save(folder)  # fmt: skip
    return folder


@pytest.fixture
def val(tmp_path: Path, tokenizer: BpeTokenizer) -> TokenSplit:
    return TokenSplit(write_split(tmp_path / "general", tokenizer, TEXTS), "val", tokenizer.hash)


# -------------------------------------------------------------------- scores


def test_a_model_that_knows_nothing_scores_ln_vocab_per_token(
    tokenizer: BpeTokenizer, val: TokenSplit
) -> None:
    config = GPTConfig(vocab_size=tokenizer.vocab_size, block_size=32, n_layer=1, n_head=1,
                       n_embd=8)  # fmt: skip
    uniform = GPT(config).eval()
    with torch.no_grad():  # every logit 0: the uniform distribution
        uniform.lm_head.weight.zero_()
    score = score_split(uniform, val, tokenizer, batch_size=4)
    assert score.loss == pytest.approx(math.log(tokenizer.vocab_size), rel=1e-6)
    assert score.perplexity == pytest.approx(tokenizer.vocab_size, rel=1e-5)


def test_bits_per_byte_is_total_nats_over_ln2_over_the_predicted_bytes(
    model: GPT, tokenizer: BpeTokenizer, val: TokenSplit
) -> None:
    score = score_split(model, val, tokenizer, batch_size=4)
    block = model.config.block_size
    targets = np.concatenate([y.ravel() for _, y in val.eval_batches(4, block)])
    assert score.tokens == targets.size == (len(val) - 1) // block * block
    assert score.bytes == int(token_byte_lengths(tokenizer)[targets].sum())
    expected = score.loss * score.tokens / math.log(2) / score.bytes
    assert score.bits_per_byte == pytest.approx(expected, rel=1e-9)


def test_scores_do_not_depend_on_the_batch_size(
    model: GPT, tokenizer: BpeTokenizer, val: TokenSplit
) -> None:
    a, b = score_split(model, val, tokenizer, 1), score_split(model, val, tokenizer, 7)
    assert (a.tokens, a.bytes) == (b.tokens, b.bytes)
    assert a.loss == pytest.approx(b.loss, rel=1e-5)


# ------------------------------------------------------------------- prompts


def test_documents_are_the_stretches_between_end_of_text_tokens(
    tokenizer: BpeTokenizer, val: TokenSplit
) -> None:
    docs = documents(val)
    assert len(docs) == 18
    assert tokenizer.decode(docs[1].tolist()) == TEXTS[1]


def test_prompts_are_document_beginnings_and_the_real_continuation(
    tokenizer: BpeTokenizer, val: TokenSplit
) -> None:
    prompts = document_prompts(val, n=3, prompt_tokens=5, continuation_tokens=10)
    for prompt, text in zip(prompts, TEXTS, strict=True):
        whole = tokenizer.encode(text)
        assert prompt.ids == whole[:5] and prompt.continuation == whole[5:15]


def test_too_few_documents_take_further_stretches_then_fail_clearly(
    tokenizer: BpeTokenizer, tmp_path: Path
) -> None:
    split = TokenSplit(write_split(tmp_path / "one", tokenizer, TEXTS[:1], copies=1), "val",
                       tokenizer.hash)  # fmt: skip
    doc = tokenizer.encode(TEXTS[0])
    prompts = document_prompts(split, n=2, prompt_tokens=4, continuation_tokens=6)
    assert prompts[1].ids == doc[10:14]
    with pytest.raises(DataError, match=r"lower evaluate\.n_prompts"):
        document_prompts(split, n=len(doc), prompt_tokens=4, continuation_tokens=6)


def test_validity_is_judged_from_where_the_prompt_left_the_decoder(
    tokenizer: BpeTokenizer,
) -> None:
    e_acute = list(b"\xc3\xa9")  # é as the two byte tokens
    assert continues_validly(tokenizer, [e_acute[0]], [e_acute[1]])
    assert not continues_validly(tokenizer, [ord("a")], [e_acute[1]])
    assert not continues_validly(tokenizer, [ord("a")], [e_acute[0]])  # ends unfinished


# --------------------------------------------------------------- the table


def test_the_decoding_table_has_a_row_per_strategy_and_a_human_row(
    model: GPT, tokenizer: BpeTokenizer, val: TokenSplit
) -> None:
    prompts = document_prompts(val, n=4, prompt_tokens=6, continuation_tokens=20)
    table = decoding_table(
        Generator(model, tokenizer),
        prompts,
        {"greedy": Sampling("greedy"), "hot": Sampling("temperature", 3.0)},
        max_new_tokens=20,
        seed=0,
    )
    assert list(table) == ["greedy", "hot", HUMAN]
    assert table["hot"].utf8_valid == 1.0 and table[HUMAN].mean_length == 20
    assert table["hot"].distinct_1 > table["greedy"].distinct_1


def test_strategies_from_params_are_checked_by_name() -> None:
    cfg = EvaluateConfig(strategies={"wild": {"strategy": "top_p", "temperature": 1.0}})
    with pytest.raises(ConfigError, match=r"evaluate\.strategies\.wild: strategy top_p needs"):
        strategies(cfg)
    assert strategies(EvaluateConfig())["top_k"] == Sampling("top_k", 1.0, top_k=40)


def test_samples_are_fenced_beyond_any_backticks_they_contain() -> None:
    assert _fenced("a ``` b") == "````text\na ``` b\n````"
    assert _fenced("plain") == "```text\nplain\n```"


# ------------------------------------------------------------- adversarial


def test_overflow_generates_every_token_after_a_prompt_ten_times_the_context(
    model: GPT, tokenizer: BpeTokenizer
) -> None:
    prompt = (tokenizer.encode(" ".join(TEXTS)) * 4)[:320]
    case = adversarial.overflow(Generator(model, tokenizer), prompt, 30)
    assert case.passed
    assert case.figures["prompt_over_block_size"] == 10.0 and case.figures["generated"] == 30


def test_repetition_reports_greedy_loops_and_judges_nucleus(
    model: GPT, tokenizer: BpeTokenizer, val: TokenSplit
) -> None:
    prompts = document_prompts(val, n=4, prompt_tokens=6, continuation_tokens=60)
    case = adversarial.repetition(Generator(model, tokenizer), prompts, 60, 0.25, seed=0)
    figures = case.figures
    assert case.passed == (figures["top_p_loop_rate"] <= 0.25)
    assert len(figures["greedy_loop_starts"]) == figures["greedy_loop_rate"] * 4


def test_hallucination_is_always_valid_with_the_blocker_and_reports_words(
    model: GPT, tokenizer: BpeTokenizer, val: TokenSplit
) -> None:
    prompts = document_prompts(val, n=3, prompt_tokens=6, continuation_tokens=40)
    vocabulary = {"the", "module", "return", "value"}
    case = adversarial.hallucination(Generator(model, tokenizer), prompts, [2.0, 5.0], 40,
                                     vocabulary, seed=0)  # fmt: skip
    assert case.passed
    rows = case.figures["temperatures"]
    assert [r["temperature"] for r in rows] == [2.0, 5.0]
    assert all(r["utf8_valid_with_blocker"] == 1.0 for r in rows)
    assert all(0 <= r["real_word_share"] <= 1 for r in rows)
    assert rows[0]["entropy_nats_per_token"] < rows[1]["entropy_nats_per_token"]


def test_empty_prompt_and_long_generation_pass_on_a_small_model(
    model: GPT, tokenizer: BpeTokenizer
) -> None:
    generator = Generator(model, tokenizer)
    assert adversarial.empty_prompt(generator, 20, seed=0).passed
    long = adversarial.long_generation(generator, 600, seed=0)
    assert long.passed and long.figures["generated"] == 600
    assert long.figures["growth_mb"] < adversarial.MAX_GROWTH_MB
