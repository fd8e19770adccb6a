"""Stage crawl_lyrics: the domain corpus as raw records.

`data.source: web` crawls song lyrics from Genius (needs GENIUS_ACCESS_TOKEN);
`builtin` takes the standard library's source code offline. Writes
data/raw/lyrics.csv and reports/crawl_lyrics.json.
"""

import os

from nanoforge.atomic import write_json
from nanoforge.config import load_params
from nanoforge.data.builtin import domain_records
from nanoforge.data.genius import crawl_lyrics, open_session, read_token
from nanoforge.data.http import CrawlStats
from nanoforge.data.records import write_records_csv
from nanoforge.stage import run_stage

OUT = "data/raw/lyrics.csv"
REPORT = "reports/crawl_lyrics.json"


def main() -> None:
    params = load_params()
    stats, skipped = CrawlStats(), {}
    if params.data.source == "builtin":
        written = write_records_csv(OUT, domain_records(params.data.builtin.domain_max_chars))
    else:
        cfg = params.crawl.lyrics
        with open_session(params.crawl.http, cfg, read_token(os.environ)) as session:
            crawl = crawl_lyrics(session, cfg)
            stats = session.stats
        written = write_records_csv(OUT, crawl.records)
        skipped = {
            "songs_found": crawl.songs_found,
            "no_lyrics": crawl.no_lyrics,
            "page_failures": crawl.page_failures,
        }
    write_json(
        REPORT, {"source": params.data.source, **vars(written), **stats.as_dict(), **skipped}
    )


if __name__ == "__main__":
    run_stage(main)
