"""Attention heatmaps: where each position of a prompt looks, for every layer and head.

    ids (T,) -> GPT(return_attn=True) -> maps (n_layer, n_head, T, T) -> grid of heatmaps

Row t of a map is the softmax over the positions query t attends to: it sums to 1 and is
zero right of the diagonal (the causal mask). Heatmaps share one colour scale, 0 to 1, so
heads and layers can be compared by eye.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.axes import Axes

from nanoforge.model.gpt import GPT
from nanoforge.viz.figure import new_figure, save_png

MAX_TICK_LABELS = 24
"""Most token labels along one axis; longer prompts label every k-th token."""


def attention_maps(model: GPT, ids: Sequence[int]) -> np.ndarray:
    """The attention weights of every layer and head on `ids`: (n_layer, n_head, T, T).

    Computed in eval mode (no dropout) on the model's manual attention path; the
    model's train/eval mode is restored afterwards.
    """
    device = next(model.parameters()).device
    idx = torch.tensor([list(ids)], dtype=torch.long, device=device)  # (1, T)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            _, _, attn = model(idx, return_attn=True)  # n_layer x (1, nh, T, T)
    finally:
        model.train(was_training)
    return torch.cat(attn).float().cpu().numpy()  # (n_layer, nh, T, T)


def _label_ticks(ax: Axes, labels: Sequence[str], x: bool, y: bool) -> None:
    """Token labels on the x (keys) and/or y (queries) axis, every k-th if there are many."""
    step = math.ceil(len(labels) / MAX_TICK_LABELS)
    ticks = list(range(0, len(labels), step))
    shown = [labels[t] for t in ticks]
    ax.set_xticks(ticks, shown if x else [], rotation=90, fontsize=6)
    ax.set_yticks(ticks, shown if y else [], fontsize=6)
    ax.tick_params(length=2, pad=1)


def plot_attention_grid(
    maps: np.ndarray,
    token_labels: Sequence[str],
    path: str | Path,
    title: str,
) -> Path:
    """Heatmaps of `maps` (n_layer, n_head, T, T): layers as rows, heads as columns.

    Keys (attended-to tokens) run along x, queries along y; `token_labels` has T entries.
    Writes the PNG at `path` and returns it.
    """
    n_layer, n_head, T, _ = maps.shape
    if len(token_labels) != T:
        raise ValueError(f"{len(token_labels)} token labels for maps over {T} tokens")
    # Each cell grows with the labels it shows (up to MAX_TICK_LABELS), so they fit.
    cell = 1.2 + 0.12 * min(T, MAX_TICK_LABELS)
    fig = new_figure(cell * n_head + 1.0, cell * n_layer + 0.6)
    axes = fig.subplots(n_layer, n_head, squeeze=False)
    # Positions a query cannot see (right of the diagonal) are masked and left blank, so
    # the causal triangle is not mistaken for weights that happen to be near zero.
    future = np.triu(np.ones((T, T), dtype=bool), k=1)  # (T, T)
    cmap = colormaps["viridis"].with_extremes(bad="white")
    image = None
    for layer in range(n_layer):
        for head in range(n_head):
            ax = axes[layer, head]
            shown = np.ma.masked_array(maps[layer, head], mask=future)  # (T, T)
            image = ax.imshow(shown, cmap=cmap, vmin=0.0, vmax=1.0)
            ax.set_title(f"layer {layer} · head {head}", fontsize=8)
            _label_ticks(ax, token_labels, x=layer == n_layer - 1, y=head == 0)
    for ax in axes[-1]:
        ax.set_xlabel("key (attended to)", fontsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("query", fontsize=7)
    fig.colorbar(image, ax=axes, label="attention weight", shrink=0.6)
    fig.suptitle(title)
    return save_png(fig, path)
