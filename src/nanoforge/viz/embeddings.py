"""The token embedding matrix in two dimensions: PCA, which tokens to name, and the plot.

    wte (V, C) -> PCA -> coords (V, 2) -> scatter of every token, the frequent ones named

The pretrained and the fine-tuned model are drawn side by side. Each gets its own PCA, and
a principal component's sign is arbitrary (v and -v explain the same variance), so the
fine-tuned coordinates are flipped, component by component, to agree with the pretrained
ones (`align_signs`): otherwise the same picture could come out mirrored.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from matplotlib.axes import Axes
from sklearn.decomposition import PCA

from nanoforge.model.gpt import GPT
from nanoforge.tokenizers.base import Tokenizer
from nanoforge.viz.figure import new_figure, save_png

# Whitespace drawn as visible glyphs (all in DejaVu Sans, matplotlib's default font).
VISIBLE = {" ": "␣", "\n": "↵", "\t": "⇥"}


class PcaPanel(NamedTuple):
    """One panel of `plot_embedding_pca` (a plain 4-tuple works as well)."""

    title: str
    coords: np.ndarray
    """(V, 2): every token's first two principal components."""
    labels: dict[int, str]
    """Token id -> text, for the tokens to highlight and name."""
    evr: np.ndarray
    """(2,): fraction of the variance each component explains."""


# ------------------------------------------------------------------------------ PCA


def embedding_weight(model: GPT) -> np.ndarray:
    """The model's token embedding matrix wte as float32 NumPy, (V, C)."""
    return model.transformer.wte.weight.detach().float().cpu().numpy()


def embedding_pca(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project the rows of `weight` (V, C) on its first two principal components.

    Returns coords (V, 2) and the explained variance ratio of each component (2,),
    largest first. The full SVD solver is exact and deterministic (no random seed).
    """
    pca = PCA(n_components=2, svd_solver="full")
    coords = pca.fit_transform(np.asarray(weight, dtype=np.float64))  # (V, 2)
    return coords, pca.explained_variance_ratio_


def align_signs(coords: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`coords` with each column negated where it is negatively correlated with the
    same column of `reference` (both (V, k), rows the same tokens)."""
    a = coords - coords.mean(axis=0)
    b = reference - reference.mean(axis=0)
    # The sign of the covariance is the sign of the correlation.
    signs = np.where((a * b).sum(axis=0) < 0, -1.0, 1.0)  # (k,)
    return coords * signs


# --------------------------------------------------------------------------- labels


def _has_visible_text(data: bytes) -> bool:
    """True if the bytes decode to at least one printable, non-space character (a
    stray UTF-8 byte decodes to U+FFFD, which says nothing about the token)."""
    text = data.decode("utf-8", errors="replace")
    return any(c.isprintable() and not c.isspace() and c != "\ufffd" for c in text)


def frequent_tokens(counts: np.ndarray, tokenizer: Tokenizer, k: int = 30) -> list[int]:
    """The `k` most frequent token ids, most frequent first (ties: lower id first).

    `counts[i]` is how often id i occurs (`np.bincount(tokens)`). Special tokens, ids
    that never occur and tokens with no visible text (only whitespace, control
    characters or a stray byte) are skipped: a label for them would say nothing.
    """
    special = set(tokenizer.specials.values())
    chosen: list[int] = []
    for token_id in np.argsort(-np.asarray(counts), kind="stable"):
        if len(chosen) == k or counts[token_id] <= 0:
            break
        token_id = int(token_id)
        if token_id not in special and _has_visible_text(tokenizer.token_bytes(token_id)):
            chosen.append(token_id)
    return chosen


def _visible(char: str) -> str:
    if char in VISIBLE:
        return VISIBLE[char]
    if char.isprintable():
        return char
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def token_label(tokenizer: Tokenizer, token_id: int, max_chars: int = 12) -> str:
    """A short readable label: the token's text with whitespace and control characters
    made visible (' ' -> '␣', newline -> '↵'), cut to `max_chars` with '…'.

    Special tokens are named whole by their text (`<|endoftext|>`), not their empty bytes.
    """
    names = {i: name for name, i in tokenizer.specials.items()}
    if token_id in names:
        return names[token_id]
    raw = tokenizer.token_bytes(token_id).decode("utf-8", errors="replace")
    text = "".join(map(_visible, raw))
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def token_labels(tokenizer: Tokenizer, ids: Sequence[int], max_chars: int = 12) -> dict[int, str]:
    """`token_label` of each id, as the id -> text map `PcaPanel.labels` wants."""
    return {i: token_label(tokenizer, i, max_chars) for i in ids}


# ----------------------------------------------------------------------------- plot


def _draw_panel(ax: Axes, panel: PcaPanel) -> None:
    ax.scatter(panel.coords[:, 0], panel.coords[:, 1], s=6, c="lightgrey", linewidths=0)
    ids = list(panel.labels)
    xy = panel.coords[ids]  # (n, 2)
    ax.scatter(xy[:, 0], xy[:, 1], s=14, c="tab:blue", linewidths=0)
    for (x, y), token_id in zip(xy, ids, strict=True):
        ax.annotate(
            panel.labels[token_id],
            (x, y),
            xytext=(3, 2),
            textcoords="offset points",
            fontsize=7,
            color="tab:blue",
        )
    ax.set_title(panel.title)
    ax.set_xlabel(f"PC1 ({100 * panel.evr[0]:.1f} % of variance)")
    ax.set_ylabel(f"PC2 ({100 * panel.evr[1]:.1f} % of variance)")
    ax.grid(True, color="0.92", linewidth=0.6)
    ax.set_axisbelow(True)


def plot_embedding_pca(
    panels: Sequence[PcaPanel | tuple[str, np.ndarray, dict[int, str], np.ndarray]],
    path: str | Path,
    title: str = "Token embeddings: first two principal components",
) -> Path:
    """Draw one scatter per panel, side by side, into the PNG at `path`; return it.

    Every token is a light grey point; the labelled ones are blue and named.
    """
    panels = [PcaPanel(*p) for p in panels]
    fig = new_figure(5.5 * len(panels), 5.2)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
        _draw_panel(ax, panel)
    fig.suptitle(title)
    return save_png(fig, path)
