"""The run report: every section from the metrics files, Markdown and self-contained HTML."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from nanoforge.config import Params
from nanoforge.viz.document import (
    BulletList,
    Code,
    Document,
    Heading,
    Link,
    Paragraph,
    Preformatted,
    Table,
    md_line,
    md_text,
    render_html,
    render_markdown,
)
from nanoforge.viz.report import compact, write_report

PARAMS = Params(model={"n_layer": 2, "n_head": 4, "n_embd": 32, "block_size": 32})
SECTIONS = (
    "Data",
    "Pretraining",
    "Ablations",
    "Scaling",
    "Finetuning",
    "Evaluation",
    "Figures",
    "Samples",
)
FIGURES = (
    "figures/training_curves.png",
    "figures/finetune_curves.png",
    "figures/embeddings_pca.png",
    "figures/attention_pretrain.png",
    "figures/attention_finetune.png",
    "figures/zz_extra.png",
    "ablate/val_loss.png",
    "scale/power_law.png",
)
SAMPLES = '# Samples\n\n## pretrain\n\n```text\nif a < b && c: print("<script>") </pre>\n```\n'


def put(reports: Path, rel: str, obj: object) -> None:
    path = reports / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True), encoding="utf-8")


def png(path: Path) -> None:
    """A small real PNG, drawn by matplotlib."""
    fig = Figure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1], [1, 0])
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=20)


def split_score(loss: float, bpb: float) -> dict[str, float]:
    return {
        "tokens": 1184,
        "bytes": 1458,
        "loss": loss,
        "perplexity": 2.718**loss,
        "bits_per_byte": bpb,
    }


def metric(mean: float, sd: float, diff: float | None, spread: float | None) -> dict:
    significant = None if diff is None else abs(diff) > spread
    return {
        "mean": mean,
        "sd": sd,
        "n": 2,
        "diff": diff,
        "seed_spread": spread,
        "significant": significant,
    }


def data_files(reports: Path) -> None:
    crawl = {
        "bytes": 0,
        "cache_hits": 0,
        "failures": 0,
        "records": 27,
        "requests": 0,
        "retries": 0,
        "source": "builtin",
        "text_bytes": 151871,
    }
    put(reports, "crawl_arxiv.json", crawl)
    put(reports, "crawl_lyrics.json", {**crawl, "records": 17})
    dropped = {"duplicate_exact": 1, "too_short": 17, "empty": 0}
    put(
        reports,
        "clean.json",
        {
            "corpora": {
                "general": {
                    "chars": {"train": 151148, "val": 301},
                    "documents": {"train": 26, "val": 1},
                }
            },
            "dropped": dropped,
            "rows_in": 363,
            "rows_out": 345,
            "inputs": [
                {
                    "corpus": "general",
                    "dropped": dropped,
                    "path": "data/raw/arxiv.csv",
                    "rows_in": 363,
                    "rows_out": 345,
                    "source": "arxiv",
                }
            ],
        },
    )
    put(
        reports,
        "tokenizer.json",
        {
            "hash": "f06f4c656aa08d5a",
            "kind": "bpe",
            "train_seconds": 0.392,
            "val_bytes_per_token": 1.9332,
            "vocab_size": 512,
        },
    )
    split = {"bytes_per_token": 1.9994, "documents": 301, "text_bytes": 932589, "tokens": 466747}
    put(reports, "tokens.json", {"general": {"train": split, "val": split}})


def experiment_files(reports: Path) -> None:
    put(
        reports,
        "pretrain/metrics.json",
        {
            "train_loss": 2.556297,
            "val_loss": 2.919987,
            "lr": 1e-4,
            "tokens_per_s": 49627.9,
            "mfu": 0.0878,
            "step": 1500,
            "steps": 1500,
            "best_val_loss": 2.919987,
            "best_step": 1500,
            "seconds": 2.5439,
        },
    )
    variant = {"seeds": [1, 2], "is_baseline": False}
    put(
        reports,
        "ablate/summary.json",
        {
            "baseline": "baseline",
            "rule": "|Δ| > 2·sqrt(sd²/n + sd_baseline²/n_baseline)",
            "variants": [
                {
                    **variant,
                    "variant": "baseline",
                    "is_baseline": True,
                    "metrics": {
                        "val_loss": metric(6.0421, 0.0113, None, None),
                        "bits_per_byte": metric(4.8427, 0.0091, None, None),
                    },
                },
                {
                    **variant,
                    "variant": "heads_1",
                    "metrics": {
                        "val_loss": metric(6.0, 0.0114, -0.0421, 0.0227),
                        "bits_per_byte": metric(4.81, 0.0091, -0.0327, 0.0182),
                    },
                },
                {
                    **variant,
                    "variant": "no|pipe",
                    "metrics": {
                        "val_loss": metric(6.05, 0.0017, 0.0079, 0.0162),
                        "bits_per_byte": metric(4.85, 0.0014, 0.0073, 0.0130),
                    },
                },
            ],
        },
    )
    fit = {
        "alpha": 0.0761,
        "E": 1.2,
        "A": 6.5768,
        "r2": 0.9241,
        "n_points": 5,
        "alpha_ci": [0.0512, 0.1034],
        "ci_level": 0.95,
        "bootstrap_samples": 180,
        "bootstrap_failed_share": 0.1,
        "warnings": ["poor fit: R² = 0.924 is below 0.95"],
    }
    runs = [
        {
            "size": name,
            "seed": 1,
            "val_loss": 6.2 - i / 10,
            "bits_per_byte": 4.9 - i / 10,
            "params": 5240 * (i + 1),
            "params_non_embedding": 888 * (i + 1),
            "tokens": 307200,
            "steps": 300,
            "best_step": 300,
            "seconds": 1.24,
        }
        for i, name in enumerate("abc")
    ]
    put(
        reports,
        "scale/metrics.json",
        {"token_budget": 307200, "runs": runs, "fits": {"val_loss": fit, "bits_per_byte": fit}},
    )
    finetune_files(reports)
    evaluate_files(reports)


def finetune_files(reports: Path) -> None:
    before = {"domain": split_score(3.4748, 3.3924), "general": split_score(2.9490, 2.2027)}
    train = {
        "steps": 300,
        "stopped_early": False,
        "train_loss": 2.13,
        "val_loss": 2.808,
        "best_val_loss": 2.808,
        "best_step": 300,
        "tokens_per_s": 0.0,
        "mfu": 0.0,
        "seconds": 240.4,
    }

    def run(replay: float, domain: float, general: float) -> dict:
        after = {"domain": split_score(domain, 1.9041), "general": split_score(general, 2.3853)}
        change = {
            c: {k: after[c][k] - before[c][k] for k in ("loss", "bits_per_byte")} for c in after
        }
        return {"replay": replay, "after": after, "change": change, "train": train}

    put(
        reports,
        "finetune/metrics.json",
        {
            "published": "replay",
            "replay_share": 0.2,
            "before": before,
            "no_replay": run(0.0, 1.9504, 3.1934),
            "replay": run(0.2, 1.9999, 2.9973),
        },
    )


def evaluate_files(reports: Path) -> None:
    row = {
        "n": 4,
        "mean_length": 24.0,
        "distinct_1": 0.4167,
        "distinct_2": 0.9783,
        "distinct_3": 1.0,
        "repeated_4gram": 0.0,
        "loop_rate": 0.0,
        "utf8_valid": 1.0,
    }
    decoding = {
        "greedy": {**row, "loop_rate": 1.0, "repeated_4gram": 0.9524},
        "human (val text)": {**row, "loop_rate": 0.0028},
        "top_p": row,
    }
    adversarial = {
        "empty prompt": {
            "name": "empty prompt",
            "passed": True,
            "rule": "starting from <|endoftext|> gives valid text",
            "figures": {"generated": 24, "text_start": "a\nb|c", "utf8_valid": True},
        },
        "repetition loops": {
            "name": "repetition loops",
            "passed": False,
            "rule": "nucleus sampling loops in at most 25% of outputs",
            "figures": {
                "greedy_loop_starts": list(range(12)),
                "temperatures": [{"temperature": 2.0, "valid": 1}],
            },
        },
    }
    model = {
        "general": split_score(5.6066, 4.4937),
        "domain": split_score(5.7427, 6.7280),
        "decoding": decoding,
        "adversarial": adversarial,
        "adversarial_passed": 1,
        "adversarial_cases": 2,
    }
    put(reports, "evaluate/metrics.json", {"finetune": model, "pretrain": model})
    (reports / "evaluate/samples.md").write_text(SAMPLES, encoding="utf-8")


@pytest.fixture
def full(tmp_path: Path) -> Path:
    """A project root whose reports/ holds every file the report reads."""
    reports = tmp_path / "reports"
    data_files(reports)
    experiment_files(reports)
    for rel in FIGURES:
        png(reports / rel)
    return tmp_path


@pytest.fixture
def written(full: Path) -> tuple[str, str]:
    md, page = write_report(full, PARAMS)
    return md.read_text(encoding="utf-8"), page.read_text(encoding="utf-8")


def test_markdown_has_every_section_and_the_key_figures(written: tuple[str, str]) -> None:
    md, _ = written
    for title in SECTIONS:
        assert f"\n## {title}\n" in md and f"- [{title}](#{title.lower()})" in md
    assert "2 layers, 4 heads, embedding width 32, context of 32 tokens" in md
    assert "| data/raw/arxiv.csv | general | 363 | 345 | duplicate exact 1, too short 17 |" in md
    assert "| general | train | 301 | 466,747 | 932,589 | 1.999 |" in md
    assert "| best val loss | 2.9200 |" in md and "| model FLOPs utilisation | 8.8% |" in md
    # ablations: baseline first, Δ against it, the verdict; `|` in a cell escaped
    assert "| baseline | 1, 2 | 6.0421 ± 0.0113 | — | — | — | 4.8427 ± 0.0091 |" in md
    assert "| heads_1 | 1, 2 | 6.0000 ± 0.0114 | -0.0421 | 0.0227 | yes |" in md
    assert "| no\\|pipe | 1, 2 | 6.0500 ± 0.0017 | +0.0079 | 0.0162 | no |" in md
    # scaling: α with its interval, the warnings, Kaplan's exponent
    assert "| val loss | 0.0761 | [0.0512, 0.1034] | 1.2 | 6.577 | 0.924 | 5 | 180 (10.0%) |" in md
    assert "- val loss: poor fit: R² = 0.924 is below 0.95" in md
    assert "α_N ≈ 0.076" in md and "α = 0.0761 (95% CI [0.0512, 0.1034]" in md
    assert "| c | 1 | 15,720 | 2,664 | 307,200 | 300 | 300 | 6.0000 | 4.7000 | 1.2 s |" in md
    # finetune: before -> after -> change per run; forgetting is the general change
    assert "### Without replay" in md and "### With 20% general replay" in md
    assert "| domain | val loss | 3.4748 | 1.9504 | -1.5244 |" in md
    assert "| general | val loss | 2.9490 | 2.9973 | +0.0483 |" in md
    assert "without replay +0.2444; with 20% general replay +0.0483" in md
    assert "| tokens/s | not measured (resumed run) |" in md


def test_markdown_evaluation_tables(written: tuple[str, str]) -> None:
    md, _ = written
    assert md.index("### Decoding: pretrain") < md.index("### Decoding: finetune")
    assert "| pretrain | domain | 1,184 | 5.7427 |" in md
    assert "73.66%" in md and "0.36%" in md and "0.28%" in md
    table = md[md.index("### Decoding: pretrain") :]
    rows = [line.split(" | ")[0] for line in table.splitlines() if line.startswith("| ")]
    assert rows[2:5] == ["| greedy", "| top_p", "| human (val text)"]  # human last
    assert "| greedy | 4 | 24.0 | 0.417 | 0.978 | 1.000 | 95.24% | 100.00% | 100.0% |" in md
    assert "### Adversarial suite: pretrain (1 of 2 passed)" in md
    assert "| repetition loops | FAIL | nucleus sampling loops in at most 25% of outputs |" in md
    assert "greedy_loop_starts=[0, 1, 2, 3, 4, 5, 6, 7, …]" in md
    assert 'text_start="a\\\\nb\\|c"' in md  # one line: newline as \n, `|` escaped
    assert "starting from \\<\\|endoftext\\|> gives valid text" in md
    assert "Samples: [evaluate/samples.md](evaluate/samples.md)" in md
    assert "<script>" not in md  # the samples are linked, not included


def test_markdown_images_are_relative_to_reports(written: tuple[str, str]) -> None:
    md, _ = written
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert sorted(linked) == sorted(FIGURES)  # each once, the extra one too
    assert md.index("figures/embeddings_pca.png") < md.index("figures/zz_extra.png")


def test_html_is_self_contained_and_embeds_every_figure(full: Path) -> None:
    _, page = write_report(full, PARAMS)
    html = page.read_text(encoding="utf-8")
    sources = re.findall(r'<img src="([^"]+)"', html)
    assert len(sources) == len(FIGURES)
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    embedded = {base64.b64decode(s.split(",", 1)[1]) for s in sources}
    assert embedded == {(full / "reports" / rel).read_bytes() for rel in FIGURES}
    assert "http" not in html.lower() and "<script" not in html.lower()
    assert "url(" not in html and "<link" not in html
    for title in SECTIONS:
        assert f'<h2 id="{title.lower()}">{title}</h2>' in html
    assert '<td class="l">no|pipe</td>' in html and '<td class="r">6.0421 ± 0.0113</td>' in html


def test_html_escapes_samples_and_text(written: tuple[str, str]) -> None:
    _, html = written
    escaped = "if a &lt; b &amp;&amp; c: print(&quot;&lt;script&gt;&quot;) &lt;/pre&gt;"
    assert escaped in html
    assert "starting from &lt;|endoftext|&gt; gives valid text" in html
    assert html.count("<pre>") == html.count("</pre>") == 1


def test_missing_files_become_not_run_yet_notes(tmp_path: Path) -> None:
    md_path, html_path = write_report(tmp_path, PARAMS)
    md = md_path.read_text(encoding="utf-8")
    for stage in (
        "crawl_arxiv",
        "crawl_lyrics",
        "clean_csv",
        "train_bpe",
        "encode_memmap",
        "pretrain",
        "ablate",
        "scale",
        "finetune",
        "evaluate",
        "visualize",
    ):
        assert f"Not run yet: `dvc repro {stage}`" in md
    for title in SECTIONS:
        assert f"\n## {title}\n" in md
    assert "<code>dvc repro pretrain</code>" in html_path.read_text(encoding="utf-8")


def test_a_partial_dag_reports_what_exists(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    data_files(reports)
    put(reports, "pretrain/metrics.json", {"steps": 30, "val_loss": 5.869})
    md = write_report(tmp_path, PARAMS)[0].read_text(encoding="utf-8")
    assert "| final val loss | 5.8690 |" in md and "| tokens/s | — |" in md
    pretrain = md[md.index("## Pretraining") : md.index("## Ablations")]
    assert "Not run yet: `dvc repro visualize` (writes `figures/training_curves.png`)" in pretrain
    assert "Not run yet: `dvc repro ablate`" in md and "Not run yet: `dvc repro train" not in md


def test_a_file_in_an_unexpected_format_is_a_note_not_a_crash(full: Path) -> None:
    put(full / "reports", "scale/metrics.json", {"fits": 3})
    md = write_report(full, PARAMS)[0].read_text(encoding="utf-8")
    scaling = md[md.index("## Scaling") : md.index("## Finetuning")]
    assert "Could not read this section's files" in scaling
    assert "| heads_1 |" in md  # the other sections are intact


def test_written_atomically_and_deterministically(full: Path) -> None:
    first = [p.read_bytes() for p in write_report(full, PARAMS)]
    second = write_report(full, PARAMS)
    assert [p.read_bytes() for p in second] == first
    assert second == (full / "reports/index.md", full / "reports/index.html")
    assert [p.name for p in (full / "reports").iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("top_p and __init__", "top_p and \\_\\_init\\_\\_"),
        ("*bold* `code` <b> &amp;", "\\*bold\\* \\`code\\` \\<b> \\&amp;"),
        ("[lo, hi] but [a](b)", "[lo, hi] but [a\\](b)"),
        ("two\nlines", "two lines"),
    ],
)
def test_md_text_escapes_only_what_could_be_markup(text: str, expected: str) -> None:
    assert md_text(text) == expected


def test_md_line_escapes_block_starts() -> None:
    assert md_line(["# not a heading"]) == "\\# not a heading"
    assert md_line(["1. not a list"]) == "1\\. not a list"
    assert md_line([Code("a`b")]) == "``a`b``"


def test_compact_figures_are_one_short_line() -> None:
    figures = {
        "rate": 0.123456,
        "n": 12345,
        "ok": True,
        "none": None,
        "s": "x\ny",
        "rows": [{"t": 2.0}],
        "long": list(range(20)),
    }
    assert compact(figures) == (
        '{rate: 0.1235, n: 12,345, ok: true, none: null, s: "x\\ny", rows: [{t: 2}], '
        "long: [0, 1, 2, 3, 4, 5, 6, 7, …]}"
    )


def test_renderers_agree_on_a_small_document() -> None:
    blocks = (
        Heading("T", 1),
        Paragraph(("a < b ", Code("x"), " ", Link("file", "evaluate/samples.md"))),
        Table(("k", "v"), (("a|b", "1"),)),
        BulletList((("one",), ("two & three",))),
        Preformatted("```\n<tag>\n```"),
    )
    assert render_markdown(Document("T", blocks)) == (
        "# T\n\na \\< b `x` [file](evaluate/samples.md)\n\n"
        "| k | v |\n| :--- | ---: |\n| a\\|b | 1 |\n\n"
        "- one\n- two & three\n\n"
        "````text\n```\n<tag>\n```\n````\n"
    )
    html = render_html(Document("T", blocks))
    assert '<p>a &lt; b <code>x</code> <a href="evaluate/samples.md">file</a></p>' in html
    assert '<td class="l">a|b</td>' in html and "<li>two &amp; three</li>" in html
    assert "<pre>```\n&lt;tag&gt;\n```</pre>" in html
