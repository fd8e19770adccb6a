"""The GPT: shapes, causality, two attention paths that agree, GPT-2 init, counts, config."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from nanoforge.config import build
from nanoforge.errors import ConfigError
from nanoforge.model.gpt import GPT, GPTConfig

# Small enough to be instant, wide enough to have two heads of four channels.
TINY = GPTConfig(vocab_size=16, block_size=8, n_layer=2, n_head=2, n_embd=8)


def make(config: GPTConfig = TINY, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return GPT(config).eval()


def tokens(config: GPTConfig, batch: int, length: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(config.vocab_size, (batch, length), generator=generator)


# ------------------------------------------------------------------------ forward


def test_logits_have_one_row_per_position_and_no_loss_without_targets() -> None:
    model = make()
    logits, loss = model(tokens(TINY, 3, 5))
    assert logits.shape == (3, 5, 16)
    assert loss is None


def test_with_targets_the_loss_is_a_scalar_cross_entropy_over_all_positions() -> None:
    model = make()
    idx, targets = tokens(TINY, 3, 8), tokens(TINY, 3, 8, seed=2)
    logits, loss = model(idx, targets)
    assert logits.shape == (3, 8, 16)
    assert loss.shape == ()
    expected = nn.functional.cross_entropy(logits.reshape(24, 16), targets.reshape(24))
    torch.testing.assert_close(loss, expected)


def test_targets_of_minus_one_are_left_out_of_the_loss() -> None:
    model = make()
    idx, targets = tokens(TINY, 2, 8), tokens(TINY, 2, 8, seed=2)
    masked = targets.clone()
    masked[:, :4] = -1
    logits, loss = model(idx, masked)
    expected = nn.functional.cross_entropy(logits[:, 4:].reshape(8, 16), targets[:, 4:].reshape(8))
    torch.testing.assert_close(loss, expected)


def test_a_sequence_longer_than_block_size_is_refused_by_name() -> None:
    model = make()
    model(tokens(TINY, 1, 8))  # exactly block_size is fine
    with pytest.raises(ValueError, match=r"9 tokens is longer than model\.block_size \(8\)"):
        model(tokens(TINY, 1, 9))


@pytest.mark.parametrize("norm_position", ["pre", "post"])
@pytest.mark.parametrize("pos_emb", [True, False])
@pytest.mark.parametrize("return_attn", [False, True], ids=["sdpa", "manual"])
def test_changing_a_future_token_never_changes_earlier_logits(
    norm_position: str, pos_emb: bool, return_attn: bool
) -> None:
    config = GPTConfig(
        vocab_size=16, block_size=8, n_layer=2, n_head=2, n_embd=8,
        norm_position=norm_position, pos_emb=pos_emb,
    )  # fmt: skip
    model = make(config)
    idx = tokens(config, 2, 8)
    for t in range(8):
        changed = idx.clone()
        changed[:, t] = (changed[:, t] + 1) % config.vocab_size
        before = model(idx, return_attn=return_attn)[0]
        after = model(changed, return_attn=return_attn)[0]
        torch.testing.assert_close(after[:, :t], before[:, :t], rtol=0, atol=1e-6)
        assert not torch.allclose(after[:, t:], before[:, t:])


# ---------------------------------------------------------------------- attention


def test_sdpa_and_manual_attention_give_the_same_logits_and_loss() -> None:
    config = GPTConfig(vocab_size=16, block_size=8, n_layer=2, n_head=4, n_embd=32)
    model = make(config)
    idx, targets = tokens(config, 3, 8), tokens(config, 3, 8, seed=2)
    fast_logits, fast_loss = model(idx, targets)
    slow_logits, slow_loss, _ = model(idx, targets, return_attn=True)
    torch.testing.assert_close(slow_logits, fast_logits, rtol=0, atol=1e-6)
    torch.testing.assert_close(slow_loss, fast_loss, rtol=0, atol=1e-6)


def test_attention_weights_are_causal_probabilities_one_map_per_layer() -> None:
    config = GPTConfig(vocab_size=16, block_size=8, n_layer=2, n_head=4, n_embd=32)
    _, _, attn = make(config)(tokens(config, 3, 6), return_attn=True)
    assert len(attn) == 2
    for weights in attn:
        assert weights.shape == (3, 4, 6, 6)  # (B, n_head, T, T)
        future = torch.ones(6, 6, dtype=torch.bool).triu(1)
        assert torch.all(weights[..., future] == 0)
        assert torch.all(weights >= 0)
        torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4, 6))
    # The first position can only look at itself.
    assert torch.all(attn[0][..., 0, 0] == 1)


def test_dropout_is_random_in_training_and_off_in_eval() -> None:
    config = GPTConfig(vocab_size=16, block_size=8, n_layer=2, n_head=2, n_embd=8, dropout=0.5)
    model = make(config)
    idx = tokens(config, 2, 8)
    torch.testing.assert_close(model(idx)[0], model(idx)[0])
    model.train()
    for return_attn in (False, True):
        first = model(idx, return_attn=return_attn)[0]
        assert not torch.allclose(first, model(idx, return_attn=return_attn)[0])


# ------------------------------------------------------------------------- learning


def test_loss_at_init_is_close_to_uniform_guessing() -> None:
    config = GPTConfig(vocab_size=64, block_size=16, n_layer=2, n_head=2, n_embd=32)
    model = make(config)
    _, loss = model(tokens(config, 8, 16), tokens(config, 8, 16, seed=2))
    assert abs(loss.item() - math.log(64)) < 0.1


def test_a_few_hundred_adamw_steps_memorise_a_tiny_batch() -> None:
    config = GPTConfig(vocab_size=32, block_size=16, n_layer=2, n_head=2, n_embd=32)
    model = make(config).train()
    data = tokens(config, 4, 17)
    idx, targets = data[:, :-1], data[:, 1:]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    first = None
    for _ in range(200):
        _, loss = model(idx, targets)
        first = loss.item() if first is None else first
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    assert first > 3.0
    assert loss.item() < 0.1


# --------------------------------------------------------------- weights and counts


def test_tied_weights_are_one_parameter_and_untied_are_two() -> None:
    tied = make()
    assert tied.lm_head.weight is tied.transformer.wte.weight
    untied = make(GPTConfig(**{**TINY.to_dict(), "tie_weights": False}))
    assert untied.lm_head.weight is not untied.transformer.wte.weight
    assert not torch.equal(untied.lm_head.weight, untied.transformer.wte.weight)


# TINY by hand (C = 8, V = 16, block_size = 8, 2 layers):
#   a block: ln_1 2C + c_attn (C*3C + 3C) + c_proj (C*C + C) + ln_2 2C
#            + c_fc (C*4C + 4C) + mlp.c_proj (4C*C + C)
#          = 16 + 216 + 72 + 16 + 288 + 264 = 872  (= 12C^2 + 13C)
#   2 blocks 1744, ln_f 16, wte V*C 128, wpe 8*C 64, untied lm_head V*C 128.
@pytest.mark.parametrize(
    ("changes", "total", "non_embedding"),
    [
        ({}, 1744 + 16 + 128 + 64, 1744 + 16),
        ({"tie_weights": False}, 1744 + 16 + 128 + 64 + 128, 1744 + 16 + 128),
        ({"pos_emb": False}, 1744 + 16 + 128, 1744 + 16),
        ({"norm_position": "post"}, 1744 + 128 + 64, 1744),  # ln_f is Identity
        # No biases: a block is 12C^2 + 2C (LayerNorm weights) = 784; ln_f 8.
        ({"bias": False}, 2 * 784 + 8 + 128 + 64, 2 * 784 + 8),
    ],
    ids=["default", "untied", "no_pos_emb", "post", "no_bias"],
)
def test_parameter_counts_match_the_hand_computed_numbers(
    changes: dict, total: int, non_embedding: int
) -> None:
    model = make(GPTConfig(**{**TINY.to_dict(), **changes}))
    assert model.num_params(non_embedding=False) == total
    assert model.num_params() == non_embedding
    assert model.param_counts == {"total": total, "non_embedding": non_embedding}


def test_flops_per_token_is_6n_plus_the_attention_term() -> None:
    model = make()
    # N = 1760 non-embedding + 128 for the tied lm_head matmul; 12 * L * T * C = 12*2*8*8.
    assert model.flops_per_token() == 6 * (1760 + 128) + 12 * 2 * 8 * 8
    assert model.flops_per_token(seq_len=4) == 6 * (1760 + 128) + 12 * 2 * 4 * 8
    untied = make(GPTConfig(**{**TINY.to_dict(), "tie_weights": False}))
    assert untied.flops_per_token() == 6 * 1888 + 12 * 2 * 8 * 8


def test_init_follows_gpt2_with_scaled_residual_projections() -> None:
    config = GPTConfig(vocab_size=512, block_size=64, n_layer=4, n_head=4, n_embd=256)
    model = make(config)
    residual_std = 0.02 / math.sqrt(2 * 4)
    for name, p in model.named_parameters():
        if name.endswith("c_proj.weight"):
            assert p.std().item() == pytest.approx(residual_std, rel=0.05), name
        elif name.endswith(("c_attn.weight", "c_fc.weight", "wte.weight", "wpe.weight")):
            assert p.std().item() == pytest.approx(0.02, rel=0.05), name
            assert abs(p.mean().item()) < 1e-3, name
        elif "ln_" in name:
            assert torch.all(p == (1.0 if name.endswith("weight") else 0.0)), name
        else:
            assert name.endswith(".bias"), name
            assert torch.all(p == 0), name


def test_same_seed_gives_the_same_weights_and_another_seed_others() -> None:
    first, again, other = make(seed=3), make(seed=3), make(seed=4)
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, again.state_dict()[name]), name
    assert not torch.equal(first.transformer.wte.weight, other.transformer.wte.weight)


@pytest.mark.parametrize(
    "changes", [{"norm_position": "post"}, {"activation": "relu"}, {"pos_emb": False}]
)
def test_ablation_variants_run_and_differ_from_the_default(changes: dict) -> None:
    config = GPTConfig(**{**TINY.to_dict(), **changes})
    idx = tokens(TINY, 2, 8)
    default_logits, _ = make()(idx)
    logits, loss = make(config)(idx, idx)
    assert logits.shape == default_logits.shape
    assert torch.isfinite(loss)
    assert not torch.allclose(logits, default_logits)


def test_relu_variant_uses_relu_and_post_ln_has_no_final_norm() -> None:
    relu = make(GPTConfig(**{**TINY.to_dict(), "activation": "relu"}))
    assert all(isinstance(block.mlp.act, nn.ReLU) for block in relu.transformer.h)
    assert all(isinstance(block.mlp.act, nn.GELU) for block in make().transformer.h)
    post = make(GPTConfig(**{**TINY.to_dict(), "norm_position": "post"}))
    assert isinstance(post.transformer.ln_f, nn.Identity)
    assert "wpe" not in make(GPTConfig(**{**TINY.to_dict(), "pos_emb": False})).transformer


# ------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n_embd": 130}, "model.n_embd must be divisible by model.n_head (got 130 and 4)"),
        ({"vocab_size": 0}, "model.vocab_size must be positive (got 0)"),
        ({"block_size": -1}, "model.block_size must be positive (got -1)"),
        ({"n_layer": 0}, "model.n_layer must be positive (got 0)"),
        ({"n_head": 0}, "model.n_head must be positive (got 0)"),
        ({"n_embd": 0}, "model.n_embd must be positive (got 0)"),
        ({"dropout": 1.0}, "model.dropout must be >= 0 and < 1 (got 1.0)"),
        ({"dropout": -0.1}, "model.dropout must be >= 0 and < 1 (got -0.1)"),
        ({"norm_position": "mid"}, "model.norm_position must be one of pre | post (got 'mid')"),
        ({"activation": "tanh"}, "model.activation must be one of gelu | relu (got 'tanh')"),
    ],
)
def test_each_bad_value_is_one_config_error_line_naming_the_key(
    changes: dict, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        GPTConfig(**changes)
    assert str(info.value) == message


def test_defaults_are_valid_and_dropout_may_be_given_as_an_integer() -> None:
    assert GPTConfig().n_embd % GPTConfig().n_head == 0
    assert GPTConfig(dropout=0).dropout == 0


def test_config_round_trips_through_its_dict_with_the_params_loader() -> None:
    config = GPTConfig(n_layer=2, norm_position="post", activation="relu", tie_weights=False)
    assert build(GPTConfig, config.to_dict(), "model") == config
    assert build(GPTConfig, {}, "model") == GPTConfig()
    with pytest.raises(ConfigError) as info:
        build(GPTConfig, {**config.to_dict(), "n_layers": 3}, "model")
    assert str(info.value) == "model.n_layers is not a known key; did you mean 'n_layer'?"
    with pytest.raises(ConfigError, match=r"^model.n_head must be int \(got bool True\)$"):
        build(GPTConfig, {"n_head": True}, "model")
