"""Routes that serve the real recorded arXiv API responses from ../shared/fixtures/arxiv."""

from __future__ import annotations

from pathlib import Path

from loopback import Query, Reply, Route

ATOM = "application/atom+xml; charset=utf-8"
PATH = "/api/query"


def arxiv_routes(fixtures: Path) -> dict[str, Route]:
    """`/api/query` answering like export.arxiv.org did when the fixtures were recorded.

    Pages that were never recorded (past the end of a query) get the real empty feed.
    """
    folder = fixtures / "arxiv"
    pages = {
        ("testing", "0"): (folder / "2026_search_all_testing_start0_max10.xml").read_bytes(),
        ("testing", "10"): (folder / "2026_search_all_testing_start10_max10.xml").read_bytes(),
        ("au:del_maestro", "0"): (folder / "legacy2016_search_au_del_maestro.xml").read_bytes(),
    }
    empty = (folder / "2026_empty_idlist_0000.0000.xml").read_bytes()
    error = (folder / "2026_error_http400_idlist_abc.xml").read_bytes()

    def query(q: Query) -> Reply:
        if q.get("id_list") == "abc":
            return Reply(400, error, ATOM)
        if q.get("max_results") != "10":
            return Reply(200, empty, ATOM)  # the recordings are all pages of 10
        return Reply(200, pages.get((q.get("search_query"), q.get("start")), empty), ATOM)

    return {PATH: query}
