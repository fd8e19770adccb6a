"""The polite HTTP session: what it retries, what it caches, what it sends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from loopback import Faults, LoopbackServer, Query, Reply

from nanoforge.config import HttpConfig
from nanoforge.data.http import PoliteSession, Response, RetryableResponse
from nanoforge.errors import CrawlError


def config(tmp_path: Path, **overrides: object) -> HttpConfig:
    base = dict(timeout_s=2.0, backoff_base_s=0.01, backoff_max_s=0.02, max_retries=3)
    return HttpConfig(cache_dir=str(tmp_path / "cache"), **{**base, **overrides})


def hello(query: Query) -> Reply:
    return Reply(200, f"hello {query.get('name', '')}".encode())


def test_sends_the_configured_user_agent(tmp_path: Path) -> None:
    with LoopbackServer({"/hello": hello}) as server:
        with PoliteSession(config(tmp_path, user_agent="nanoforge-test/1"), 0.0) as session:
            assert session.get(server.url + "/hello", {"name": "ada"}).text == "hello ada"
    assert server.headers[0]["User-Agent"] == "nanoforge-test/1"


def test_a_cached_response_is_served_without_a_request(tmp_path: Path) -> None:
    with LoopbackServer({"/hello": hello}) as server:
        with PoliteSession(config(tmp_path), 0.0) as session:
            first = session.get(server.url + "/hello", {"name": "ada"})
            again = session.get(server.url + "/hello", {"name": "ada"})
            other = session.get(server.url + "/hello", {"name": "bob"})
    assert (first.from_cache, again.from_cache, other.from_cache) == (False, True, False)
    assert again.body == first.body and other.text == "hello bob"
    assert len(server.log) == 2 and session.stats.cache_hits == 1


def test_gives_up_after_max_retries_with_the_last_problem(tmp_path: Path) -> None:
    with LoopbackServer({"/down": lambda q: Reply(503, b"down")}) as server:
        with PoliteSession(config(tmp_path, max_retries=2), 0.0) as session:
            with pytest.raises(CrawlError, match=r"/down: HTTP 503; gave up after 2 retries"):
                session.get(server.url + "/down")
    assert len(server.log) == 3 and session.stats.failures == 1
    assert not (tmp_path / "cache").exists()  # nothing cached


def test_a_status_not_worth_retrying_is_returned_uncached(tmp_path: Path) -> None:
    with LoopbackServer({}) as server, PoliteSession(config(tmp_path), 0.0) as session:
        missing = session.get(server.url + "/nowhere")
        session.get(server.url + "/nowhere")
    assert missing.status == 404 and len(server.log) == 2  # not retried, not cached


def test_a_rejected_body_is_retried_and_never_cached(tmp_path: Path) -> None:
    def must_be_json(response: Response) -> None:
        try:
            response.json()
        except ValueError:
            raise RetryableResponse("expected JSON, got something else") from None

    answers = iter([b"<html>challenge</html>", b'{"ok": true}'])
    with LoopbackServer({"/api": lambda q: Reply(200, next(answers))}) as server:
        with PoliteSession(config(tmp_path), 0.0) as session:
            response = session.get(server.url + "/api", validate=must_be_json)
    assert response.json() == {"ok": True} and session.stats.retries == 1
    cached = [json.loads(p.read_text()) for p in (tmp_path / "cache").glob("*.json")]
    assert len(cached) == 1 and cached[0]["status"] == 200
    assert [p.read_bytes() for p in (tmp_path / "cache").glob("*.body")] == [b'{"ok": true}']


def test_retry_after_as_an_http_date_is_honoured(tmp_path: Path) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    answers = iter([Reply(503, b"busy", headers={"Retry-After": later}), Reply(200, b"ok")])
    slept: list[float] = []
    with LoopbackServer({"/busy": lambda q: next(answers)}) as server:
        with PoliteSession(config(tmp_path), 0.0, sleep=slept.append) as session:
            assert session.get(server.url + "/busy").text == "ok"
    assert len(slept) == 1 and 25 <= slept[0] <= 30


def test_a_retry_after_beyond_max_wait_stops_the_crawl(tmp_path: Path) -> None:
    busy = Reply(429, b"later", headers={"Retry-After": "7200"})
    with LoopbackServer({"/busy": lambda q: busy}) as server:
        with PoliteSession(config(tmp_path, max_wait_s=60), 0.0) as session:
            with pytest.raises(
                CrawlError,
                match=r"asks to wait 7200 s \(Retry-After\), more than crawl.http.max_wait_s=60",
            ):
                session.get(server.url + "/busy")


def test_backoff_doubles_with_jitter_up_to_the_cap(tmp_path: Path) -> None:
    slept: list[float] = []
    cfg = config(tmp_path, backoff_base_s=1.0, backoff_max_s=4.0, max_retries=4)
    with LoopbackServer({"/down": lambda q: Reply(500, b"")}) as server:
        with PoliteSession(cfg, 0.0, sleep=slept.append) as session:
            with pytest.raises(CrawlError):
                session.get(server.url + "/down")
    caps = [1.0, 2.0, 4.0, 4.0]
    assert len(slept) == 4
    assert all(cap / 2 <= s <= cap for s, cap in zip(slept, caps, strict=True))


def test_timeouts_and_truncated_bodies_are_retried(tmp_path: Path) -> None:
    faults = Faults(rate=1.0, kinds=("slow", "truncated"), max_in_a_row=2, slow_s=2.0, seed=1)
    with LoopbackServer({"/hello": hello}, faults) as server:
        with PoliteSession(config(tmp_path, timeout_s=0.6), 0.0) as session:
            assert session.get(server.url + "/hello", {"name": "x"}).text == "hello x"
    assert session.stats.retries == 2 == sum(faults.injected.values())
