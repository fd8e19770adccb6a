"""Stage ablate_variant@NAME: train one ablation variant with every seed and score it.

`python stages/ablate_variant.py NAME` trains `ablate.variants.NAME` (on top of
`ablate.base`, on top of the model and train sections) once per `ablate.seeds`, scores
each best model on the whole general val split, and writes reports/ablate/runs/NAME.json.
dvc.yaml runs it once per variant (`foreach`), so changing one variant re-runs only it.
"""

import sys
from dataclasses import asdict
from pathlib import Path

from nanoforge.atomic import write_json
from nanoforge.config import load_params
from nanoforge.errors import ConfigError
from nanoforge.experiments.runs import run_specs, train_and_score
from nanoforge.stage import run_stage
from nanoforge.tokenizers.load import load_tokenizer

TOKENIZER = Path("data/tokenizer")
TOKENS = Path("data/tokens/general")
OUT = Path("reports/ablate/runs")
WORK = Path("data/cache/train/ablate")


def main() -> None:
    if len(sys.argv) != 2:
        raise ConfigError("usage: python stages/ablate_variant.py NAME (a key of ablate.variants)")
    name = sys.argv[1]
    params = load_params()
    cfg = params.ablate
    if name not in cfg.variants:
        raise ConfigError(f"ablate.variants has no {name!r} (has {', '.join(cfg.variants)})")
    tokenizer = load_tokenizer(TOKENIZER)
    layers = [("ablate.base", cfg.base), (f"ablate.variants.{name}", cfg.variants[name])]
    specs = run_specs(params, layers, name, cfg.seeds, tokenizer.vocab_size)
    runs = [
        train_and_score(spec, TOKENS, tokenizer, WORK / name / f"seed{spec.seed}") for spec in specs
    ]
    overrides = asdict(cfg.variants[name])
    write_json(OUT / f"{name}.json", {"variant": name, "overrides": overrides, "runs": runs})


if __name__ == "__main__":
    run_stage(main)
