"""Stage clean_csv: raw CSVs (and your own, from clean.extra_csv) into clean, split corpora.

Writes data/clean/general.parquet, data/clean/domain.parquet and reports/clean.json.
"""

from pathlib import Path

from nanoforge.atomic import write_json
from nanoforge.config import load_params
from nanoforge.data.clean import clean_corpora, extra_input, raw_input, write_parquet
from nanoforge.stage import run_stage

RAW = {"general": "data/raw/arxiv.csv", "domain": "data/raw/lyrics.csv"}
OUT = "data/clean/{corpus}.parquet"
REPORT = "reports/clean.json"


def main() -> None:
    cfg = load_params().clean
    inputs = [raw_input(Path(path), corpus) for corpus, path in RAW.items()]
    inputs += [extra_input(extra, Path(), i) for i, extra in enumerate(cfg.extra_csv)]
    result = clean_corpora(inputs, cfg)
    write_parquet(result.general, OUT.format(corpus="general"))
    write_parquet(result.domain, OUT.format(corpus="domain"))
    write_json(REPORT, result.report)


if __name__ == "__main__":
    run_stage(main)
