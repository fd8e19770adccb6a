"""The KV cache: logits with it equal logits without it, at every step."""

from __future__ import annotations

import pytest
import torch

from nanoforge.model.gpt import GPT, GPTConfig, KVCache

CONFIGS = {
    "pre_ln": GPTConfig(vocab_size=32, block_size=24, n_layer=2, n_head=2, n_embd=16),
    "post_ln": GPTConfig(
        vocab_size=32, block_size=24, n_layer=2, n_head=4, n_embd=16, norm_position="post"
    ),
    "no_pos_emb": GPTConfig(
        vocab_size=32, block_size=24, n_layer=2, n_head=2, n_embd=16, pos_emb=False
    ),
}


def model_and_tokens(config: GPTConfig, batch: int = 2) -> tuple[GPT, torch.Tensor]:
    torch.manual_seed(0)
    model = GPT(config).eval()
    idx = torch.randint(config.vocab_size, (batch, config.block_size))
    return model, idx


@pytest.mark.parametrize("name", CONFIGS)
def test_one_token_at_a_time_with_the_cache_gives_the_full_forward_logits(name: str) -> None:
    model, idx = model_and_tokens(CONFIGS[name])
    full, _ = model(idx)
    cache = KVCache(model.config, idx.size(0), idx.device, torch.float32)
    for t in range(idx.size(1)):
        step, _ = model(idx[:, t : t + 1], cache=cache)
        torch.testing.assert_close(step[:, 0], full[:, t], rtol=1e-5, atol=1e-5)
    assert cache.length == idx.size(1)


def test_a_prefill_then_single_steps_match_the_full_forward() -> None:
    model, idx = model_and_tokens(CONFIGS["pre_ln"])
    full, _ = model(idx)
    cache = KVCache(model.config, 2, idx.device, torch.float32)
    prefill, _ = model(idx[:, :10], cache=cache)
    torch.testing.assert_close(prefill, full[:, :10], rtol=1e-5, atol=1e-5)
    chunk, _ = model(idx[:, 10:17], cache=cache)  # several new tokens at once: a causal mask
    torch.testing.assert_close(chunk, full[:, 10:17], rtol=1e-5, atol=1e-5)
    for t in range(17, 24):
        step, _ = model(idx[:, t : t + 1], cache=cache)
        torch.testing.assert_close(step[:, 0], full[:, t], rtol=1e-5, atol=1e-5)


def test_the_manual_attention_path_agrees_with_the_cache() -> None:
    model, idx = model_and_tokens(CONFIGS["pre_ln"])
    cache = KVCache(model.config, 2, idx.device, torch.float32)
    model(idx[:, :5], cache=cache)
    fast, _ = model(idx[:, 5:9], cache=cache)
    cache.length = 5
    manual, _, attn = model(idx[:, 5:9], cache=cache, return_attn=True)
    torch.testing.assert_close(fast, manual, rtol=1e-5, atol=1e-5)
    assert attn[0].shape == (2, 2, 4, 9)  # 4 queries over 9 keys
    assert torch.all(attn[0][..., 0, 6:] == 0)  # the first new token sees positions 0..5


def test_a_reset_cache_starts_a_new_sequence_at_position_zero() -> None:
    model, idx = model_and_tokens(CONFIGS["pre_ln"])
    cache = KVCache(model.config, 2, idx.device, torch.float32)
    model(idx[:, :20], cache=cache)
    cache.reset()
    again, _ = model(idx[:, 3:8], cache=cache)
    alone, _ = model(idx[:, 3:8])
    torch.testing.assert_close(again, alone, rtol=1e-5, atol=1e-5)


def test_writing_past_the_context_through_the_cache_is_refused() -> None:
    model, idx = model_and_tokens(CONFIGS["pre_ln"])
    cache = KVCache(model.config, 2, idx.device, torch.float32)
    model(idx, cache=cache)
    with pytest.raises(ValueError, match=r"longer than model\.block_size"):
        model(idx[:, :1], cache=cache)
