"""The `nanoforge` command, run as users run it: a separate process on a real model folder.

Every invocation is a `Call` declared beside the tests that read it. Starting Python and
importing torch costs about two seconds a process, so the module fixture `ran` starts all
the calls at once, as many at a time as there are CPU cores, and each test reads the
outcome of its own (exit status, stdout as bytes, stderr as text).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from nanoforge.infer.generate import GenerateConfig, Generator
from nanoforge.infer.sampling import Sampling
from nanoforge.model.gpt import GPT, GPTConfig
from nanoforge.tokenizers.base import EOT, Tokenizer
from nanoforge.tokenizers.bpe import BpeTokenizer
from nanoforge.tokenizers.char import CharTokenizer
from nanoforge.tokenizers.load import load_tokenizer
from nanoforge.tokenizers.patterns import PATTERNS
from nanoforge.train.checkpoint import load_model, save_checkpoint

# Several scripts, so that the BPE vocabulary holds whole and partial multi-byte characters.
TEXTS = [
    "The quick brown fox jumps over the lazy dog. " * 3,
    "Ο γρήγορος καφέ αλεπού πηδά πάνω από τον τεμπέλη σκύλο. " * 3,
    "敏捷的棕色狐狸跳过了懒狗。日本語のテキストも少し。 " * 3,
    "Les données sont écrites dans un fichier; café, naïve, déjà vu. € → ✓ " * 3,
]
CHAR_TEXT = "hello world, the quick brown fox"
SNOWMAN = "\u2603"  # not in CHAR_TEXT
SUMMARY = re.compile(r"generated (\d+) tokens? in [\d.]+ s \([\d.]+ tokens/s\), stop reason: (\w+)")
TIMEOUT_S = 60


# ---------------------------------------------------------------------- model folders


def model_folder(folder: Path, tokenizer: Tokenizer) -> Path:
    """A model folder as `dvc repro pretrain` writes it: model.pt, config.json, tokenizer.json."""
    torch.manual_seed(0)
    config = GPTConfig(
        vocab_size=tokenizer.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=16
    )
    save_checkpoint(folder, GPT(config), config)
    tokenizer.save(folder)
    return folder


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The model folders, by the names the calls use: bpe, char_strict, char_unk, and
    missing (a folder that does not exist)."""
    root = tmp_path_factory.mktemp("cli")
    bpe = BpeTokenizer.train(TEXTS, vocab_size=300, pattern=PATTERNS["gpt4"], specials=[EOT])
    strict = CharTokenizer.train([CHAR_TEXT], vocab_size=64, specials=[EOT], unknown="error")
    lenient = CharTokenizer.train([CHAR_TEXT], vocab_size=64, specials=[EOT], unknown="unk")
    return {
        "bpe": model_folder(root / "bpe", bpe),
        "char_strict": model_folder(root / "char_strict", strict),
        "char_unk": model_folder(root / "char_unk", lenient),
        "missing": root / "no_such_model",
    }


# ------------------------------------------------------------------------------ calls


@dataclass(frozen=True)
class Call:
    """One `nanoforge` invocation; `{name}` in an argument is the folder of that name."""

    args: tuple[str, ...]
    stdin: bytes = b""
    closed_stdout: bool = False
    """Start the command writing into a pipe whose reader has already gone."""


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: bytes
    stderr: str

    @property
    def text(self) -> str:
        """stdout decoded strictly: a byte that is not UTF-8 fails the test here."""
        return self.stdout.decode("utf-8", errors="strict")

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]

    @property
    def summary(self) -> tuple[int, str]:
        """(tokens generated, stop reason) from the summary line on stderr."""
        found = SUMMARY.search(self.stderr)
        assert found, f"no summary line on stderr: {self.stderr!r}"
        return int(found.group(1)), found.group(2)


CALLS: list[Call] = []


def call(words: str, *args: str, stdin: bytes = b"", closed_stdout: bool = False) -> Call:
    """Declare an invocation: `words` split at spaces, then `args` as they are (prompts).

    `ran` starts every declared call.
    """
    declared = Call((*words.split(), *args), stdin, closed_stdout)
    CALLS.append(declared)
    return declared


def execute(declared: Call, folders: dict[str, Path]) -> Outcome:
    args = [
        arg.format(**{name: str(path) for name, path in folders.items()}) for arg in declared.args
    ]
    command = [sys.executable, "-m", "nanoforge.cli", *args]
    # One torch thread: the processes run side by side, and tiny models gain nothing from more.
    env = {**os.environ, "NANOFORGE_LOG": "WARNING", "OMP_NUM_THREADS": "1"}
    cwd = folders["bpe"].parent
    if not declared.closed_stdout:
        done = subprocess.run(
            command,
            input=declared.stdin,
            capture_output=True,
            env=env,
            cwd=cwd,
            timeout=TIMEOUT_S,
            check=False,
        )
        return Outcome(done.returncode, done.stdout, done.stderr.decode("utf-8", "replace"))
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte is written
    try:
        done = subprocess.run(
            command,
            input=declared.stdin,
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            timeout=TIMEOUT_S,
            check=False,
        )
    finally:
        os.close(write_end)
    return Outcome(done.returncode, b"", done.stderr.decode("utf-8", "replace"))


@pytest.fixture(scope="module")
def ran(folders: dict[str, Path]) -> dict[Call, Outcome]:
    """Every declared call's outcome; the processes run side by side."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {declared: pool.submit(execute, declared, folders) for declared in CALLS}
        return {declared: future.result() for declared, future in futures.items()}


def library_text(folder: Path, prompt: str, config: GenerateConfig) -> tuple[str, int]:
    """What the library generates for the same folder, prompt and config: (text, tokens)."""
    tokenizer = load_tokenizer(folder)
    generator = Generator(load_model(folder), tokenizer)
    ids = generator.generate(generator.encode_prompt(prompt), config).ids
    return tokenizer.decode(ids), len(ids)


def no_traceback(outcome: Outcome) -> None:
    assert "Traceback" not in outcome.stderr, outcome.stderr
    assert "Exception ignored" not in outcome.stderr, outcome.stderr


# -------------------------------------------------------------------------- generate

PROMPT = "The quick"
SAMPLED = call("generate --model {bpe} --max-new-tokens 12 --seed 7", "--prompt", PROMPT)
SAMPLED_AGAIN = call("generate --model {bpe} --max-new-tokens 12 --seed 7", "--prompt", PROMPT)
STDIN_PROMPT = "Les données\nsont "
GREEDY_FROM_STDIN = call(
    "generate --model {bpe} --prompt - --strategy greedy --max-new-tokens 12 --seed 1",
    stdin=STDIN_PROMPT.encode(),
)
# An empty prompt, at a temperature that makes every token about as likely as any other.
HOT = "generate --model {bpe} --strategy temperature --temperature 5 --max-new-tokens 40"
HOT += " --no-stop-at-eot --seed 3"
HOT_CONFIG = GenerateConfig(
    Sampling("temperature", 5.0), max_new_tokens=40, seed=3, stop_at_eot=False
)
HOT_BLOCKED = call(HOT, "--prompt", "")
HOT_UNBLOCKED = call(HOT + " --no-ghost-byte-blocker", "--prompt", "")


def test_generate_prints_the_prompt_then_the_generated_text_and_a_summary_on_stderr(
    ran: dict[Call, Outcome], folders: dict[str, Path]
) -> None:
    outcome = ran[SAMPLED]
    config = GenerateConfig(Sampling("top_p", 0.8, top_p=0.9), max_new_tokens=12, seed=7)
    expected, tokens = library_text(folders["bpe"], PROMPT, config)
    assert outcome.code == 0, outcome.stderr
    assert outcome.text == PROMPT + expected + "\n"
    assert outcome.summary == (tokens, "max_new_tokens" if tokens == 12 else "eot")
    assert "[top_p (p=0.9, T=0.8), seed 7]" in outcome.stderr
    assert outcome.stderr.count("\n") == 1  # the summary is the only line


def test_the_same_seed_gives_the_same_output_in_two_processes(ran: dict[Call, Outcome]) -> None:
    assert ran[SAMPLED].code == ran[SAMPLED_AGAIN].code == 0
    assert ran[SAMPLED].text == ran[SAMPLED_AGAIN].text
    assert ran[SAMPLED].summary == ran[SAMPLED_AGAIN].summary


def test_greedy_is_deterministic_whatever_the_seed(
    ran: dict[Call, Outcome], folders: dict[str, Path]
) -> None:
    # The command ran with seed 1; the library here, in another process, with seed 99.
    outcome = ran[GREEDY_FROM_STDIN]
    config = GenerateConfig(Sampling("greedy"), max_new_tokens=12, seed=99)
    expected, tokens = library_text(folders["bpe"], STDIN_PROMPT, config)
    assert outcome.code == 0, outcome.stderr
    assert outcome.text == STDIN_PROMPT + expected + "\n"
    assert outcome.summary[0] == tokens
    assert "[greedy, seed 1]" in outcome.stderr


def test_max_new_tokens_caps_the_tokens_and_is_reached_without_the_end_of_text_stop(
    ran: dict[Call, Outcome],
) -> None:
    assert ran[SAMPLED].summary[0] <= 12
    assert ran[GREEDY_FROM_STDIN].summary[0] <= 12
    assert ran[HOT_BLOCKED].summary == (40, "max_new_tokens")  # --no-stop-at-eot


def test_an_empty_prompt_starts_from_end_of_text(
    ran: dict[Call, Outcome], folders: dict[str, Path]
) -> None:
    outcome = ran[HOT_BLOCKED]
    expected, _ = library_text(folders["bpe"], "", HOT_CONFIG)  # from [<|endoftext|>]
    assert outcome.code == 0, outcome.stderr
    assert outcome.text == expected + "\n"


def test_prompt_dash_reads_the_prompt_from_stdin_verbatim(ran: dict[Call, Outcome]) -> None:
    outcome = ran[GREEDY_FROM_STDIN]
    assert outcome.code == 0, outcome.stderr
    assert outcome.text.startswith(STDIN_PROMPT)  # the newline inside is kept
    assert len(outcome.text) > len(STDIN_PROMPT + "\n")  # and text was generated after it


def test_output_is_strict_utf8_without_replacement_characters_with_the_blocker_at_t5(
    ran: dict[Call, Outcome],
) -> None:
    outcome = ran[HOT_BLOCKED]
    assert outcome.code == 0, outcome.stderr
    assert len(outcome.text) > 1  # .text decodes strictly
    assert "\ufffd" not in outcome.text


def test_without_the_blocker_invalid_bytes_show_as_replacement_characters_still_utf8(
    ran: dict[Call, Outcome],
) -> None:
    # The same run with the blocker off does draw ghost bytes: the check above has teeth.
    outcome = ran[HOT_UNBLOCKED]
    assert outcome.code == 0, outcome.stderr
    assert "\ufffd" in outcome.text  # .text decodes strictly
    assert outcome.summary == (40, "max_new_tokens")


# ---------------------------------------------------------------------------- errors

MISSING = call("generate --model {missing} --prompt hi")
UNSEEN = f"hello {SNOWMAN}"
CHAR_STRICT = call("generate --model {char_strict}", "--prompt", UNSEEN)
CHAR_UNK = call(
    "generate --model {char_unk} --strategy greedy --max-new-tokens 5",
    "--prompt",
    UNSEEN + SNOWMAN,
)
UNUSED_KNOB = call("generate --model {bpe} --strategy greedy --top-p 0.9")


def test_a_missing_model_folder_is_one_error_line_naming_it_and_exit_1(
    ran: dict[Call, Outcome], folders: dict[str, Path]
) -> None:
    outcome = ran[MISSING]
    assert outcome.code == 1
    assert outcome.stdout == b""
    assert outcome.error_lines == outcome.stderr.splitlines()
    [line] = outcome.error_lines
    assert str(folders["missing"]) in line
    assert "no model folder here" in line


def test_a_strict_char_tokenizer_refuses_an_unseen_character_with_one_line(
    ran: dict[Call, Outcome],
) -> None:
    outcome = ran[CHAR_STRICT]
    assert outcome.code == 1
    assert outcome.stdout == b""  # refused before anything is written
    assert outcome.stderr.splitlines() == outcome.error_lines
    [line] = outcome.error_lines
    assert "U+2603" in line
    assert "position 6" in line


def test_a_lenient_char_tokenizer_warns_how_many_characters_became_unk(
    ran: dict[Call, Outcome],
) -> None:
    outcome = ran[CHAR_UNK]
    assert outcome.code == 0, outcome.stderr
    warnings = [line for line in outcome.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: 2 character(s) of the prompt are not in the tokenizer's vocabulary "
        "and became <unk>"
    ]
    assert outcome.text.startswith(UNSEEN + SNOWMAN)  # the prompt is echoed as given
    assert "\ufffd" not in outcome.text  # <unk> (shown as U+FFFD) is never generated
    assert outcome.summary[0] <= 5


# The byte 0xFF is not UTF-8: Python hands it over as the lone surrogate U+DCFF.
NOT_UTF8 = call("generate --model {char_unk} --max-new-tokens 5", "--prompt", "hi \udcff")


def test_a_command_line_prompt_that_is_not_utf8_is_one_error_line(
    ran: dict[Call, Outcome],
) -> None:
    outcome = ran[NOT_UTF8]
    assert (outcome.code, outcome.stdout) == (1, b"")
    assert outcome.stderr.splitlines() == ["error: the prompt is not valid UTF-8; pass UTF-8 text"]


def test_a_knob_the_strategy_does_not_use_is_refused_with_one_line(
    ran: dict[Call, Outcome],
) -> None:
    outcome = ran[UNUSED_KNOB]
    assert outcome.code == 1
    assert outcome.stderr.splitlines() == outcome.error_lines
    [line] = outcome.error_lines
    assert line == (
        "error: top_p is set but strategy greedy does not use it; "
        "use strategy top_p or leave top_p out"
    )


# ------------------------------------------------------------------------------ pipes

INTO_CLOSED_PIPE = call(
    "generate --model {bpe} --max-new-tokens 20", "--prompt", PROMPT, closed_stdout=True
)


def test_writing_into_a_closed_pipe_stops_quietly_without_a_traceback(
    ran: dict[Call, Outcome],
) -> None:
    outcome = ran[INTO_CLOSED_PIPE]
    assert outcome.code == 1
    no_traceback(outcome)
    assert "BrokenPipeError" not in outcome.stderr
    assert outcome.stderr == ""


# ------------------------------------------------------------------------------- info

INFO = call("info --model {bpe}")
INFO_JSON = call("info --model {bpe} --json")


def test_info_prints_the_config_the_parameter_counts_and_the_tokenizer(
    ran: dict[Call, Outcome], folders: dict[str, Path]
) -> None:
    outcome = ran[INFO]
    model = load_model(folders["bpe"])
    tokenizer = load_tokenizer(folders["bpe"])
    assert outcome.code == 0, outcome.stderr
    lines = [line.split() for line in outcome.text.splitlines()]
    assert ["model", "folder", str(folders["bpe"])] in lines
    for section in ("config", "parameters", "tokenizer", "training"):
        assert any(words[:1] == [section] for words in lines), section
    assert ["n_layer", "2"] in lines
    assert ["vocab_size", "300"] in lines  # in the config and in the tokenizer
    assert ["total", f"{model.num_params(non_embedding=False):,}"] in lines
    assert ["non_embedding", f"{model.num_params(non_embedding=True):,}"] in lines
    assert ["kind", "bpe"] in lines
    assert ["hash", tokenizer.hash] in lines
    assert ["specials", f"{EOT}=299"] in lines
    assert "no train.json in this folder" in outcome.text


def test_info_json_is_one_object_with_the_folders_values(
    ran: dict[Call, Outcome], folders: dict[str, Path]
) -> None:
    outcome = ran[INFO_JSON]
    model = load_model(folders["bpe"])
    assert outcome.code == 0, outcome.stderr
    info = json.loads(outcome.text)
    assert info["model"] == str(folders["bpe"])
    assert info["config"] == model.config.to_dict()
    assert info["config"]["n_layer"] == 2
    assert info["config"]["n_embd"] == 16
    assert info["config"]["block_size"] == 32
    assert info["parameters"] == {
        "total": model.num_params(non_embedding=False),
        "non_embedding": model.num_params(non_embedding=True),
    }
    assert info["parameters"]["total"] == sum(p.numel() for p in model.parameters())
    assert info["tokenizer"] == {
        "kind": "bpe",
        "vocab_size": 300,
        "specials": {EOT: 299},
        "hash": load_tokenizer(folders["bpe"]).hash,
    }
    assert info["training"] is None
