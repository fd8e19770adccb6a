"""The figures of trained models: their token embeddings side by side, their attention.

Turns models and a tokenizer into the inputs of the plotting functions in
`embeddings.py` and `attention.py`, so the visualize stage stays a list of calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from nanoforge.model.gpt import GPT
from nanoforge.tokenizers.base import Tokenizer
from nanoforge.viz.attention import attention_maps, plot_attention_grid
from nanoforge.viz.embeddings import (
    PcaPanel,
    align_signs,
    embedding_pca,
    embedding_weight,
    frequent_tokens,
    plot_embedding_pca,
    token_label,
    token_labels,
)


def embeddings_figure(
    models: Mapping[str, GPT], tokenizer: Tokenizer, counts: np.ndarray, k: int, path: Path
) -> Path:
    """The PCA of each model's embedding matrix, side by side, the `k` most frequent
    tokens (by `counts`) named. Later panels' axes are sign-aligned with the first, so
    the same token sits on the same side where the models agree."""
    labels = token_labels(tokenizer, frequent_tokens(counts, tokenizer, k))
    panels, reference = [], None
    for name, model in models.items():
        coords, evr = embedding_pca(embedding_weight(model))
        coords = coords if reference is None else align_signs(coords, reference)
        reference = coords if reference is None else reference
        panels.append(PcaPanel(name, coords, labels, evr))
    title = f"Token embeddings, first two principal components ({k} most frequent named)"
    return plot_embedding_pca(panels, path, title)


def attention_figure(model: GPT, tokenizer: Tokenizer, prompt: str, path: Path, name: str) -> Path:
    """Every layer's and head's attention over `prompt` (cut to the model's context)."""
    ids = tokenizer.encode(prompt)[-model.config.block_size :]
    maps = attention_maps(model, ids)
    labels = [token_label(tokenizer, i, max_chars=8) for i in ids]
    title = f"{name}: attention of each layer (rows) and head (columns), query over key"
    return plot_attention_grid(maps, labels, path, title)
