"""The report of a whole run: reports/index.md and a self-contained reports/index.html.

The report is built once as a `nanoforge.viz.document.Document` from the metrics files
the stages wrote under reports/, then rendered twice, to Markdown and to HTML, so the two
files always say the same thing.

- Partial DAG: each section reads its own files; a missing one becomes a one-line "Not run
  yet: `dvc repro <stage>`" note, so the report can be written at any point of the DAG.
- Self-contained HTML: figures are embedded as base64 data: URIs, the CSS is inline, there
  are no scripts and no external URLs: the page opens offline and travels as one file.
  Markdown images use paths relative to reports/, so index.md renders on GitHub or in an
  editor beside the PNGs.
- Deterministic: no timestamps, so an unchanged run rewrites byte-identical files.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from nanoforge.atomic import write_text
from nanoforge.config import Params
from nanoforge.experiments.ablation import METRIC_LABELS
from nanoforge.experiments.finetune import RUNS
from nanoforge.viz.document import (
    Block,
    BulletList,
    Code,
    Document,
    Heading,
    Image,
    Inline,
    Link,
    Paragraph,
    Table,
    TextFile,
    para,
    render_html,
    render_markdown,
    slug,
)

logger = logging.getLogger(__name__)

TITLE = "nanoforge report"
REPORTS = "reports"
DASH = "—"
KAPLAN_ALPHA_N = 0.076
"""Kaplan et al. (2020): exponent of loss against non-embedding parameters."""
HOLTZMAN = {"greedy": "73.66%", "nucleus (p = 0.95)": "0.36%", "human": "0.28%"}
"""Holtzman et al. (2019), GPT-2 Large: share of generations that fall into repetition."""
HUMAN_ROW = "human (val text)"
"""The decoding table's row of real text, as `nanoforge.evaluate.strategies.HUMAN` names
it (not imported: that module would make the report depend on the generation stack)."""
SAMPLES_MAX_CHARS = 200_000
"""Samples included in the HTML beyond this are cut (the Markdown links the whole file)."""


def not_run(stage: str, *files: str) -> Paragraph:
    """The one-line note that replaces what `stage` has not written yet."""
    parts: list[Inline] = ["Not run yet: ", Code(f"dvc repro {stage}")]
    if files:
        parts.append(" (writes ")
        for i, name in enumerate(files):
            parts += [", " if i else "", Code(name)]
        parts.append(")")
    return Paragraph((*parts, "."))


# ---------------------------------------------------------------------- formatting


def _fmt(x: object, spec: str) -> str:
    """`x` formatted with `spec`; a missing or undefined number (None, NaN, inf) is a dash."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return DASH
    if isinstance(x, bool) or not isinstance(x, int | float):
        return str(x)
    return format(x, spec)


def loss(x: object) -> str:
    """A loss, bits/byte or similar: 4 decimals are enough to see any real difference."""
    return _fmt(x, ".4f")


def signed(x: object) -> str:
    """A difference, with its sign always shown."""
    return _fmt(x, "+.4f")


def count(x: object) -> str:
    """A count with thousands separators."""
    return _fmt(x, ",")


def share(x: object, digits: int = 1) -> str:
    """A fraction in [0, 1] as a percentage."""
    return _fmt(x, f".{digits}%")


def sig(x: object, digits: int = 4) -> str:
    """A number of any magnitude (α, A, E) with `digits` significant digits."""
    return _fmt(x, f".{digits}g")


def yes_no(x: object) -> str:
    """A flag for people; a missing one is a dash."""
    return DASH if x is None else ("yes" if x else "no")


def seconds(x: object) -> str:
    """A duration in seconds."""
    text = _fmt(x, ",.1f")
    return text if text == DASH else f"{text} s"


def words(name: str) -> str:
    """A snake_case key as words (`too_short` -> `too short`)."""
    return name.replace("_", " ")


def metric_label(name: str) -> str:
    """A metric's column label (`bits_per_byte` -> `bits/byte`)."""
    return METRIC_LABELS.get(name, words(name))


def metric_order(names: Iterable[str]) -> list[str]:
    """Metrics with val loss first (the one every section leads with), then by name."""
    return sorted(names, key=lambda m: (m != "val_loss", m))


def throughput(x: object, spec: str) -> str:
    """Tokens/s or MFU; exactly 0 means nothing was timed (a resumed, already finished run
    reports 0), which is shown as such rather than as a real zero."""
    return "not measured (resumed run)" if x == 0 else _fmt(x, spec)


def compact(value: object, limit: int = 8) -> str:
    """A nested figure as a JSON-ish one-liner: numbers rounded, long lists and text cut."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return sig(value) if isinstance(value, float) else count(value)
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 60 else value[:60] + "…", ensure_ascii=False)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {compact(v, limit)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence):
        items = [compact(v, limit) for v in value[:limit]]
        return "[" + ", ".join(items + (["…"] if len(value) > limit else [])) + "]"
    return str(value)


# ------------------------------------------------------------------------- reading


def read_json(path: Path) -> Any | None:
    """The parsed file, or None when it does not exist yet (its stage has not run)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return json.loads(text)


def image(reports: Path, rel: str, caption: str) -> Image | None:
    """The PNG at reports/`rel`, or None when it has not been drawn yet."""
    try:
        return Image(rel, caption, (reports / rel).read_bytes())
    except FileNotFoundError:
        return None


def figure(reports: Path, rel: str, caption: str, stage: str) -> Block:
    """The PNG at reports/`rel`, or the note naming the stage that draws it."""
    return image(reports, rel, caption) or not_run(stage, rel)


# -------------------------------------------------------------------------- overview

SOURCES = {
    "builtin": "the offline builtin corpora (Python's documentation as the general corpus, "
    "the standard library's source as the domain corpus)",
    "web": "web crawls (arXiv abstracts as the general corpus, Genius lyrics as the domain corpus)",
}


def _shape(model: Mapping[str, object]) -> str:
    """The model's shape in words; keys not set in params.yaml take the model's defaults."""
    get = {k: model.get(k, "default") for k in ("n_layer", "n_head", "n_embd", "block_size")}
    return (
        f"{get['n_layer']} layers, {get['n_head']} heads, embedding width {get['n_embd']}, "
        f"context of {get['block_size']} tokens"
    )


def overview(params: Params) -> Paragraph:
    """One paragraph saying what was run, from the params the report was written with."""
    tok, train = params.tokenizer, params.train
    split = f" (pre-split {tok.pattern})" if tok.kind == "bpe" else ""
    kind = "byte-level BPE" if tok.kind == "bpe" else "character"
    return para(
        f"Data: {SOURCES.get(params.data.source, params.data.source)}. "
        f"Tokenizer: {kind}{split}, vocabulary of {tok.vocab_size:,}. "
        f"Model: GPT with {_shape(params.model)}. "
        f"Pretraining: {train.max_steps:,} steps with batches of "
        f"{train.batch_size * train.grad_accum:,} sequences, peak learning rate {train.lr:g} "
        f"(warmup {train.warmup_steps:,} steps, cosine decay to {train.min_lr:g}), "
        f"seed {train.seed}. "
        f"Then: {len(params.ablate.variants)} ablation variants × {len(params.ablate.seeds)} "
        f"seeds, {len(params.scale.sizes)} model sizes for the scaling law, finetuning on the "
        f"domain corpus without and with {params.finetune.replay:.0%} general replay, and "
        f"evaluation of {', '.join(params.evaluate.models)}."
    )


# ------------------------------------------------------------------------------ data


CRAWL_COUNTS = ("records", "text_bytes", "requests", "cache_hits", "retries", "failures")


def _crawl(reports: Path) -> list[Block]:
    """Both crawls in one table: what each stage fetched or took offline."""
    rows, missing = [], []
    for stage, corpus in (("crawl_arxiv", "general"), ("crawl_lyrics", "domain")):
        c = read_json(reports / f"{stage}.json")
        if c is None:
            missing.append(not_run(stage, f"{stage}.json"))
            continue
        counts = (count(c.get(key)) for key in CRAWL_COUNTS)
        rows.append((corpus, stage, str(c.get("source", DASH)), *counts))
    header = ("corpus", "stage", "source", *(words(key) for key in CRAWL_COUNTS))
    table = [Table(header, tuple(rows), "lll")] if rows else []
    return [Heading("Crawl", 3), *table, *missing]


def _dropped(dropped: Mapping[str, int]) -> str:
    """The non-zero reasons records were dropped for, or `none`."""
    kept = [f"{words(k)} {v:,}" for k, v in dropped.items() if v]
    return ", ".join(kept) or "none"


def _clean(reports: Path) -> list[Block]:
    """Records in and out per input, why any were dropped, and the split sizes."""
    c = read_json(reports / "clean.json")
    if c is None:
        return [Heading("Clean", 3), not_run("clean_csv", "clean.json")]
    inputs = tuple(
        (i["path"], i["corpus"], count(i["rows_in"]), count(i["rows_out"]), _dropped(i["dropped"]))
        for i in c["inputs"]
    )
    total = ("all", "", count(c["rows_in"]), count(c["rows_out"]), _dropped(c["dropped"]))
    corpora = tuple(
        (corpus, split, count(n), count(v["chars"][split]))
        for corpus, v in c["corpora"].items()
        for split, n in v["documents"].items()
    )
    return [
        Heading("Clean", 3),
        Table(
            ("input", "corpus", "records in", "records out", "dropped"), (*inputs, total), "llrrl"
        ),
        Table(("corpus", "split", "documents", "characters"), corpora, "ll"),
    ]


def _tokenizer(reports: Path) -> list[Block]:
    """The trained tokenizer: kind, size, and how many bytes a token covers on val."""
    t = read_json(reports / "tokenizer.json")
    if t is None:
        return [Heading("Tokenizer", 3), not_run("train_bpe", "tokenizer.json")]
    row = (
        str(t.get("kind", DASH)),
        count(t.get("vocab_size")),
        _fmt(t.get("val_bytes_per_token"), ".3f"),
        seconds(t.get("train_seconds")),
        str(t.get("hash", DASH)),
    )
    header = ("kind", "vocabulary", "val bytes/token", "training time", "hash")
    return [Heading("Tokenizer", 3), Table(header, (row,), "lrrrl")]


def _tokens(reports: Path) -> list[Block]:
    """Tokens per corpus and split: the data every model is trained and scored on."""
    t = read_json(reports / "tokens.json")
    if t is None:
        return [Heading("Tokens", 3), not_run("encode_memmap", "tokens.json")]
    rows = tuple(
        (
            corpus,
            split,
            count(s["documents"]),
            count(s["tokens"]),
            count(s["text_bytes"]),
            _fmt(s["bytes_per_token"], ".3f"),
        )
        for corpus, splits in t.items()
        for split, s in splits.items()
    )
    header = ("corpus", "split", "documents", "tokens", "text bytes", "bytes/token")
    return [Heading("Tokens", 3), Table(header, rows, "ll")]


def data_section(reports: Path, params: Params) -> list[Block]:
    """Where the text came from and what it became, stage by stage."""
    return [*_crawl(reports), *_clean(reports), *_tokenizer(reports), *_tokens(reports)]


# -------------------------------------------------------------------------- pretrain


def _train_rows(m: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Quantity/value rows of a training run's summary (dvclive's or the finetune's)."""
    rows = [
        ("steps", count(m.get("steps", m.get("step")))),
        ("final train loss", loss(m.get("train_loss"))),
        ("final val loss", loss(m.get("val_loss"))),
        ("best val loss", loss(m.get("best_val_loss"))),
        ("best step", count(m.get("best_step"))),
        ("tokens/s", throughput(m.get("tokens_per_s"), ",.0f")),
        ("model FLOPs utilisation", throughput(m.get("mfu"), ".1%")),
        ("wall time", seconds(m.get("seconds"))),
    ]
    if "stopped_early" in m:
        rows.insert(5, ("stopped early", yes_no(m["stopped_early"])))
    return rows


def pretrain_section(reports: Path, params: Params) -> list[Block]:
    """The pretraining run's summary and its curves."""
    m = read_json(reports / "pretrain/metrics.json")
    if m is None:
        return [not_run("pretrain", "pretrain/metrics.json")]
    rows = _train_rows(m)
    best = m.get("best_val_loss")
    if isinstance(best, int | float):
        rows.insert(4, ("best val perplexity", _fmt(math.exp(best), ",.2f")))
    caption = "Pretraining: train and val loss per token (nats)"
    return [
        Table(("quantity", "value"), tuple(rows)),
        figure(reports, "figures/training_curves.png", caption, "visualize"),
    ]


# -------------------------------------------------------------------------- ablations


def _ablation_cells(ms: Mapping[str, Any]) -> tuple[str, ...]:
    """Mean ± sd, Δ, the seed-spread bar and the verdict of one metric of one variant."""
    mean_sd = f"{loss(ms.get('mean'))} ± {loss(ms.get('sd'))}"
    if ms.get("diff") is None and ms.get("significant") is None:
        return (mean_sd, DASH, DASH, DASH)
    return (
        mean_sd,
        signed(ms.get("diff")),
        loss(ms.get("seed_spread")),
        yes_no(ms.get("significant")),
    )


def ablation_table(summary: Mapping[str, Any]) -> Table:
    """One row per variant (baseline first, as written), four columns per metric."""
    variants = summary["variants"]
    metrics = metric_order(variants[0]["metrics"]) if variants else []
    header: list[str] = ["variant", "seeds"]
    for m in metrics:
        header += [f"{metric_label(m)} (mean ± sd)", "Δ vs baseline", "seed spread", "beyond?"]
    rows = tuple(
        (
            v["variant"],
            ", ".join(str(s) for s in v["seeds"]),
            *(c for m in metrics for c in _ablation_cells(v["metrics"][m])),
        )
        for v in variants
    )
    align = "lr" + "rrrc" * len(metrics)
    return Table(tuple(header), rows, align)


def ablation_section(reports: Path, params: Params) -> list[Block]:
    """Each variant against the baseline, with the seed spread that says what is noise."""
    s = read_json(reports / "ablate/summary.json")
    if s is None:
        return [not_run("ablate", "ablate/summary.json")]
    return [
        para(
            "Every variant is trained with every seed on the same short budget; Δ is the "
            "difference of means against ",
            Code(str(s.get("baseline"))),
            ".",
        ),
        ablation_table(s),
        para(f"Beyond seed spread: {s.get('rule', DASH)}."),
        figure(
            reports, "ablate/val_loss.png", "Ablations: val loss, mean ± sd over seeds", "ablate"
        ),
    ]


# ---------------------------------------------------------------------------- scaling


def _scale_runs(runs: Sequence[Mapping[str, Any]]) -> Table:
    """Every (size, seed) run: its size in parameters, its budget and its scores."""
    header = (
        "size",
        "seed",
        "parameters",
        "non-embedding",
        "tokens",
        "steps",
        "best step",
        "val loss",
        "bits/byte",
        "time",
    )
    rows = tuple(
        (
            str(r["size"]),
            str(r["seed"]),
            count(r["params"]),
            count(r["params_non_embedding"]),
            count(r["tokens"]),
            count(r["steps"]),
            count(r["best_step"]),
            loss(r["val_loss"]),
            loss(r["bits_per_byte"]),
            seconds(r["seconds"]),
        )
        for r in runs
    )
    return Table(header, rows)


def _ci(fit: Mapping[str, Any]) -> str:
    """α's bootstrap interval as `[lo, hi]`."""
    lo, hi = fit["alpha_ci"]
    return f"[{sig(lo)}, {sig(hi)}]"


def _fit_table(fits: Mapping[str, Mapping[str, Any]]) -> Table:
    """One row per fitted metric: the law's parameters, α's interval, how good the fit is."""
    level = next(iter(fits.values())).get("ci_level", 0.95) if fits else 0.95
    header = (
        "metric",
        "α",
        f"{level:.0%} CI of α",
        "E",
        "A",
        "R²",
        "points",
        "resamples fitted (failed)",
    )
    rows = tuple(
        (
            metric_label(metric),
            sig(f["alpha"]),
            _ci(f),
            sig(f["E"]),
            sig(f["A"]),
            _fmt(f["r2"], ".3f"),
            count(f["n_points"]),
            f"{count(f['bootstrap_samples'])} ({share(f['bootstrap_failed_share'])})",
        )
        for metric, f in fits.items()
    )
    return Table(header, rows)


def _fit_warnings(fits: Mapping[str, Mapping[str, Any]]) -> Block:
    """The fit's own warnings as a list, or a line saying there are none."""
    items = tuple(
        (f"{metric_label(m)}: {w}",) for m, f in fits.items() for w in f.get("warnings", [])
    )
    return BulletList(items) if items else para("No warnings: the fits are tight.")


def kaplan_sentence(fit: Mapping[str, Any]) -> Paragraph:
    """α beside Kaplan et al. 2020's α_N, with why the two need not agree."""
    alpha = fit["alpha"]
    level = _fmt(fit.get("ci_level"), ".0%")
    return para(
        f"For comparison, Kaplan et al. (2020) found α_N ≈ {KAPLAN_ALPHA_N} for loss against "
        f"non-embedding parameters; the val-loss fit here gives α = {sig(alpha)} ({level} CI "
        f"{_ci(fit)}, {sig(alpha / KAPLAN_ALPHA_N, 2)} × theirs). Their models were far "
        "larger and trained towards convergence; these share one short, fixed token budget, "
        "so the exponents need not agree."
    )


def scaling_section(reports: Path, params: Params) -> list[Block]:
    """The runs, the fitted power law L(N) = E + A·N^-α with its warnings, and the plot."""
    s = read_json(reports / "scale/metrics.json")
    if s is None:
        return [not_run("scale", "scale/metrics.json")]
    fits = {m: s["fits"][m] for m in metric_order(s["fits"])}
    blocks: list[Block] = [
        para(
            f"Every size is trained on the same budget of {count(s.get('token_budget'))} "
            "tokens; N counts non-embedding parameters; the law fitted is "
            "L(N) = E + A·N^-α."
        ),
        _scale_runs(s["runs"]),
        _fit_table(fits),
        _fit_warnings(fits),
    ]
    main = fits.get("val_loss") or next(iter(fits.values()), None)
    if main is not None:
        blocks.append(kaplan_sentence(main))
    caption = "Scaling: val loss against non-embedding parameters, with the fitted law"
    return [*blocks, figure(reports, "scale/power_law.png", caption, "scale")]


# --------------------------------------------------------------------------- finetune


def _run_title(name: str, run: Mapping[str, Any]) -> str:
    """`Without replay` or `With 20% general replay`, from the run's replay share."""
    replay = run.get("replay")
    if not replay:
        return "Without replay" if replay is not None else words(name)
    return f"With {share(replay, 0)} general replay"


def finetune_table(before: Mapping[str, Any], run: Mapping[str, Any]) -> Table:
    """Before → after of loss and bits/byte on each corpus; the general change is forgetting."""
    after, change = run["after"], run["change"]
    rows = tuple(
        (
            corpus,
            label,
            loss(before[corpus][key]),
            loss(after[corpus][key]),
            signed(change[corpus][key]),
        )
        for corpus in ("domain", "general")
        for key, label in (("loss", "val loss"), ("bits_per_byte", "bits/byte"))
    )
    return Table(("corpus", "metric", "before", "after", "change"), rows, "ll")


def _finetune_runs(m: Mapping[str, Any]) -> list[str]:
    """The run names in the file (entries with an `after`), in report order."""
    names = [k for k, v in m.items() if isinstance(v, Mapping) and "after" in v]
    return sorted(names, key=lambda n: (RUNS.index(n) if n in RUNS else 99, n))


def _forgetting(m: Mapping[str, Any], runs: Sequence[str]) -> Paragraph:
    """One line comparing forgetting (the change of general val loss) across runs."""
    parts = [
        f"{_run_title(n, m[n]).lower()} {signed(m[n]['change']['general']['loss'])}" for n in runs
    ]
    return para("Forgetting (change of general val loss, nats/token): ", "; ".join(parts), ".")


def finetune_section(reports: Path, params: Params) -> list[Block]:
    """Each finetuning run before → after, how much it forgot, and the curves."""
    m = read_json(reports / "finetune/metrics.json")
    if m is None:
        return [not_run("finetune", "finetune/metrics.json")]
    runs = _finetune_runs(m)
    blocks: list[Block] = [
        para(
            "Both runs start from the pretrained model and train on the domain corpus; ",
            "the published model (",
            Code("models/finetune"),
            f") is the {m.get('published')} run.",
        ),
    ]
    for name in runs:
        train = m[name].get("train", {})
        blocks += [
            Heading(_run_title(name, m[name]), 3),
            finetune_table(m["before"], m[name]),
            Table(("training (val: domain corpus)", "value"), tuple(_train_rows(train))),
        ]
    caption = "Finetuning: train and domain val loss, without and with replay"
    return [
        *blocks,
        _forgetting(m, runs),
        figure(reports, "figures/finetune_curves.png", caption, "visualize"),
    ]


# ------------------------------------------------------------------------- evaluation


def _model_order(metrics: Mapping[str, Any], params: Params) -> list[str]:
    """The models in params order, then any others the file holds."""
    named = [m for m in params.evaluate.models if m in metrics]
    return named + sorted(set(metrics) - set(named))


def decoding_rows(
    rows: Mapping[str, Mapping[str, Any]], strategies: Iterable[str]
) -> dict[str, Mapping[str, Any]]:
    """The rows in params order, any others by name, the human row last (the file's keys
    are sorted, which would put it among the strategies)."""
    named = [n for n in strategies if n in rows]
    rest = sorted(n for n in rows if n not in named and n != HUMAN_ROW)
    human = [HUMAN_ROW] if HUMAN_ROW in rows else []
    return {n: rows[n] for n in (*named, *rest, *human)}


def scores_table(metrics: Mapping[str, Any], models: Sequence[str]) -> Table:
    """Loss, perplexity and bits/byte of every model on every val split."""
    rows = tuple(
        (
            model,
            corpus,
            count(s["tokens"]),
            loss(s["loss"]),
            _fmt(s["perplexity"], ",.2f"),
            loss(s["bits_per_byte"]),
        )
        for model in models
        for corpus in ("general", "domain")
        if (s := metrics[model].get(corpus)) is not None
    )
    return Table(("model", "corpus", "tokens", "loss", "perplexity", "bits/byte"), rows, "ll")


def decoding_table(rows: Mapping[str, Mapping[str, Any]]) -> Table:
    """One row per strategy plus the human row: diversity, repetition, loops, validity."""
    header = (
        "strategy",
        "samples",
        "mean length",
        "distinct-1",
        "distinct-2",
        "distinct-3",
        "repeated 4-grams",
        "loop rate",
        "valid UTF-8",
    )
    body = tuple(
        (
            name,
            count(r.get("n")),
            _fmt(r.get("mean_length"), ".1f"),
            *(_fmt(r.get(f"distinct_{n}"), ".3f") for n in (1, 2, 3)),
            share(r.get("repeated_4gram"), 2),
            share(r.get("loop_rate"), 2),
            share(r.get("utf8_valid")),
        )
        for name, r in rows.items()
    )
    return Table(header, body)


def _loop_rates(rows: Mapping[str, Mapping[str, Any]]) -> Paragraph:
    """This model's loop rates beside Holtzman et al.'s repetition figures."""
    ours = [f"{name} {share(r.get('loop_rate'), 2)}" for name, r in rows.items()]
    return para(f"Loop rate here: {', '.join(ours)}.")


def adversarial_table(cases: Mapping[str, Mapping[str, Any]]) -> Table:
    """Each case: pass or FAIL, the rule it was judged by, its figures on one line."""
    rows = tuple(
        (
            name,
            "pass" if c.get("passed") else "FAIL",
            str(c.get("rule", DASH)),
            "; ".join(f"{k}={compact(v)}" for k, v in c.get("figures", {}).items()),
        )
        for name, c in cases.items()
    )
    return Table(("case", "result", "rule", "figures"), rows, "lcll")


def _model_blocks(name: str, m: Mapping[str, Any], strategies: Iterable[str]) -> list[Block]:
    """The decoding table and the adversarial suite of one model."""
    decoding = decoding_rows(m.get("decoding", {}), strategies)
    passed, cases = m.get("adversarial_passed"), m.get("adversarial_cases")
    return [
        Heading(f"Decoding: {name}", 3),
        decoding_table(decoding),
        _loop_rates(decoding),
        Heading(f"Adversarial suite: {name} ({count(passed)} of {count(cases)} passed)", 3),
        adversarial_table(m.get("adversarial", {})),
    ]


def holtzman_note() -> Paragraph:
    """Reference figures for repetition, to read the loop-rate column against."""
    figures = ", ".join(f"{k} {v}" for k, v in HOLTZMAN.items())
    return para(
        "For scale: with GPT-2 Large, Holtzman et al. (2019) found repetition in "
        f"{figures} of generations; the loop rate is the closest figure here. Distinct-n is "
        "the share of n-grams that are unique; the human row scores real val text the same way."
    )


def evaluation_section(reports: Path, params: Params) -> list[Block]:
    """Every model's val scores, decoding table and adversarial suite."""
    metrics = read_json(reports / "evaluate/metrics.json")
    if metrics is None:
        return [not_run("evaluate", "evaluate/metrics.json")]
    models = _model_order(metrics, params)
    blocks: list[Block] = [scores_table(metrics, models), holtzman_note()]
    for name in models:
        blocks += _model_blocks(name, metrics[name], params.evaluate.strategies)
    return blocks


# --------------------------------------------------------------------- figures, samples

CAPTIONS = {
    "embeddings_pca.png": "Token embeddings, first two principal components, model by model",
}


def _caption(name: str) -> str:
    """A figure's caption: a known one, else its file name in words."""
    if name in CAPTIONS:
        return CAPTIONS[name]
    if name.startswith("attention_"):
        return f"Attention maps of {name.removeprefix('attention_').removesuffix('.png')}"
    return words(Path(name).stem).capitalize()


def figures_section(reports: Path, params: Params, shown: set[str]) -> list[Block]:
    """The model figures, then any other PNG in reports/figures/ not shown above."""
    named = ["embeddings_pca.png", *(f"attention_{m}.png" for m in params.visualize.models)]
    folder = reports / "figures"
    others = sorted(p.name for p in folder.glob("*.png")) if folder.is_dir() else []
    names = named + [n for n in others if n not in named]
    found = [image(reports, f"figures/{n}", _caption(n)) for n in names]
    blocks: list[Block] = [im for im in found if im is not None and im.src not in shown]
    missing = [f"figures/{n}" for n, im in zip(names, found, strict=True) if im is None]
    return blocks + ([not_run("visualize", *missing)] if missing else [])


def samples_section(reports: Path, params: Params) -> list[Block]:
    """Generated samples: linked in Markdown, included (escaped) in HTML."""
    try:
        text = (reports / "evaluate/samples.md").read_text(encoding="utf-8")
    except FileNotFoundError:
        return [not_run("evaluate", "evaluate/samples.md")]
    if len(text) > SAMPLES_MAX_CHARS:
        text = text[:SAMPLES_MAX_CHARS] + "\n… (cut here; the file has the rest)\n"
    return [
        para("Each hand-written prompt continued by each decoding strategy, per model."),
        TextFile("evaluate/samples.md", text),
    ]


# ----------------------------------------------------------------------------- build

Section = Callable[[Path, Params], list[Block]]
SECTIONS: tuple[tuple[str, Section], ...] = (
    ("Data", data_section),
    ("Pretraining", pretrain_section),
    ("Ablations", ablation_section),
    ("Scaling", scaling_section),
    ("Finetuning", finetune_section),
    ("Evaluation", evaluation_section),
)


def guarded(title: str, build: Callable[[], list[Block]]) -> list[Block]:
    """A section's blocks; a file in an unexpected format becomes a note, not a crash,
    so one stale file does not cost the whole report (the note says how to refresh it)."""
    try:
        return build()
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        logger.warning("report: section %s skipped: %r", title, err)
        return [
            para(
                "Could not read this section's files (",
                Code(repr(err)),
                "); re-run ",
                "its stage with ",
                Code("dvc repro -f <stage>"),
                ".",
            )
        ]


def contents(blocks: Iterable[Block]) -> BulletList:
    """Links to every section (level-2 heading)."""
    sections = [b.text for b in blocks if isinstance(b, Heading) and b.level == 2]
    return BulletList(tuple((Link(t, f"#{slug(t)}"),) for t in sections))


def build_report(root: Path, params: Params) -> Document:
    """The report of the run under `root` (the project root) as a document."""
    reports = root / REPORTS
    body: list[Block] = []
    for title, build in SECTIONS:
        body += [Heading(title), *guarded(title, lambda b=build: b(reports, params))]
    shown = {b.src for b in body if isinstance(b, Image)}
    body += [
        Heading("Figures"),
        *guarded("Figures", lambda: figures_section(reports, params, shown)),
    ]
    body += [Heading("Samples"), *guarded("Samples", lambda: samples_section(reports, params))]
    head: list[Block] = [Heading(TITLE, 1), overview(params), contents(body)]
    return Document(TITLE, (*head, *body))


# ----------------------------------------------------------------------------- write


def write_report(root: Path, params: Params) -> tuple[Path, Path]:
    """Write reports/index.md and reports/index.html under `root`, each atomically;
    return their paths (Markdown first)."""
    doc = build_report(root, params)
    md, page = root / REPORTS / "index.md", root / REPORTS / "index.html"
    write_text(md, render_markdown(doc))
    write_text(page, render_html(doc))
    return md, page
