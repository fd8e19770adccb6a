"""Typed params: `params.yaml` turned into frozen dataclasses, validated once at the edge.

Each section of params.yaml is a dataclass below; a string under a field is its
documentation. `load_params` checks types and unknown keys generically (naming the full
key and suggesting the closest known one); each dataclass checks its own values in
`__post_init__`, so a config built in code is validated the same way. Every failure
is a `ConfigError` with one line that names the key, never an `assert`.
"""

from __future__ import annotations

import codecs
import difflib
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlparse

import regex
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from nanoforge.errors import ConfigError
from nanoforge.tokenizers.patterns import PATTERNS

DEFAULT_PARAMS = Path("params.yaml")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _check_url(key: str, url: str) -> None:
    parsed = urlparse(url)
    _require(
        parsed.scheme in ("http", "https") and bool(parsed.netloc),
        f"{key} must be an http(s) URL (got {url!r})",
    )


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class BuiltinConfig:
    """Size caps of the offline corpora that ship with every Python install."""

    SECTION: ClassVar[str] = "data.builtin"

    general_max_chars: int = 1_000_000
    """Characters of Python documentation (pydoc topics, then module docstrings) to take."""
    domain_max_chars: int = 1_000_000
    """Characters of standard-library source code to take."""

    def __post_init__(self) -> None:
        for name in ("general_max_chars", "domain_max_chars"):
            value = getattr(self, name)
            _require(value > 0, f"{self.SECTION}.{name} must be positive (got {value})")


@dataclass(frozen=True)
class DataConfig:
    """Where the text comes from."""

    SECTION: ClassVar[str] = "data"

    source: Literal["builtin", "web"] = "builtin"
    """`builtin`: offline corpora from the Python install; `web`: the arXiv and Genius crawlers."""
    builtin: BuiltinConfig = field(default_factory=BuiltinConfig)
    """Caps of the builtin corpora."""


# -------------------------------------------------------------------------- crawl


@dataclass(frozen=True)
class HttpConfig:
    """The polite HTTP session shared by both crawlers."""

    SECTION: ClassVar[str] = "crawl.http"

    user_agent: str = "nanoforge/0.1 (research crawler; +https://github.com/nanoforge/nanoforge)"
    """Sent with every request, so site operators know who is calling."""
    timeout_s: float = 30.0
    """Connect and read timeout of one request, in seconds."""
    max_retries: int = 5
    """Retries after the first attempt on 429, 5xx, timeouts and broken or unexpected bodies."""
    backoff_base_s: float = 2.0
    """First retry waits this long, doubling each time (plus jitter), capped by backoff_max_s."""
    backoff_max_s: float = 60.0
    """Longest wait between two retries when the server gives no Retry-After."""
    max_wait_s: float = 600.0
    """Longest Retry-After the crawl honours; a server asking for more stops the crawl."""
    cache_dir: str = "data/cache/http"
    """On-disk response cache: a re-run or a resumed crawl never fetches a page twice."""

    def __post_init__(self) -> None:
        s = self.SECTION
        _require(bool(self.user_agent.strip()), f"{s}.user_agent must not be empty")
        _require(self.timeout_s > 0, f"{s}.timeout_s must be positive (got {self.timeout_s})")
        _require(self.max_retries >= 0, f"{s}.max_retries must be >= 0 (got {self.max_retries})")
        _require(
            0 <= self.backoff_base_s <= self.backoff_max_s,
            f"{s}.backoff_base_s must be between 0 and {s}.backoff_max_s "
            f"(got {self.backoff_base_s} and {self.backoff_max_s})",
        )
        _require(self.max_wait_s >= 0, f"{s}.max_wait_s must be >= 0 (got {self.max_wait_s})")


ARXIV_MAX_TOTAL = 30_000  # the API refuses max_results above this (HTTP 400)
ARXIV_MAX_PAGE = 2_000  # "in slices of at most 2000 at a time"
ARXIV_MIN_INTERVAL_S = 3.0  # terms of use: at most one request every three seconds


@dataclass(frozen=True)
class ArxivConfig:
    """The arXiv API crawl (Atom feed, paged)."""

    SECTION: ClassVar[str] = "crawl.arxiv"

    base_url: str = "https://export.arxiv.org/api/query"
    """The API endpoint; tests point it at a loopback server."""
    query: str = "all:transformer"
    """arXiv search_query syntax (`all:`, `ti:`, `abs:`, `au:` ...); may be empty with id_list."""
    categories: tuple[str, ...] = ("cs.CL", "cs.LG")
    """Restrict to these categories (ORed, then ANDed with query); empty for all."""
    id_list: tuple[str, ...] = ()
    """Fetch exactly these arXiv ids instead of (or filtered by) the query."""
    max_results: int = 500
    """Records to fetch in total (the API allows at most 30000)."""
    page_size: int = 100
    """Records per request (the API allows at most 2000)."""
    sort_by: Literal["relevance", "lastUpdatedDate", "submittedDate"] = "submittedDate"
    """Order of results; a date order keeps pages stable while paging."""
    sort_order: Literal["ascending", "descending"] = "descending"
    """Direction of sort_by."""
    min_interval_s: float = ARXIV_MIN_INTERVAL_S
    """Seconds between two requests; at least 3 for arxiv.org (its terms of use)."""

    def __post_init__(self) -> None:
        s = self.SECTION
        _check_url(f"{s}.base_url", self.base_url)
        _require(
            bool(self.query.strip()) or bool(self.id_list),
            f"{s}.query and {s}.id_list are both empty; set a search query or ids",
        )
        _require(
            1 <= self.max_results <= ARXIV_MAX_TOTAL,
            f"{s}.max_results must be between 1 and {ARXIV_MAX_TOTAL} (got {self.max_results})",
        )
        _require(
            1 <= self.page_size <= ARXIV_MAX_PAGE,
            f"{s}.page_size must be between 1 and {ARXIV_MAX_PAGE} (got {self.page_size})",
        )
        host = urlparse(self.base_url).hostname or ""
        if host == "arxiv.org" or host.endswith(".arxiv.org"):
            _require(
                self.min_interval_s >= ARXIV_MIN_INTERVAL_S,
                f"{s}.min_interval_s must be >= {ARXIV_MIN_INTERVAL_S} for {host} "
                f"(arXiv's terms of use; got {self.min_interval_s})",
            )
        _require(self.min_interval_s >= 0, f"{s}.min_interval_s must be >= 0")


@dataclass(frozen=True)
class LyricsConfig:
    """The Genius crawl: songs found through the API, lyrics scraped from song pages."""

    SECTION: ClassVar[str] = "crawl.lyrics"

    api_base_url: str = "https://api.genius.com"
    """The Genius API (search, artist songs); needs GENIUS_ACCESS_TOKEN in the environment."""
    page_base_url: str = "https://genius.com"
    """Song pages are fetched from here (the path of each song's URL is kept)."""
    artists: tuple[str, ...] = ("Joanna Newsom", "Halestorm", "Yes")
    """Artists whose songs to crawl (found by search, then paged through their songs)."""
    queries: tuple[str, ...] = ()
    """Free-text searches; every song hit is crawled."""
    songs_per_artist: int = 50
    """At most this many songs per artist."""
    max_songs: int = 200
    """At most this many songs in total."""
    min_interval_s: float = 0.5
    """Seconds between two requests (Genius documents no limit; be gentle)."""

    def __post_init__(self) -> None:
        s = self.SECTION
        _check_url(f"{s}.api_base_url", self.api_base_url)
        _check_url(f"{s}.page_base_url", self.page_base_url)
        _require(
            bool(self.artists) or bool(self.queries),
            f"{s}.artists and {s}.queries are both empty; name at least one artist or query",
        )
        _require(self.songs_per_artist > 0, f"{s}.songs_per_artist must be positive")
        _require(self.max_songs > 0, f"{s}.max_songs must be positive (got {self.max_songs})")
        _require(self.min_interval_s >= 0, f"{s}.min_interval_s must be >= 0")


@dataclass(frozen=True)
class CrawlConfig:
    """Both web crawlers and the HTTP session they share."""

    SECTION: ClassVar[str] = "crawl"

    http: HttpConfig = field(default_factory=HttpConfig)
    """Timeouts, retries, cache and User-Agent."""
    arxiv: ArxivConfig = field(default_factory=ArxivConfig)
    """The arXiv API crawl."""
    lyrics: LyricsConfig = field(default_factory=LyricsConfig)
    """The Genius crawl."""


# -------------------------------------------------------------------------- clean

Corpus = Literal["general", "domain"]
TextKind = Literal["prose", "lyrics", "verbatim"]
RECORD_FIELDS = ("id", "title", "text", "authors", "tags", "url", "date")


@dataclass(frozen=True)
class ExtraCsv:
    """A CSV dataset of your own (Kaggle-style) fed into the clean corpora."""

    path: str
    """Path of the CSV, inside data/external/ so DVC tracks it as the stage's input."""
    corpus: Corpus
    """Which corpus its rows join."""
    kind: TextKind
    """How its text is cleaned: prose (unwrapped), lyrics (lines, markers), verbatim."""
    columns: dict[str, str]
    """Record field -> CSV column; `text` is required; also id, title, authors, tags, url, date."""
    source: str = ""
    """Name recorded in the `source` column (defaults to the file's stem)."""
    encoding: str = "utf-8"
    """Text encoding of the file (Python codec name)."""
    repair_arxiv_ids: bool = False
    """Restore arXiv ids mangled by a float round-trip (`704.001` -> `0704.0010`)."""


EXTERNAL_DIR = "data/external"


@dataclass(frozen=True)
class CleanConfig:
    """Cleaning, de-duplication and the train/val split."""

    SECTION: ClassVar[str] = "clean"

    val_fraction: float = 0.1
    """Fraction of documents (by a stable hash of their id) in the val split."""
    min_chars: int = 64
    """Documents shorter than this after cleaning are dropped."""
    max_chars: int = 200_000
    """Documents longer than this after cleaning are dropped."""
    section_markers: Literal["remove", "normalize", "keep"] = "remove"
    """Lyrics markers ([Chorus x2], (2x), REPEAT CHORUS): removed, rewritten as [Chorus], kept."""
    extra_csv: tuple[ExtraCsv, ...] = ()
    """Your own CSV datasets (see README, 'Add your own CSV')."""

    def __post_init__(self) -> None:
        s = self.SECTION
        _require(
            0 < self.val_fraction < 1,
            f"{s}.val_fraction must be between 0 and 1, exclusive (got {self.val_fraction})",
        )
        _require(self.min_chars >= 1, f"{s}.min_chars must be >= 1 (got {self.min_chars})")
        _require(
            self.max_chars > self.min_chars,
            f"{s}.max_chars must be greater than {s}.min_chars "
            f"(got {self.max_chars} and {self.min_chars})",
        )
        for i, extra in enumerate(self.extra_csv):
            _check_extra_csv(f"{s}.extra_csv[{i}]", extra)


def _check_extra_csv(key: str, extra: ExtraCsv) -> None:
    path = Path(extra.path)
    _require(
        not path.is_absolute() and path.parts[:2] == tuple(EXTERNAL_DIR.split("/")),
        f"{key}.path must be inside {EXTERNAL_DIR}/ so DVC tracks it (got {extra.path!r}); "
        f"copy the file there",
    )
    _require("text" in extra.columns, f"{key}.columns must map `text` to a CSV column")
    unknown = sorted(set(extra.columns) - set(RECORD_FIELDS))
    _require(
        not unknown,
        f"{key}.columns.{unknown[0] if unknown else ''} is not a record field "
        f"(expected some of: {', '.join(RECORD_FIELDS)})",
    )
    try:
        codecs.lookup(extra.encoding)
    except LookupError:
        raise ConfigError(
            f"{key}.encoding {extra.encoding!r} is not a known encoding (try utf-8 or latin-1)"
        ) from None


# ---------------------------------------------------------------------- tokenizer


@dataclass(frozen=True)
class TokenizerConfig:
    """The tokenizer trained by train_bpe and used by every later stage."""

    SECTION: ClassVar[str] = "tokenizer"

    kind: Literal["bpe", "char"] = "bpe"
    """`bpe`: byte-level BPE; `char`: one token per character seen in training."""
    vocab_size: int = 512
    """Ids in all, special tokens included (for char: at most this many, most frequent kept)."""
    pattern: str = "gpt4"
    """Pre-split pattern (bpe): gpt4, gpt2, none (plain bytes) or your own regex."""
    specials: tuple[str, ...] = ("<|endoftext|>",)
    """Special tokens, given the last ids; `<|endoftext|>` separates documents."""
    unknown: Literal["unk", "error"] = "unk"
    """Char tokenizer, for characters not seen in training: an `<unk>` id, or an error."""

    def __post_init__(self) -> None:
        s = self.SECTION
        _require(
            "<|endoftext|>" in self.specials,
            f"{s}.specials must include <|endoftext|> (it separates documents)",
        )
        _require(
            len(set(self.specials)) == len(self.specials) and all(self.specials),
            f"{s}.specials must be distinct, non-empty strings (got {list(self.specials)})",
        )
        if self.kind == "bpe":
            least = 256 + len(self.specials)
            _require(
                self.vocab_size >= least,
                f"{s}.vocab_size must be at least {least} for bpe (256 bytes + "
                f"{len(self.specials)} special tokens; got {self.vocab_size})",
            )
        else:
            least = len(self.specials) + (self.unknown == "unk") + 1
            _require(
                self.vocab_size >= least,
                f"{s}.vocab_size must be at least {least} for char (got {self.vocab_size})",
            )
        _require(
            self.vocab_size <= 2**32,
            f"{s}.vocab_size must fit in uint32 (got {self.vocab_size})",
        )
        try:
            regex.compile(self.regex)
        except regex.error as err:
            raise ConfigError(f"{s}.pattern is not a valid regex ({err})") from None

    @property
    def regex(self) -> str:
        """The pre-split regex: a named pattern resolved, or the pattern itself."""
        return PATTERNS.get(self.pattern, self.pattern)


# -------------------------------------------------------------------------- train


@dataclass(frozen=True)
class TrainConfig:
    """One training run: optimisation, evaluation, checkpoints (pretrain; later finetune)."""

    SECTION: ClassVar[str] = "train"

    max_steps: int = 600
    """Optimizer steps in all."""
    batch_size: int = 16
    """Sequences per micro-batch (each model.block_size tokens)."""
    grad_accum: int = 1
    """Micro-batches per optimizer step: the step sees batch_size * grad_accum sequences."""
    lr: float = 1e-3
    """Peak learning rate, reached after warmup."""
    min_lr: float = 1e-4
    """Learning rate at max_steps (cosine decay from lr)."""
    warmup_steps: int = 50
    """Steps of linear warmup from 0 to lr."""
    weight_decay: float = 0.1
    """AdamW weight decay, on matrices and embeddings only (not biases or LayerNorms)."""
    beta1: float = 0.9
    """AdamW beta1."""
    beta2: float = 0.99
    """AdamW beta2 (0.99 suits small models and batches)."""
    grad_clip: float = 1.0
    """Clip the gradient's global norm to this (0: no clipping)."""
    eval_every: int = 100
    """Evaluate train and val loss every this many steps (and at the end)."""
    eval_batches: int = 20
    """Fixed batches per evaluation."""
    checkpoint_every: int = 100
    """Save the training state every this many steps (and on SIGTERM/SIGINT)."""
    seed: int = 1337
    """Seeds the model's initialisation and the batch order."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """`auto`: CUDA when present (bf16 autocast, fused AdamW), else CPU."""
    compile: bool = False
    """torch.compile the model (CUDA only; slower to start, faster to run)."""
    resume: Literal["auto", "never"] = "auto"
    """`auto`: continue from the saved training state when params and data are unchanged."""
    patience: int = 0
    """Stop early once val loss has not improved for this many evaluations (0: never)."""

    def __post_init__(self) -> None:
        s = self.SECTION
        for name in ("max_steps", "batch_size", "grad_accum", "eval_every", "eval_batches",
                     "checkpoint_every"):  # fmt: skip
            value = getattr(self, name)
            _require(value > 0, f"{s}.{name} must be positive (got {value})")
        _require(self.lr > 0, f"{s}.lr must be positive (got {self.lr})")
        _require(
            0 <= self.min_lr <= self.lr,
            f"{s}.min_lr must be between 0 and {s}.lr (got {self.min_lr} and {self.lr})",
        )
        _require(
            0 <= self.warmup_steps < self.max_steps,
            f"{s}.warmup_steps must be >= 0 and less than {s}.max_steps "
            f"(got {self.warmup_steps} and {self.max_steps})",
        )
        _require(self.weight_decay >= 0, f"{s}.weight_decay must be >= 0")
        for name in ("beta1", "beta2"):
            value = getattr(self, name)
            _require(0 <= value < 1, f"{s}.{name} must be >= 0 and < 1 (got {value})")
        _require(self.grad_clip >= 0, f"{s}.grad_clip must be >= 0 (got {self.grad_clip})")
        _require(self.patience >= 0, f"{s}.patience must be >= 0 (got {self.patience})")


# -------------------------------------------------------------------- experiments

RUN_NAME = regex.compile(r"[A-Za-z0-9_-]+")


def _check_names(key: str, names: typing.Iterable[str]) -> None:
    for name in names:
        _require(
            bool(RUN_NAME.fullmatch(name)),
            f"{key}.{name}: names may use letters, digits, _ and - only (DVC reads a dot in "
            f"a params key as nesting); rename it, e.g. {name.replace('.', '')!r}",
        )


def merged_train(base: TrainConfig, overrides: dict[str, object], key: str) -> TrainConfig:
    """`base` with `overrides` (keys of the train section) applied, checked like `train`."""
    try:
        return build(TrainConfig, {**asdict(base), **overrides}, "train")
    except ConfigError as err:
        raise ConfigError(f"{key} (overrides of train): {err}") from None


@dataclass(frozen=True)
class Overrides:
    """Changes to the `model` and `train` sections for one run, keyed as in those sections."""

    model: dict[str, object] = field(default_factory=dict)
    """Keys of the model section (`n_head: 8`, `norm_position: post`, ...)."""
    train: dict[str, object] = field(default_factory=dict)
    """Keys of the train section (`max_steps: 300`, `lr: 3.0e-4`, ...)."""


@dataclass(frozen=True)
class AblateConfig:
    """The ablate stage: named variants, each trained with every seed on an equal budget."""

    SECTION: ClassVar[str] = "ablate"

    seeds: tuple[int, ...] = (1, 2)
    """Seeds every variant is trained with (at least 2: the spread is the noise floor)."""
    base: Overrides = field(default_factory=Overrides)
    """Overrides of model and train shared by every variant: the short, equal budget."""
    variants: dict[str, Overrides] = field(default_factory=lambda: {"baseline": Overrides()})
    """Name -> overrides on top of `base`; `baseline` (no overrides) is the reference."""

    def __post_init__(self) -> None:
        s = self.SECTION
        _require(
            len(set(self.seeds)) >= 2 and len(set(self.seeds)) == len(self.seeds),
            f"{s}.seeds must list at least 2 different seeds (got {list(self.seeds)})",
        )
        _require("baseline" in self.variants, f"{s}.variants must include `baseline`")
        _check_names(f"{s}.variants", self.variants)


@dataclass(frozen=True)
class ScaleConfig:
    """The scale stage: models of growing size on one token budget, and the law they follow."""

    SECTION: ClassVar[str] = "scale"

    base: Overrides = field(default_factory=Overrides)
    """Overrides of model and train shared by every size (the token budget is
    train.max_steps * batch_size * grad_accum * model.block_size)."""
    sizes: dict[str, dict[str, object]] = field(default_factory=dict)
    """Name -> model overrides (n_layer, n_head, n_embd), smallest first."""
    seeds: tuple[int, ...] = (1,)
    """Seeds each size is trained with; every (size, seed) run is one point of the fit."""
    bootstrap_samples: int = 1000
    """Resamples of the runs for the confidence interval of alpha."""
    ci_level: float = 0.95
    """Level of the confidence interval of alpha and of the fit's band."""

    def __post_init__(self) -> None:
        s = self.SECTION
        _require(
            len(self.sizes) >= 3,
            f"{s}.sizes must list at least 3 sizes (a power law has 3 parameters; "
            f"got {len(self.sizes)})",
        )
        _check_names(f"{s}.sizes", self.sizes)
        _require(bool(self.seeds), f"{s}.seeds must list at least one seed")
        _require(
            self.bootstrap_samples >= 100,
            f"{s}.bootstrap_samples must be at least 100 (got {self.bootstrap_samples})",
        )
        _require(0 < self.ci_level < 1, f"{s}.ci_level must be between 0 and 1")


@dataclass(frozen=True)
class FinetuneConfig:
    """The finetune stage: the pretrained model trained on the domain corpus."""

    SECTION: ClassVar[str] = "finetune"

    replay: float = 0.2
    """Share of batches drawn from the general corpus (against forgetting); a run without
    replay is always trained beside it for comparison."""
    train: dict[str, object] = field(default_factory=dict)
    """Overrides of the train section for finetuning (a lower lr, patience for early
    stopping on domain val, fewer steps)."""

    def __post_init__(self) -> None:
        _require(
            0 < self.replay < 1,
            f"{self.SECTION}.replay must be > 0 and < 1 (got {self.replay}); a run without "
            "replay is always trained beside it",
        )


# ----------------------------------------------------------------------- evaluate


@dataclass(frozen=True)
class EvaluateConfig:
    """The evaluate stage: loss on val, decoding strategies compared, adversarial cases."""

    SECTION: ClassVar[str] = "evaluate"

    models: tuple[str, ...] = ("pretrain", "finetune")
    """Model folders under models/ to evaluate, in report order."""
    batch_size: int = 32
    """Windows per forward pass when scoring the val splits."""
    strategies: dict[str, dict[str, object]] = field(
        default_factory=lambda: {
            "greedy": {"strategy": "greedy"},
            "temperature": {"strategy": "temperature", "temperature": 1.0},
            "top_k": {"strategy": "top_k", "temperature": 1.0, "top_k": 40},
            "top_p": {"strategy": "top_p", "temperature": 1.0, "top_p": 0.9},
        }
    )
    """Name -> decoding settings (`strategy`, `temperature`, `top_k`, `top_p`; see
    `nanoforge.infer.sampling.Sampling`), one row each in the decoding table."""
    n_prompts: int = 16
    """Val documents whose first prompt_tokens prompt the decoding table (and whose next
    max_new_tokens tokens are the human row)."""
    prompt_tokens: int = 32
    """Tokens of each val document given as the prompt."""
    max_new_tokens: int = 128
    """Tokens generated per prompt for the decoding table and the adversarial cases."""
    prompts: tuple[str, ...] = ("The module",)
    """Hand-written prompts shown with every strategy's output in samples.md."""
    hot_temperatures: tuple[float, ...] = (1.5, 2.0, 5.0)
    """Temperatures of the hallucination case (validity with and without the blocker)."""
    overflow_factor: int = 10
    """The overflow case's prompt is this many times the model's block_size."""
    long_tokens: int = 2000
    """Tokens of the very-long-generation case (memory must stay flat)."""
    max_loop_rate: float = 0.25
    """The repetition case passes when top_p falls into loops at most this often."""
    seed: int = 0
    """Seeds every sampled generation."""

    def __post_init__(self) -> None:
        s = self.SECTION
        _require(bool(self.models), f"{s}.models must name at least one model")
        for name in ("batch_size", "n_prompts", "prompt_tokens", "max_new_tokens",
                     "overflow_factor", "long_tokens"):  # fmt: skip
            value = getattr(self, name)
            _require(value > 0, f"{s}.{name} must be positive (got {value})")
        _require(bool(self.strategies), f"{s}.strategies must name at least one strategy")
        _require(
            all(t > 0 for t in self.hot_temperatures),
            f"{s}.hot_temperatures must be positive (got {list(self.hot_temperatures)})",
        )
        _require(
            0 <= self.max_loop_rate <= 1,
            f"{s}.max_loop_rate must be between 0 and 1 (got {self.max_loop_rate})",
        )


# ---------------------------------------------------------------------- visualize


@dataclass(frozen=True)
class VisualizeConfig:
    """The visualize stage: figures of the trained models, and the report."""

    SECTION: ClassVar[str] = "visualize"

    models: tuple[str, ...] = ("pretrain", "finetune")
    """Model folders under models/, side by side in the embedding figure."""
    label_tokens: int = 30
    """The most frequent tokens named in the embedding PCA."""
    prompt: str = "def forward(self, x):\n    return"
    """The text whose attention maps are drawn (keep it short: one column per token)."""

    def __post_init__(self) -> None:
        s = self.SECTION
        _require(bool(self.models), f"{s}.models must name at least one model")
        _require(self.label_tokens > 0, f"{s}.label_tokens must be positive")
        _require(bool(self.prompt), f"{s}.prompt must not be empty")


# ------------------------------------------------------------------------- params

DEFAULT_SIZES: dict[str, dict[str, object]] = {
    "xs": {"n_layer": 1, "n_head": 1, "n_embd": 16},
    "s": {"n_layer": 2, "n_head": 2, "n_embd": 32},
    "m": {"n_layer": 2, "n_head": 4, "n_embd": 64},
    "l": {"n_layer": 3, "n_head": 4, "n_embd": 96},
    "xl": {"n_layer": 4, "n_head": 4, "n_embd": 128},
}


@dataclass(frozen=True)
class Params:
    """The whole params.yaml."""

    data: DataConfig = field(default_factory=DataConfig)
    """Where the text comes from."""
    crawl: CrawlConfig = field(default_factory=CrawlConfig)
    """The web crawlers."""
    clean: CleanConfig = field(default_factory=CleanConfig)
    """Cleaning and splitting."""
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    """The tokenizer."""
    model: dict[str, object] = field(default_factory=dict)
    """The model's shape (`nanoforge.model.gpt.GPTConfig`), checked by the training
    stages: the model module needs torch, which the data stages should not load."""
    train: TrainConfig = field(default_factory=TrainConfig)
    """Optimisation, evaluation and checkpoints."""
    ablate: AblateConfig = field(default_factory=AblateConfig)
    """The ablate stage."""
    scale: ScaleConfig = field(default_factory=lambda: ScaleConfig(sizes=DEFAULT_SIZES))
    """The scale stage."""
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    """The finetune stage."""
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    """The evaluate stage."""
    visualize: VisualizeConfig = field(default_factory=VisualizeConfig)
    """The visualize stage."""

    def __post_init__(self) -> None:
        # Every merged train section is checked here, once, before any stage works.
        ablate_base = merged_train(self.train, self.ablate.base.train, "ablate.base.train")
        for name, variant in self.ablate.variants.items():
            merged_train(ablate_base, variant.train, f"ablate.variants.{name}.train")
        merged_train(self.train, self.scale.base.train, "scale.base.train")
        merged_train(self.train, self.finetune.train, "finetune.train")


def load_params(path: str | Path = DEFAULT_PARAMS) -> Params:
    """Read and validate params.yaml; any problem is one `ConfigError` line naming the key."""
    path = Path(path)
    try:
        raw = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found; run from the project root") from None
    except YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(err, "problem", err)
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    try:
        return build(Params, raw or {}, "")
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def build(cls: type, raw: Any, key: str) -> Any:
    """Build dataclass `cls` from a parsed YAML mapping, checking keys and types."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{key or 'params'} must be a mapping (got {_describe(raw)})")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in fields(cls)]
    for name in raw:
        if name not in known:
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
            raise ConfigError(f"{_join(key, str(name))} is not a known key{hint}")
    values = {}
    for f in fields(cls):
        sub = _join(key, f.name)
        if f.name in raw:
            values[f.name] = _coerce(hints[f.name], raw[f.name], sub)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise ConfigError(f"{sub} is missing")
    return cls(**values)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if is_dataclass(tp):
        return build(tp, value, key)
    if origin is Literal:
        if value not in args:
            choices = " | ".join(str(a) for a in args)
            raise ConfigError(f"{key} must be one of {choices} (got {value!r})")
        return value
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, key)
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be a list (got {_describe(value)})")
        return tuple(_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping (got {_describe(value)})")
        return {
            _coerce(args[0], k, key): _coerce(args[1], v, _join(key, str(k)))
            for k, v in value.items()
        }
    return _coerce_scalar(tp, value, key)


def _coerce_scalar(tp: type, value: Any, key: str) -> Any:
    # bool is an int in Python, but `n_layer: true` is a typo, not a number.
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"{key} must be {tp.__name__} (got {_describe(value)})")


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}" if value is not None else "nothing"


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name
