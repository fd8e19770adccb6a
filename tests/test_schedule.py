"""Learning-rate schedule values and AdamW weight-decay groups."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
import torch
from torch import nn

from nanoforge.model.gpt import GPT, GPTConfig
from nanoforge.train.schedule import lr_at, make_optimizer, param_groups

MAX_LR, MIN_LR, WARMUP, MAX_STEPS = 6e-4, 6e-5, 10, 110
TINY = GPTConfig(vocab_size=16, block_size=8, n_layer=2, n_head=2, n_embd=8)


def lr(step: int) -> float:
    return lr_at(step, max_lr=MAX_LR, min_lr=MIN_LR, warmup_steps=WARMUP, max_steps=MAX_STEPS)


# ----------------------------------------------------------------------- schedule


def test_warmup_starts_at_one_warmup_step_of_max_lr_and_ends_exactly_at_max_lr() -> None:
    assert lr(0) == MAX_LR / WARMUP
    assert lr(4) == MAX_LR * 5 / WARMUP
    assert lr(WARMUP - 1) == MAX_LR


def test_decay_is_a_cosine_from_max_lr_through_the_midpoint_to_min_lr() -> None:
    assert lr(WARMUP) == pytest.approx(MAX_LR, rel=1e-12)
    assert lr((WARMUP + MAX_STEPS) // 2) == pytest.approx((MAX_LR + MIN_LR) / 2, rel=1e-12)
    quarter = WARMUP + (MAX_STEPS - WARMUP) // 4
    expected = MIN_LR + 0.5 * (1 + math.cos(math.pi / 4)) * (MAX_LR - MIN_LR)
    assert lr(quarter) == pytest.approx(expected, rel=1e-12)


def test_at_and_after_max_steps_the_rate_is_min_lr() -> None:
    assert lr(MAX_STEPS) == MIN_LR
    assert lr(MAX_STEPS + 1) == MIN_LR
    assert lr(10 * MAX_STEPS) == MIN_LR


def test_warmup_rises_and_decay_falls_monotonically() -> None:
    rates = [lr(step) for step in range(MAX_STEPS + 5)]
    warmup, decay = rates[:WARMUP], rates[WARMUP - 1 :]
    assert all(a < b for a, b in pairwise(warmup))
    assert all(a >= b for a, b in pairwise(decay))
    assert min(rates[WARMUP:]) >= MIN_LR and max(rates) <= MAX_LR * (1 + 1e-12)


def test_without_warmup_step_zero_is_max_lr() -> None:
    assert lr_at(0, max_lr=1.0, min_lr=0.0, warmup_steps=0, max_steps=10) == 1.0


@pytest.mark.parametrize(
    ("warmup", "max_steps", "min_lr"), [(-1, 10, 0.0), (10, 10, 0.0), (0, 10, 2.0)]
)
def test_impossible_schedules_are_refused(warmup: int, max_steps: int, min_lr: float) -> None:
    with pytest.raises(ValueError, match="need"):
        lr_at(0, max_lr=1.0, min_lr=min_lr, warmup_steps=warmup, max_steps=max_steps)


# ------------------------------------------------------------------- param groups


def expected_sets(model: nn.Module) -> tuple[set[int], set[int]]:
    """By module type: Linear/Embedding weights decay; biases and LayerNorms do not."""
    decay, no_decay = set(), set()
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Embedding):
            decay.add(id(module.weight))
        if isinstance(module, nn.LayerNorm) and module.weight is not None:
            no_decay.add(id(module.weight))
        bias = getattr(module, "bias", None)
        if isinstance(bias, nn.Parameter):
            no_decay.add(id(bias))
    return decay, no_decay


@pytest.mark.parametrize(
    "config",
    [
        TINY,
        GPTConfig(vocab_size=16, block_size=8, n_layer=2, n_head=2, n_embd=8, tie_weights=False),
        GPTConfig(vocab_size=16, block_size=8, n_layer=1, n_head=2, n_embd=8, bias=False),
        GPTConfig(vocab_size=16, block_size=8, n_layer=1, n_head=2, n_embd=8, norm_position="post"),
    ],
    ids=["tied", "untied", "no-bias", "post-ln"],
)
def test_groups_decay_exactly_the_matrices_and_hold_every_parameter_once(
    config: GPTConfig,
) -> None:
    model = GPT(config)
    decay_group, no_decay_group = param_groups(model, weight_decay=0.1)
    assert decay_group["weight_decay"] == 0.1
    assert no_decay_group["weight_decay"] == 0.0
    decay = [id(p) for p in decay_group["params"]]
    no_decay = [id(p) for p in no_decay_group["params"]]
    assert len(decay) == len(set(decay)) and len(no_decay) == len(set(no_decay))
    assert (set(decay), set(no_decay)) == expected_sets(model)
    everything = decay_group["params"] + no_decay_group["params"]
    assert sum(p.numel() for p in everything) == model.num_params(non_embedding=False)


def test_a_tied_embedding_is_decayed_once() -> None:
    model = GPT(TINY)
    decay = param_groups(model, 0.1)[0]["params"]
    assert sum(p is model.lm_head.weight for p in decay) == 1


def test_frozen_parameters_are_left_out() -> None:
    model = GPT(TINY)
    model.transformer.wpe.weight.requires_grad_(False)
    groups = param_groups(model, 0.1)
    assert all(p is not model.transformer.wpe.weight for g in groups for p in g["params"])


def test_make_optimizer_builds_adamw_over_the_two_groups() -> None:
    model = GPT(TINY)
    optimizer = make_optimizer(
        model, lr=1e-3, weight_decay=0.1, betas=(0.9, 0.95), device_type="cpu"
    )
    assert isinstance(optimizer, torch.optim.AdamW)
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.1, 0.0]
    assert optimizer.param_groups[0]["betas"] == (0.9, 0.95)
    assert optimizer.param_groups[0]["lr"] == 1e-3
    assert optimizer.param_groups[0]["fused"]  # the fused kernel runs on CPU too


def test_the_first_step_is_adamws_update_decayed_only_on_matrices() -> None:
    torch.manual_seed(0)
    model = GPT(TINY)
    lr, wd, eps = 1e-2, 0.1, 1e-8
    optimizer = make_optimizer(model, lr=lr, weight_decay=wd, betas=(0.9, 0.99), device_type="cpu")
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    grads = {name: torch.randn_like(p) for name, p in model.named_parameters()}
    for name, p in model.named_parameters():
        p.grad = grads[name].clone()
    optimizer.step()
    for name, p in model.named_parameters():
        g = grads[name]
        # Step 1 after bias correction: m̂ = g, v̂ = g², so Adam moves by g / (|g| + eps).
        decay = wd if p.dim() >= 2 else 0.0
        expected = before[name] * (1 - lr * decay) - lr * g / (g.abs() + eps)
        torch.testing.assert_close(p.detach(), expected, rtol=1e-5, atol=1e-6, msg=name)
