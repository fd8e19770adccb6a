"""Figures: embedding PCA, attention maps, curves; each plot writes a readable PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import torch

from nanoforge.errors import DataError
from nanoforge.model.gpt import GPT, GPTConfig
from nanoforge.tokenizers.base import EOT
from nanoforge.tokenizers.bpe import BpeTokenizer
from nanoforge.tokenizers.char import CharTokenizer
from nanoforge.viz.attention import attention_maps, plot_attention_grid
from nanoforge.viz.curves import (
    plot_bars_with_errors,
    plot_power_law,
    plot_training_curves,
    read_curve,
)
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
from nanoforge.viz.model_figures import attention_figure, embeddings_figure

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHARS = "\t\n abcdefghijklmnopqrstuvwxyz.,"


@pytest.fixture(scope="module")
def model() -> GPT:
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=40, block_size=16, n_layer=2, n_head=2, n_embd=16)
    return GPT(config).eval()


@pytest.fixture(scope="module")
def tokenizer() -> CharTokenizer:
    return CharTokenizer(sorted(CHARS), [EOT], unknown="error")


def assert_png(path: Path, min_pixels: int = 200) -> None:
    """`path` is a PNG that reads back as an image at least `min_pixels` on each side,
    and no temporary file was left beside it."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.shape[0] >= min_pixels and image.shape[1] >= min_pixels
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def chain_merges(word: bytes) -> list[tuple[int, int]]:
    """BPE merges that build `word` left to right: (w0, w1) -> 256, (256, w2) -> 257..."""
    merges = [(word[0], word[1])]
    for i, byte in enumerate(word[2:]):
        merges.append((256 + i, byte))
    return merges


def write_curve(folder: Path, name: str, rows: list[tuple[int, float]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"step\t{name}", *(f"{step}\t{value}" for step, value in rows)]
    (folder / f"{name}.tsv").write_text("\n".join(lines) + "\n")


# ----------------------------------------------------------------------- embeddings


def test_embedding_pca_gives_two_coordinates_per_token_and_sorted_variance_ratios(
    model: GPT,
) -> None:
    coords, evr = embedding_pca(embedding_weight(model))
    assert coords.shape == (40, 2)
    assert evr.shape == (2,)
    assert 0 < evr[1] <= evr[0] <= 1
    assert evr.sum() <= 1


def test_embedding_pca_finds_the_direction_that_holds_all_the_variance() -> None:
    rng = np.random.default_rng(0)
    t = rng.standard_normal(50)
    weight = np.outer(t, rng.standard_normal(8))  # every row on one line
    coords, evr = embedding_pca(weight)
    assert evr[0] == pytest.approx(1.0)
    assert abs(np.corrcoef(coords[:, 0], t)[0, 1]) == pytest.approx(1.0)


def test_align_signs_flips_negated_components_back_and_keeps_aligned_ones() -> None:
    reference = np.random.default_rng(1).standard_normal((30, 2))
    np.testing.assert_array_equal(align_signs(reference * [-1, 1], reference), reference)
    np.testing.assert_array_equal(align_signs(-reference, reference), reference)
    np.testing.assert_array_equal(align_signs(reference, reference), reference)


def test_frequent_tokens_picks_the_top_k_non_special_visible_tokens_in_order(
    tokenizer: CharTokenizer,
) -> None:
    ids = {char: tokenizer.encode(char)[0] for char in CHARS}
    counts = np.zeros(tokenizer.vocab_size, dtype=np.int64)
    counts[tokenizer.specials[EOT]] = 1000  # special: skipped
    counts[ids[" "]] = 900  # only whitespace: skipped
    counts[ids["\n"]] = 800
    counts[ids["e"]] = 500
    counts[ids["t"]] = 300
    counts[ids["a"]] = 300  # a tie: the lower id ('a') first
    counts[ids["z"]] = 10
    assert frequent_tokens(counts, tokenizer, k=3) == [ids["e"], ids["a"], ids["t"]]
    # Tokens that never occur are never picked, even when k asks for more.
    assert frequent_tokens(counts, tokenizer, k=10) == [ids[c] for c in "eatz"]


def test_token_label_makes_whitespace_visible_and_names_specials(
    tokenizer: CharTokenizer,
) -> None:
    space, newline = tokenizer.encode(" ")[0], tokenizer.encode("\n")[0]
    eot = tokenizer.specials[EOT]
    assert token_label(tokenizer, space) == "␣"
    assert token_label(tokenizer, newline) == "↵"
    assert token_label(tokenizer, eot, max_chars=5) == EOT  # a special is named whole
    assert token_labels(tokenizer, [space, newline]) == {space: "␣", newline: "↵"}


def test_token_label_escapes_control_bytes_and_truncates_long_tokens() -> None:
    bpe = BpeTokenizer(chain_merges(b" nanoforge"), pattern="", specials=[EOT])
    long_id = 256 + len(b" nanoforge") - 2  # the last merge makes the whole word
    assert token_label(bpe, long_id) == "␣nanoforge"
    assert token_label(bpe, long_id, max_chars=5) == "␣nan…"
    assert token_label(bpe, 7) == "\\x07"  # BEL, unprintable
    assert token_label(bpe, 0xE2) == "\ufffd"  # a lone UTF-8 lead byte


def test_frequent_tokens_skips_stray_bytes_and_control_characters() -> None:
    bpe = BpeTokenizer(chain_merges(b" nanoforge"), pattern="", specials=[EOT])
    counts = np.zeros(bpe.vocab_size, dtype=np.int64)
    counts[[0xE2, 7, ord("x"), ord("y")]] = [50, 40, 30, 20]
    assert frequent_tokens(counts, bpe, k=2) == [ord("x"), ord("y")]


def test_plot_embedding_pca_writes_side_by_side_panels(
    model: GPT, tokenizer: CharTokenizer, tmp_path: Path
) -> None:
    coords, evr = embedding_pca(embedding_weight(model))
    labels = token_labels(tokenizer, [3, 4, 5])
    tuned = align_signs(-coords, coords)
    path = plot_embedding_pca(
        [PcaPanel("pretrained", coords, labels, evr), ("fine-tuned", tuned, labels, evr)],
        tmp_path / "figs" / "pca.png",
    )
    assert path == tmp_path / "figs" / "pca.png"
    assert_png(path)
    height, width = matplotlib.image.imread(path).shape[:2]
    assert width > 1.5 * height  # two panels side by side


# ------------------------------------------------------------------------ attention


def test_attention_maps_are_causal_distributions_per_layer_and_head(model: GPT) -> None:
    ids = list(range(10))
    maps = attention_maps(model, ids)
    assert maps.shape == (2, 2, 10, 10)
    np.testing.assert_allclose(maps.sum(axis=-1), 1.0, rtol=1e-5)
    assert np.all(np.triu(maps, k=1) == 0)
    np.testing.assert_allclose(maps[..., 0, 0], 1.0)  # the first token sees only itself


def test_attention_maps_restore_the_models_training_mode(model: GPT) -> None:
    model.train()
    try:
        attention_maps(model, [1, 2, 3])
        assert model.training
    finally:
        model.eval()


def test_plot_attention_grid_writes_a_png_and_checks_the_labels(
    model: GPT, tokenizer: CharTokenizer, tmp_path: Path
) -> None:
    ids = tokenizer.encode("the cat sat on it")[:16]
    labels = [token_label(tokenizer, i) for i in ids]
    maps = attention_maps(model, ids)
    assert_png(plot_attention_grid(maps, labels, tmp_path / "attn.png", "attention"))
    with pytest.raises(ValueError, match="token labels"):
        plot_attention_grid(maps, labels[:-1], tmp_path / "bad.png", "attention")


# --------------------------------------------------------------------------- curves


def test_read_curve_parses_steps_and_values(tmp_path: Path) -> None:
    write_curve(tmp_path, "val_loss", [(0, 3.5), (250, 3.25), (500, 3.0)])
    steps, values = read_curve(tmp_path, "val_loss")
    np.testing.assert_array_equal(steps, [0, 250, 500])
    np.testing.assert_array_equal(values, [3.5, 3.25, 3.0])
    assert steps.dtype == np.int64


def test_read_curve_ignores_extra_columns_such_as_a_timestamp(tmp_path: Path) -> None:
    (tmp_path / "lr.tsv").write_text("timestamp\tstep\tlr\n1700000000\t10\t0.001\n")
    steps, values = read_curve(tmp_path, "lr")
    assert steps.tolist() == [10] and values.tolist() == [0.001]


def test_read_curve_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"train_loss\.tsv: no such curve file"):
        read_curve(tmp_path, "train_loss")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("step\tloss\n1\t2\n", "lacks the columns"),
        ("step\tval_loss\n", "no logged steps"),
        ("step\tval_loss\n1\t3.0\n2\n", r"val_loss\.tsv:3: 1 fields"),
        ("step\tval_loss\n1\tthree\n", r"val_loss\.tsv:2: not a step and a number"),
    ],
)
def test_read_curve_rejects_a_malformed_file_naming_it(
    tmp_path: Path, text: str, problem: str
) -> None:
    (tmp_path / "val_loss.tsv").write_text(text)
    with pytest.raises(DataError, match=problem):
        read_curve(tmp_path, "val_loss")


def test_plot_training_curves_writes_one_panel_per_run(tmp_path: Path) -> None:
    for run in ("pretrain", "finetune"):
        folder = tmp_path / run / "plots" / "metrics"
        write_curve(folder, "train_loss", [(i * 10, 4.0 - 0.1 * i) for i in range(10)])
        write_curve(folder, "val_loss", [(i * 30, 4.1 - 0.3 * i) for i in range(4)])
    runs = {run: tmp_path / run / "plots" / "metrics" for run in ("pretrain", "finetune")}
    assert_png(plot_training_curves(runs, tmp_path / "curves.png", "training"))


def test_plot_training_curves_fails_clearly_when_a_run_has_no_val_curve(
    tmp_path: Path,
) -> None:
    write_curve(tmp_path, "train_loss", [(0, 4.0)])
    with pytest.raises(DataError, match=r"val_loss\.tsv"):
        plot_training_curves({"run": tmp_path}, tmp_path / "curves.png", "training")
    assert not (tmp_path / "curves.png").exists()


def test_plot_bars_with_errors_writes_a_png_even_with_a_single_seed(tmp_path: Path) -> None:
    path = plot_bars_with_errors(
        ["baseline", "relu", "no_pos_emb"],
        [3.10, 3.14, 3.30],
        [0.02, float("nan"), 0.01],
        tmp_path / "ablate.png",
        "ablations",
        "val loss (nats/token)",
        baseline=3.10,
    )
    assert_png(path)


def test_plot_power_law_writes_a_png(tmp_path: Path) -> None:
    n = np.array([1e4, 1e5, 1e6])
    grid = np.geomspace(1e4, 1e6, 20)
    fit = 2.0 + 40 * grid**-0.35
    path = plot_power_law(
        n,
        2.0 + 40 * n**-0.35,
        grid,
        fit,
        fit - 0.05,
        fit + 0.05,
        tmp_path / "scale.png",
        "scaling",
        "L(N) = 2 + 40·N^-0.35",
    )
    assert_png(path)


# ---------------------------------------------------------------- model figures


def test_embeddings_figure_puts_models_side_by_side_with_frequent_tokens_named(
    model: GPT, tokenizer: CharTokenizer, tmp_path: Path
) -> None:
    torch.manual_seed(1)
    other = GPT(model.config)
    counts = np.arange(tokenizer.vocab_size)  # the highest ids are the most frequent
    path = embeddings_figure({"a": model, "b": other}, tokenizer, counts, 5, tmp_path / "e.png")
    assert_png(path)
    height, width = matplotlib.image.imread(path).shape[:2]
    assert width > 1.5 * height  # two panels side by side


def test_attention_figure_keeps_the_last_block_of_a_long_prompt(
    model: GPT, tokenizer: CharTokenizer, tmp_path: Path
) -> None:
    prompt = "abc " * model.config.block_size  # longer than the context
    assert_png(attention_figure(model, tokenizer, prompt, tmp_path / "a.png", "tiny"))
