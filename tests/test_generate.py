"""Generation: determinism, the ghost-byte blocker, context overflow, streaming, stops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nanoforge.errors import ConfigError
from nanoforge.infer import generate
from nanoforge.infer.generate import GenerateConfig, Generator
from nanoforge.infer.sampling import Sampling
from nanoforge.model.gpt import GPT, GPTConfig
from nanoforge.tokenizers.base import EOT
from nanoforge.tokenizers.bpe import BpeTokenizer
from nanoforge.tokenizers.char import CharTokenizer
from nanoforge.tokenizers.ghost_bytes import GhostByteTable
from nanoforge.tokenizers.patterns import PATTERNS

# Several scripts, so that the vocabulary holds whole and partial multi-byte characters.
TEXTS = [
    "The quick brown fox jumps over the lazy dog. " * 3,
    "Ο γρήγορος καφέ αλεπού πηδά πάνω από τον τεμπέλη σκύλο. " * 3,
    "敏捷的棕色狐狸跳过了懒狗。日本語のテキストも少し。 " * 3,
    "Emoji 🦊🐶🎉 and symbols € ∑ → ≠ ✓. Ünïcödé çà et là. " * 3,
]


@pytest.fixture(scope="module")
def tokenizer() -> BpeTokenizer:
    return BpeTokenizer.train(TEXTS, vocab_size=300, pattern=PATTERNS["gpt4"], specials=[EOT])


def tiny_model(vocab_size: int, seed: int = 0, block_size: int = 32, logit_std: float = 0.0) -> GPT:
    """A random GPT; with `logit_std`, the output layer is redrawn so logits are large and
    random (a model confidently wrong in every direction)."""
    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=2, n_head=2,
                       n_embd=16, tie_weights=logit_std == 0.0)  # fmt: skip
    model = GPT(config)
    if logit_std:
        torch.nn.init.normal_(model.lm_head.weight, std=logit_std)
    return model.eval()


def always_predicting(vocab_size: int, token_id: int, block_size: int = 64) -> GPT:
    """A model whose next token is always `token_id`: ln_f outputs a vector of ones and only
    that token's output row is non-zero."""
    model = tiny_model(vocab_size, block_size=block_size, logit_std=1.0)  # untied lm_head
    with torch.no_grad():
        model.transformer.ln_f.weight.zero_()
        model.transformer.ln_f.bias.fill_(1.0)
        model.lm_head.weight.zero_()
        model.lm_head.weight[token_id] = 1.0
    return model


def config(
    strategy: str = "temperature", temperature: float = 1.0, **kwargs: object
) -> GenerateConfig:
    knobs = {"top_k": kwargs.pop("top_k", None), "top_p": kwargs.pop("top_p", None)}
    return GenerateConfig(sampling=Sampling(strategy, temperature, **knobs), **kwargs)  # type: ignore[arg-type]


def strictly_valid(tokenizer: BpeTokenizer, ids: list[int]) -> bool:
    try:
        tokenizer.decode_bytes(ids).decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        return False
    return True


# ------------------------------------------------------------------- strategies


def test_greedy_is_deterministic_and_ignores_the_seed(tokenizer: BpeTokenizer) -> None:
    gen = Generator(tiny_model(tokenizer.vocab_size), tokenizer)
    prompt = tokenizer.encode("The quick")
    runs = [gen.generate(prompt, config("greedy", max_new_tokens=40, seed=s)).ids for s in (1, 2)]
    assert runs[0] == runs[1]
    assert len(runs[0]) == 40 or gen.generate(prompt, config("greedy")).stop_reason == "eot"


def test_temperature_zero_generates_exactly_what_greedy_does(tokenizer: BpeTokenizer) -> None:
    gen = Generator(tiny_model(tokenizer.vocab_size), tokenizer)
    prompt = tokenizer.encode("Ο γρήγορος")
    greedy = gen.generate(prompt, config("greedy", max_new_tokens=30)).ids
    cold = gen.generate(prompt, config("top_p", 0.0, top_p=0.9, max_new_tokens=30, seed=7)).ids
    assert cold == greedy


def test_sampling_is_seedable(tokenizer: BpeTokenizer) -> None:
    gen = Generator(tiny_model(tokenizer.vocab_size), tokenizer)
    prompt = tokenizer.encode("Emoji")
    a, b, c = (gen.generate(prompt, config(max_new_tokens=50, seed=s)).ids for s in (3, 3, 4))
    assert a == b
    assert a != c


def test_generation_with_the_cache_equals_recomputing_the_whole_context(
    tokenizer: BpeTokenizer,
) -> None:
    model = tiny_model(tokenizer.vocab_size, block_size=64)
    gen = Generator(model, tokenizer)
    prompt = tokenizer.encode("The quick brown")
    out = gen.generate(prompt, config("greedy", max_new_tokens=40, block_ghost_bytes=False)).ids
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(40):
            logits, _ = model(torch.tensor([ids]))
            logits[0, -1, gen.table.never] = -torch.inf
            ids.append(int(logits[0, -1].argmax()))
    assert out == ids[len(prompt) :]


# ----------------------------------------------------------------- ghost bytes


@pytest.mark.parametrize("logit_std", [0.0, 1.0], ids=["model", "random_logits"])
def test_with_the_blocker_every_output_decodes_strictly_at_temperature_5(
    tokenizer: BpeTokenizer, logit_std: float
) -> None:
    gen = Generator(tiny_model(tokenizer.vocab_size, logit_std=logit_std), tokenizer)
    total = 0
    for seed in range(12):
        prompt = tokenizer.encode(TEXTS[seed % 4][:20])
        result = gen.generate(
            prompt, config(temperature=5.0, max_new_tokens=200, seed=seed, stop_at_eot=False)
        )
        total += len(result.ids)
        assert strictly_valid(tokenizer, prompt + result.ids), f"seed {seed}"
    assert total >= 2000


@pytest.mark.parametrize("logit_std", [0.0, 1.0], ids=["model", "random_logits"])
def test_without_the_blocker_the_same_setup_produces_invalid_bytes(
    tokenizer: BpeTokenizer, logit_std: float
) -> None:
    gen = Generator(tiny_model(tokenizer.vocab_size, logit_std=logit_std), tokenizer)
    invalid = 0
    for seed in range(12):
        prompt = tokenizer.encode(TEXTS[seed % 4][:20])
        result = gen.generate(
            prompt,
            config(
                temperature=5.0,
                max_new_tokens=200,
                seed=seed,
                stop_at_eot=False,
                block_ghost_bytes=False,
            ),
        )
        invalid += not strictly_valid(tokenizer, prompt + result.ids)
    assert invalid >= 6


def test_the_blocker_never_ends_inside_a_character_even_on_the_last_token(
    tokenizer: BpeTokenizer,
) -> None:
    gen = Generator(tiny_model(tokenizer.vocab_size, logit_std=1.0), tokenizer)
    for length in range(1, 9):
        for seed in range(10):
            cfg = config(temperature=5.0, max_new_tokens=length, seed=seed, stop_at_eot=False)
            result = gen.generate([tokenizer.eot_id], cfg)
            assert strictly_valid(tokenizer, result.ids)


def test_the_table_allows_continuations_only_inside_a_character(tokenizer: BpeTokenizer) -> None:
    table = GhostByteTable(tokenizer)
    boundary, inside_two_byte = table.states[0], table.states[1]  # after C2: one byte to go
    continuation = tokenizer.encode("é")[0]  # é is C3 A9: a merged or a lead-byte token
    lone_cont = 0xA9  # the base token for the single byte A9 (ids 0..255 are the bytes)
    assert tokenizer.token_bytes(lone_cont) == b"\xa9"
    assert not table.allowed(boundary)[lone_cont]
    assert table.allowed(inside_two_byte)[lone_cont]
    assert table.allowed(boundary)[continuation]
    assert not table.allowed(inside_two_byte)[ord("a")]
    assert not table.allowed(inside_two_byte)[tokenizer.eot_id]  # the text cannot end here
    assert table.allowed(boundary)[tokenizer.eot_id]


def test_a_char_tokenizer_never_needs_blocking_but_unk_is_never_generated() -> None:
    tokenizer = CharTokenizer.train(["hello wörld"], vocab_size=12, specials=[EOT])
    table = GhostByteTable(tokenizer)
    assert table.allowed(table.states[0]).sum() == tokenizer.vocab_size - 1  # all but <unk>
    gen = Generator(tiny_model(tokenizer.vocab_size), tokenizer)
    result = gen.generate(tokenizer.encode("hello"), config(temperature=5.0, max_new_tokens=300))
    assert tokenizer.specials["<unk>"] not in result.ids


# -------------------------------------------------------------------- overflow


def test_a_prompt_ten_times_the_context_still_generates(tokenizer: BpeTokenizer) -> None:
    gen = Generator(tiny_model(tokenizer.vocab_size, block_size=32), tokenizer)
    prompt = (tokenizer.encode(" ".join(TEXTS)) * 4)[: 10 * 32]
    assert len(prompt) == 320
    result = gen.generate(prompt, config(max_new_tokens=100, seed=1, stop_at_eot=False))
    assert len(result.ids) == 100
    assert strictly_valid(tokenizer, prompt + result.ids)


def test_only_the_last_block_size_tokens_of_a_long_prompt_matter(tokenizer: BpeTokenizer) -> None:
    gen = Generator(tiny_model(tokenizer.vocab_size, block_size=32), tokenizer)
    prompt = (tokenizer.encode(" ".join(TEXTS)) * 4)[:320]
    long = gen.generate(prompt, config("greedy", max_new_tokens=20, stop_at_eot=False))
    tail = gen.generate(prompt[-32:], config("greedy", max_new_tokens=20, stop_at_eot=False))
    assert long.ids == tail.ids


def test_with_shift_one_each_token_sees_exactly_the_last_block_size_tokens(
    tokenizer: BpeTokenizer,
) -> None:
    block = 16
    model = tiny_model(tokenizer.vocab_size, block_size=block)
    gen = Generator(model, tokenizer)
    prompt = tokenizer.encode("The quick brown fox")
    out = gen.generate(prompt, config("greedy", max_new_tokens=40, shift=1, stop_at_eot=False,
                                      block_ghost_bytes=False)).ids  # fmt: skip
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(40):
            logits, _ = model(torch.tensor([ids[-block:]]))
            logits[0, -1, gen.table.never] = -torch.inf
            ids.append(int(logits[0, -1].argmax()))
    assert out == ids[len(prompt) :]


# ------------------------------------------------------------ streaming, stops


def test_streamed_text_is_the_decoded_output_in_whole_characters(tokenizer: BpeTokenizer) -> None:
    gen = Generator(tiny_model(tokenizer.vocab_size), tokenizer)
    prompt = tokenizer.encode("敏捷的")
    cfg = config(temperature=2.0, max_new_tokens=150, seed=5)
    pieces = list(gen.stream_text(prompt, cfg))
    assert "".join(pieces) == tokenizer.decode(gen.generate(prompt, cfg).ids)
    for piece in pieces:
        assert piece.encode("utf-8").decode("utf-8") == piece
        assert "\ufffd" not in piece


def test_an_empty_prompt_starts_from_end_of_text(tokenizer: BpeTokenizer) -> None:
    gen = Generator(tiny_model(tokenizer.vocab_size), tokenizer)
    assert gen.encode_prompt("") == [tokenizer.eot_id]
    result = gen.generate(gen.encode_prompt(""), config(max_new_tokens=20, seed=1))
    assert result.stop_reason in {"eot", "max_new_tokens"}


def test_end_of_text_stops_generation_and_is_not_part_of_the_output(
    tokenizer: BpeTokenizer,
) -> None:
    gen = Generator(always_predicting(tokenizer.vocab_size, tokenizer.eot_id), tokenizer)
    result = gen.generate(tokenizer.encode("The"), config("greedy", max_new_tokens=50))
    assert result.stop_reason == "eot"
    assert tokenizer.eot_id not in result.ids


def test_stop_on_loop_ends_a_greedy_run_that_repeats(tokenizer: BpeTokenizer) -> None:
    gen = Generator(always_predicting(tokenizer.vocab_size, ord("a")), tokenizer)
    looping = gen.generate(tokenizer.encode("The"), config("greedy", max_new_tokens=200,
                                                          stop_on_loop=True))  # fmt: skip
    assert looping.stop_reason == "loop"
    assert len(looping.ids) < 50
    assert set(looping.ids) == {ord("a")}


class LoopAtOnce:
    """A loop detector that reports a loop from the first token on."""

    def push(self, token_id: int) -> bool:
        return True


def test_a_loop_stop_never_cuts_a_character_in_half(
    tokenizer: BpeTokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(generate, "LoopDetector", LoopAtOnce)
    # Greedy's first token is the lead byte 0xC3: the loop is seen with a character open,
    # and the run must go on to finish it (the blocker allows only continuation bytes).
    gen = Generator(always_predicting(tokenizer.vocab_size, 0xC3), tokenizer)
    result = gen.generate(tokenizer.encode("The"), config("greedy", max_new_tokens=50,
                                                         stop_on_loop=True))  # fmt: skip
    assert result.stop_reason == "loop"
    assert result.ids[0] == 0xC3 and len(result.ids) == 2
    assert strictly_valid(tokenizer, result.ids)


def test_entropies_are_recorded_per_token_and_grow_with_temperature(
    tokenizer: BpeTokenizer,
) -> None:
    gen = Generator(tiny_model(tokenizer.vocab_size, logit_std=0.5), tokenizer)
    prompt = tokenizer.encode("The")
    mean = {}
    for t in (0.5, 2.0):
        result = gen.generate(prompt, config(temperature=t, max_new_tokens=60, seed=2,
                                             stop_at_eot=False))  # fmt: skip
        assert len(result.entropies) == len(result.ids) == 60
        mean[t] = float(np.mean(result.entropies))
    assert 0 < mean[0.5] < mean[2.0] <= np.log(tokenizer.vocab_size)


def test_a_tokenizer_that_does_not_fit_the_model_is_refused(tokenizer: BpeTokenizer) -> None:
    with pytest.raises(ConfigError, match="the tokenizer has 300 ids but the model reads 40"):
        Generator(tiny_model(40), tokenizer)
