"""The arXiv crawler on the real recorded API responses, served from a loopback server."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from arxiv_server import PATH, arxiv_routes
from loopback import Faults, LoopbackServer

from nanoforge.config import ArxivConfig, HttpConfig
from nanoforge.data.arxiv import ArxivApiError, crawl_arxiv, parse_feed, search_query
from nanoforge.data.http import PoliteSession
from nanoforge.errors import ConfigError, CrawlError


def feed(fixtures: Path, name: str) -> bytes:
    return (fixtures / "arxiv" / name).read_bytes()


def test_current_feed_parses_ids_titles_authors_and_unicode(fixtures: Path) -> None:
    page = parse_feed(feed(fixtures, "2026_search_all_testing_start0_max10.xml"))
    assert page.total_results == 214881
    assert page.start_index == 0
    assert len(page.entries) == 10
    first = page.entries[0]
    assert first.id == "arxiv:2202.12139v1"
    assert first.title == (
        "Testing Deep Learning Models: A First Comparative Study of Multiple Testing Techniques"
    )
    assert first.text.startswith("Deep Learning (DL) has revolutionized")
    assert first.url == "https://arxiv.org/abs/2202.12139v1"
    assert first.date == "2022-02-24T15:05:19Z"
    assert page.entries[-1].id == "arxiv:1812.11470v1"
    authors = " ".join(e.authors for e in page.entries)
    assert "Aurora Ramírez" in authors and "José Raúl Romero" in authors
    assert all("\n" not in e.text and "  " not in e.text for e in page.entries)


def test_legacy_feed_unwraps_indented_summaries_and_titles(fixtures: Path) -> None:
    page = parse_feed(feed(fixtures, "legacy2016_search_au_del_maestro.xml"))
    assert page.total_results == 31
    assert [e.id for e in page.entries][:2] == ["arxiv:1201.4869v1", "arxiv:cond-mat/0412498v1"]
    first = page.entries[0]
    assert first.text.startswith("As helium-4 is cooled below 2.17 K it undergoes a phase")
    assert first.tags == "cond-mat.mes-hall cond-mat.other"  # primary category first
    wrapped = next(e for e in page.entries if e.id == "arxiv:cond-mat/0603029v1")
    assert wrapped.title.endswith("square lattice in the presence of quenched disorder")
    assert wrapped.authors == "Adrian Del Maestro; Bernd Rosenow; Subir Sachdev"
    melting = next(e for e in page.entries if e.id == "arxiv:cond-mat/0412498v1")
    assert '"p x p" density wave ordering on the square lattice (p >= 3, integer)' in melting.text
    for entry in page.entries:
        assert entry.text == " ".join(entry.text.split())
        assert entry.title == " ".join(entry.title.split())


def test_error_feed_is_an_error_not_a_paper(fixtures: Path) -> None:
    with pytest.raises(ArxivApiError, match="incorrect id format for abc"):
        parse_feed(feed(fixtures, "2026_error_http400_idlist_abc.xml"))


def test_empty_feed_has_no_entries(fixtures: Path) -> None:
    page = parse_feed(feed(fixtures, "2026_empty_idlist_0000.0000.xml"))
    assert page.entries == [] and page.total_results == 0


def test_truncated_feed_is_rejected_as_broken(fixtures: Path) -> None:
    body = feed(fixtures, "2026_search_all_testing_start0_max10.xml")
    with pytest.raises(ValueError, match="not a complete Atom feed"):
        parse_feed(body[: len(body) // 2])


def test_search_query_ands_the_query_with_ored_categories() -> None:
    cfg = ArxivConfig(query="all:transformer", categories=("cs.CL", "cs.LG"))
    assert search_query(cfg) == "(all:transformer) AND (cat:cs.CL OR cat:cs.LG)"
    assert search_query(replace(cfg, categories=("cs.CL",))) == "(all:transformer) AND cat:cs.CL"
    assert search_query(replace(cfg, categories=())) == "all:transformer"


def test_arxiv_org_must_be_paced_at_three_seconds_or_slower() -> None:
    with pytest.raises(ConfigError, match=r"crawl.arxiv.min_interval_s must be >= 3.0"):
        ArxivConfig(min_interval_s=1.0)
    ArxivConfig(base_url="http://127.0.0.1:8000/api/query", min_interval_s=0.0)  # tests may


def http_config(tmp_path: Path, **overrides: float) -> HttpConfig:
    base = dict(timeout_s=2.0, backoff_base_s=0.01, backoff_max_s=0.05, max_retries=5)
    return HttpConfig(cache_dir=str(tmp_path / "cache"), **{**base, **overrides})


def paged_query(server: LoopbackServer, max_results: int = 40) -> ArxivConfig:
    return ArxivConfig(
        base_url=server.url + PATH,
        query="testing",
        categories=(),
        max_results=max_results,
        page_size=10,
        sort_by="relevance",
        min_interval_s=0.0,
    )


def test_crawl_pages_until_an_empty_page(fixtures: Path, tmp_path: Path) -> None:
    with LoopbackServer(arxiv_routes(fixtures)) as server:
        cfg = paged_query(server)
        with PoliteSession(http_config(tmp_path), 0.0) as session:
            records = list(crawl_arxiv(session, cfg))
    assert len(records) == 20
    assert records[0].id == "arxiv:2202.12139v1"
    assert records[10].id == "arxiv:2403.16981v2"
    assert records[-1].id == "arxiv:2202.06271v1"
    assert len({r.id for r in records}) == 20
    starts = [entry.split("start=")[1].split("&")[0] for entry in server.log]
    assert starts == ["0", "10", "20"]  # the third page is empty: paging ends there
    assert session.stats.requests == 3 and session.stats.retries == 0


def test_crawl_stops_at_max_results(fixtures: Path, tmp_path: Path) -> None:
    with LoopbackServer(arxiv_routes(fixtures)) as server:
        cfg = paged_query(server, max_results=10)
        with PoliteSession(http_config(tmp_path), 0.0) as session:
            records = list(crawl_arxiv(session, cfg))
    assert len(records) == 10 and len(server.log) == 1


def test_crawl_of_a_malformed_id_fails_with_the_apis_message(
    fixtures: Path, tmp_path: Path
) -> None:
    with LoopbackServer(arxiv_routes(fixtures)) as server:
        cfg = replace(paged_query(server), query="", id_list=("abc",), page_size=10)
        with (
            PoliteSession(http_config(tmp_path), 0.0) as session,
            pytest.raises(CrawlError, match="incorrect id format for abc"),
        ):
            list(crawl_arxiv(session, cfg))
    assert len(server.log) == 1  # an error feed is an answer, not worth a retry


def test_crawl_survives_faults_and_yields_every_record_once(fixtures: Path, tmp_path: Path) -> None:
    faults = Faults(rate=0.3, slow_s=2.0, seed=3)
    with LoopbackServer(arxiv_routes(fixtures), faults) as server:
        cfg = paged_query(server)
        with PoliteSession(http_config(tmp_path, timeout_s=0.6), 0.0) as session:
            records = list(crawl_arxiv(session, cfg))
    assert [r.id for r in records][:1] == ["arxiv:2202.12139v1"]
    assert len(records) == 20 == len({r.id for r in records})
    assert sum(faults.injected.values()) > 0
    assert session.stats.retries == sum(faults.injected.values())


def test_retry_after_is_honoured(fixtures: Path, tmp_path: Path) -> None:
    slept: list[float] = []
    faults = Faults(rate=1.0, kinds=("429",), max_in_a_row=1)
    with LoopbackServer(arxiv_routes(fixtures), faults) as server:
        cfg = paged_query(server, max_results=10)
        with PoliteSession(http_config(tmp_path), 0.0, sleep=slept.append) as session:
            records = list(crawl_arxiv(session, cfg))
    assert len(records) == 10
    assert slept == [1.0]  # the server's Retry-After: 1, not our own 0.01 s backoff


def test_requests_are_paced_by_min_interval(fixtures: Path, tmp_path: Path) -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    with LoopbackServer(arxiv_routes(fixtures)) as server:
        cfg = paged_query(server)
        with PoliteSession(http_config(tmp_path), 3.0, sleep=sleep, clock=lambda: now[0]) as s:
            list(crawl_arxiv(s, cfg))
    assert slept == [3.0, 3.0]  # three requests, three seconds apart


def test_killed_crawl_resumes_without_refetching(fixtures: Path, tmp_path: Path) -> None:
    with LoopbackServer(arxiv_routes(fixtures)) as server:
        cfg = paged_query(server)
        with PoliteSession(http_config(tmp_path), 0.0) as session:
            crawl = crawl_arxiv(session, cfg)
            first_page = [next(crawl) for _ in range(10)]
            crawl.close()  # stopped half-way, as a kill would
        assert len(server.log) == 1
        with PoliteSession(http_config(tmp_path), 0.0) as session:
            records = list(crawl_arxiv(session, cfg))
    assert records[:10] == first_page and len(records) == 20
    assert len(server.log) == 3 == len(set(server.log))  # every page fetched exactly once
    assert session.stats.cache_hits == 1


def test_html_where_a_feed_was_expected_is_retried(fixtures: Path, tmp_path: Path) -> None:
    faults = Faults(rate=1.0, kinds=("challenge",), max_in_a_row=2)
    with LoopbackServer(arxiv_routes(fixtures), faults) as server:
        cfg = paged_query(server, max_results=10)
        with PoliteSession(http_config(tmp_path), 0.0) as session:
            records = list(crawl_arxiv(session, cfg))
    assert len(records) == 10 and session.stats.retries == 2


def test_an_id_that_does_not_exist_gives_no_records(fixtures: Path, tmp_path: Path) -> None:
    with LoopbackServer(arxiv_routes(fixtures)) as server:
        cfg = replace(paged_query(server), query="", id_list=("0000.0000",))
        with PoliteSession(http_config(tmp_path), 0.0) as session:
            assert list(crawl_arxiv(session, cfg)) == []
    assert len(server.log) == 1


def test_a_search_with_no_results_is_retried_then_reported(fixtures: Path, tmp_path: Path) -> None:
    with LoopbackServer(arxiv_routes(fixtures)) as server:
        cfg = replace(paged_query(server), query="all:zzznotaword")
        with (
            PoliteSession(http_config(tmp_path, max_retries=2), 0.0) as session,
            pytest.raises(
                CrawlError,
                match=r"no results for search_query='all:zzznotaword'; check crawl.arxiv",
            ),
        ):
            list(crawl_arxiv(session, cfg))
    assert len(server.log) == 3  # the API's empty pages under load are worth two more tries
