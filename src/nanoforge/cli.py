"""The `nanoforge` command: generate text with a trained model, or describe a model folder.

    nanoforge generate --model models/pretrain --prompt "The model" --strategy top_p --top-p 0.9
    nanoforge info --model models/pretrain [--json]

A model folder (what `dvc repro pretrain` writes) holds model.pt, config.json, the
tokenizer the model was trained with (tokenizer.json) and, for newer runs, train.json
(the training summary). `generate` streams the text to stdout as it is produced, the
prompt first so that the output reads as one text, and ends with a summary line on
stderr. Expected failures (a missing folder, a bad knob, a character the tokenizer
cannot encode) print one `error:` line and exit 1; argparse's usage errors exit 2.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from nanoforge.errors import ConfigError, DataError, NanoforgeError
from nanoforge.infer.generate import GenerateConfig, Generator, StopReason
from nanoforge.infer.sampling import STRATEGIES, Sampling
from nanoforge.logs import setup_logging
from nanoforge.model.gpt import GPT
from nanoforge.tokenizers.base import FILE_NAME, Tokenizer
from nanoforge.tokenizers.char import CharTokenizer
from nanoforge.tokenizers.load import load_tokenizer
from nanoforge.tokenizers.utf8 import TokenTextStream
from nanoforge.train.checkpoint import load_model
from nanoforge.train.device import pick_device

DEFAULT_MODEL = "models/pretrain"
DEFAULT_TOP_P = 0.9
DEFAULT_TOP_K = 40
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


# ------------------------------------------------------------------------ loading


def model_folder(path: str) -> Path:
    """`path` as a model folder, refused with one line when it is not one."""
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(
            f"{folder}: no model folder here; train one with `dvc repro pretrain` "
            f"or pass --model FOLDER"
        )
    if not (folder / FILE_NAME).is_file():
        raise DataError(
            f"{folder / FILE_NAME}: not found; a model folder holds the tokenizer it was "
            f"trained with (re-run `dvc repro pretrain`)"
        )
    return folder


def device_from(name: str) -> torch.device:
    # pick_device words its refusal for params.yaml (train.device); this is a flag.
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda but no CUDA device is available; use auto or cpu")
    return pick_device(name)


def read_training_summary(folder: Path) -> dict[str, Any] | None:
    """train.json of a model folder, or None for folders trained before it was written."""
    # Imported here: runs.py loads dvclive (half a second) and only `info` needs the name.
    from nanoforge.train.runs import TRAIN_SUMMARY

    path = folder / TRAIN_SUMMARY
    if not path.is_file():
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not readable JSON ({err}); re-run `dvc repro pretrain`") from None
    if not isinstance(summary, dict):
        raise DataError(f"{path}: not a JSON object; re-run `dvc repro pretrain`")
    return summary


# ----------------------------------------------------------------------- generate


def sampling_from(args: argparse.Namespace) -> Sampling:
    """The strategy and its knobs; a strategy's own knob has a default when not given.

    Knobs the strategy does not use stay as given, so Sampling refuses them with one line
    (greedy with --top-p is a mistake worth saying, not a knob to ignore quietly).
    """
    top_k, top_p = args.top_k, args.top_p
    if args.strategy == "top_p" and top_p is None:
        top_p = DEFAULT_TOP_P
    if args.strategy == "top_k" and top_k is None:
        top_k = DEFAULT_TOP_K
    return Sampling(args.strategy, args.temperature, top_k, top_p)


def read_prompt(prompt: str) -> str:
    """The prompt text; `-` reads it from stdin, verbatim (a trailing newline is kept)."""
    if prompt != "-":
        try:
            prompt.encode("utf-8")  # bytes that were not UTF-8 arrive as lone surrogates
        except UnicodeEncodeError:
            raise DataError("the prompt is not valid UTF-8; pass UTF-8 text") from None
        return prompt
    try:
        return sys.stdin.buffer.read().decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"the prompt on stdin is not valid UTF-8 ({err.reason})") from None


def warn_unknown(tokenizer: Tokenizer, prompt_ids: Sequence[int]) -> None:
    """Say how many prompt characters a lenient char tokenizer turned into <unk>."""
    unk_id = tokenizer.unk_id if isinstance(tokenizer, CharTokenizer) else None
    count = prompt_ids.count(unk_id) if unk_id is not None else 0
    if count:
        print(
            f"warning: {count} character(s) of the prompt are not in the tokenizer's "
            f"vocabulary and became <unk>",
            file=sys.stderr,
        )


def write(text: str) -> None:
    # Flushed piece by piece: the reader sees the text as it is generated.
    if text:
        sys.stdout.write(text)
        sys.stdout.flush()


def stream(
    generator: Generator, prompt_ids: Sequence[int], config: GenerateConfig
) -> tuple[int, StopReason]:
    """Write the generated text to stdout as it comes; return (tokens, why it ended)."""
    text = TokenTextStream(generator.tokenizer)
    steps = generator.steps(prompt_ids, config)
    count = 0
    while True:
        try:
            token_id, _ = next(steps)
        except StopIteration as end:
            write(text.close())  # an unfinished character (blocker off) becomes U+FFFD
            return count, end.value
        count += 1
        write(text.push(token_id))


def cmd_generate(args: argparse.Namespace) -> None:
    sampling = sampling_from(args)
    config = GenerateConfig(
        sampling=sampling,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        block_ghost_bytes=args.ghost_byte_blocker,
        stop_at_eot=args.stop_at_eot,
        stop_on_loop=args.stop_on_loop,
    )
    folder = model_folder(args.model)
    tokenizer = load_tokenizer(folder)
    model = load_model(folder, device_from(args.device))
    generator = Generator(model, tokenizer)
    prompt = read_prompt(args.prompt)
    prompt_ids = generator.encode_prompt(prompt)  # a strict char tokenizer refuses here
    warn_unknown(tokenizer, prompt_ids)

    write(prompt)
    start = time.perf_counter()
    count, reason = stream(generator, prompt_ids, config)
    seconds = time.perf_counter() - start
    write("\n")
    print(
        f"generated {count} token{'s' if count != 1 else ''} in {seconds:.2f} s "
        f"({count / max(seconds, 1e-9):.1f} tokens/s), stop reason: {reason} "
        f"[{sampling.describe()}, seed {args.seed}]",
        file=sys.stderr,
    )


# --------------------------------------------------------------------------- info


def model_info(folder: Path) -> dict[str, Any]:
    """Everything `info` reports about a model folder, as plain JSON values."""
    tokenizer = load_tokenizer(folder)
    model: GPT = load_model(folder, "cpu")
    return {
        "model": str(folder),
        "config": model.config.to_dict(),
        "parameters": model.param_counts,
        "tokenizer": {
            "kind": tokenizer.kind,
            "vocab_size": tokenizer.vocab_size,
            "specials": dict(tokenizer.specials),
            "hash": tokenizer.hash,
        },
        "training": read_training_summary(folder),
    }


def format_value(value: Any) -> str:
    """One value for people: thousands separators, short floats, specials as text=id."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)  # true / false / null, as in config.json
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={format_value(v)}" for k, v in value.items())
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def format_info(info: Mapping[str, Any]) -> str:
    """`model_info` as aligned sections of `key  value` lines."""
    lines = [f"model folder  {info['model']}"]
    sections = [
        ("config (config.json)", info["config"]),
        ("parameters", info["parameters"]),
        ("tokenizer (tokenizer.json)", info["tokenizer"]),
        ("training (train.json)", info["training"]),
    ]
    for title, fields in sections:
        lines.append(f"\n{title}")
        if fields is None:
            lines.append("  no train.json in this folder (trained before it was written)")
            continue
        width = max(map(len, fields), default=0) + 2
        lines += [f"  {key:<{width}}{format_value(value)}" for key, value in fields.items()]
    return "\n".join(lines)


def cmd_info(args: argparse.Namespace) -> None:
    info = model_info(model_folder(args.model))
    print(json.dumps(info, ensure_ascii=False) if args.json else format_info(info))


# ------------------------------------------------------------------------- parser


def add_generate(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "generate",
        help="stream text from a trained model",
        description="Stream text from a trained model: the prompt, then what the model "
        "writes after it (stdout); a summary line on stderr.",
    )
    p.add_argument("--model", default=DEFAULT_MODEL, help="model folder (%(default)s)")
    p.add_argument("--prompt", default="", help="text to continue; - reads stdin (empty)")
    p.add_argument("--strategy", choices=STRATEGIES, default="top_p", help="(%(default)s)")
    p.add_argument("--temperature", type=float, default=0.8, help="(%(default)s)")
    p.add_argument("--top-k", type=int, help=f"(strategy top_k: {DEFAULT_TOP_K})")
    p.add_argument("--top-p", type=float, help=f"(strategy top_p: {DEFAULT_TOP_P})")
    p.add_argument("--max-new-tokens", type=int, default=200, help="(%(default)s)")
    p.add_argument("--seed", type=int, default=1, help="seeds the sampling (%(default)s)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument(
        "--no-ghost-byte-blocker",
        dest="ghost_byte_blocker",
        action="store_false",
        help="allow tokens that leave invalid UTF-8 (shown as U+FFFD)",
    )
    p.add_argument("--stop-on-loop", action="store_true", help="stop once the text repeats itself")
    p.add_argument(
        "--no-stop-at-eot",
        dest="stop_at_eot",
        action="store_false",
        help="go on past <|endoftext|>",
    )
    p.set_defaults(run=cmd_generate)


def add_info(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "info",
        help="describe a model folder",
        description="The model's config, parameter counts, tokenizer and training summary.",
    )
    p.add_argument("--model", default=DEFAULT_MODEL, help="model folder (%(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=cmd_info)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nanoforge", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(metavar="command", required=True)
    add_generate(commands)
    add_info(commands)
    return parser


# --------------------------------------------------------------------------- main


def quiet_broken_pipe() -> None:
    # The reader went away (`| head`): stop like other Unix tools, without a traceback.
    # stdout is pointed at /dev/null so that the flush at exit does not fail again.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def main(argv: list[str] | None = None) -> None:
    """Run the `nanoforge` command with `argv` (default: the process's arguments)."""
    args = build_parser().parse_args(argv)
    # Generated text is UTF-8 by construction; a terminal set to another encoding shows
    # mojibake for what it cannot display rather than stopping with a traceback.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(encoding="utf-8")
    setup_logging(os.environ.get("NANOFORGE_LOG", "WARNING"))
    run: Callable[[argparse.Namespace], None] = args.run
    try:
        run(args)
    except NanoforgeError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(EXIT_ERROR)
    except BrokenPipeError:
        quiet_broken_pipe()
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        print("\nerror: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
