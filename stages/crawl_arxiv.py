"""Stage crawl_arxiv: the general corpus as raw records.

`data.source: web` crawls arXiv abstracts; `builtin` takes Python's documentation
offline. Writes data/raw/arxiv.csv and reports/crawl_arxiv.json.
"""

from nanoforge.atomic import write_json
from nanoforge.config import load_params
from nanoforge.data.arxiv import crawl_arxiv, open_session
from nanoforge.data.builtin import general_records
from nanoforge.data.http import CrawlStats
from nanoforge.data.records import write_records_csv
from nanoforge.stage import run_stage

OUT = "data/raw/arxiv.csv"
REPORT = "reports/crawl_arxiv.json"


def main() -> None:
    params = load_params()
    stats = CrawlStats()
    if params.data.source == "builtin":
        written = write_records_csv(OUT, general_records(params.data.builtin.general_max_chars))
    else:
        with open_session(params.crawl.http, params.crawl.arxiv) as session:
            written = write_records_csv(OUT, crawl_arxiv(session, params.crawl.arxiv))
            stats = session.stats
    write_json(REPORT, {"source": params.data.source, **vars(written), **stats.as_dict()})


if __name__ == "__main__":
    run_stage(main)
