"""One polite HTTP session for every crawler.

- Paced: at most one request every `min_interval_s` (per session, one connection).
- Patient: retries with exponential backoff and jitter on 429, 5xx, timeouts, broken
  connections, truncated bodies, and bodies the caller's `validate` rejects (an HTML
  challenge page where JSON was expected); `Retry-After` is honoured.
- Remembering: every validated response is stored in an on-disk cache keyed by method
  and URL (never by credentials), so a re-run or a crawl resumed after a kill fetches
  nothing twice.
- Honest: a User-Agent that says who is calling.

Secrets never reach the logs or the cache: only URLs are logged, and credentials go in
headers, which are neither logged nor part of the cache key, and are sent only to the
URLs they are scoped to (an API token never travels to the site's web pages).
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import requests

from nanoforge import atomic
from nanoforge.config import HttpConfig
from nanoforge.errors import CrawlError

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class RetryableResponse(Exception):
    """Raised by a `validate` callback: the body is not what was asked for; try again."""


@dataclass(frozen=True)
class Response:
    """What a crawler needs of an HTTP response."""

    url: str
    status: int
    body: bytes
    content_type: str
    from_cache: bool = False

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> object:
        return json.loads(self.body)


@dataclass
class CrawlStats:
    """Counters for a crawl's metrics report."""

    requests: int = 0
    cache_hits: int = 0
    retries: int = 0
    failures: int = 0
    bytes: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


Validator = Callable[[Response], None]


class PoliteSession:
    """A `requests.Session` with pacing, retries, a response cache and honest headers."""

    def __init__(
        self,
        cfg: HttpConfig,
        min_interval_s: float,
        *,
        headers_for: Mapping[str, Mapping[str, str]] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.cfg = cfg
        self.min_interval_s = min_interval_s
        self.cache_dir = Path(cfg.cache_dir)
        self.stats = CrawlStats()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random(0)
        self._last_request: float | None = None
        self._session = requests.Session()
        self._session.headers["User-Agent"] = cfg.user_agent
        self._headers_for = dict(headers_for or {})  # URL prefix -> headers sent to it

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> PoliteSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(
        self,
        url: str,
        params: Mapping[str, str | int] | None = None,
        *,
        ok_statuses: frozenset[int] = frozenset({200}),
        validate: Validator | None = None,
        cache: bool = True,
    ) -> Response:
        """GET `url` (with `params`) until a response in `ok_statuses` passes `validate`.

        A status outside `ok_statuses` that is not worth retrying (404, 403, ...) is
        returned as is, uncached, for the caller to judge. Gives up with `CrawlError`
        after `max_retries` retries.
        """
        full_url = f"{url}?{urlencode(params)}" if params else url
        key = hashlib.sha256(f"GET {full_url}".encode()).hexdigest()
        if cache and (hit := self._cache_read(key, full_url)) is not None:
            self.stats.cache_hits += 1
            return hit
        problem = ""
        for attempt in range(self.cfg.max_retries + 1):
            if attempt:
                self.stats.retries += 1
            response, wait, problem = self._attempt(full_url, ok_statuses, validate)
            if response is not None:
                if cache and response.status in ok_statuses:
                    self._cache_write(key, response)
                return response
            if attempt < self.cfg.max_retries:
                wait = wait if wait is not None else self._backoff(attempt)
                log.warning("%s: %s; retry %d in %.1f s", full_url, problem, attempt + 1, wait)
                self._sleep(wait)
        self.stats.failures += 1
        raise CrawlError(f"{full_url}: {problem}; gave up after {self.cfg.max_retries} retries")

    def _attempt(
        self, url: str, ok_statuses: frozenset[int], validate: Validator | None
    ) -> tuple[Response | None, float | None, str]:
        """One request: (response, None, "") on success, else (None, wait or None, problem)."""
        self._pace()
        self.stats.requests += 1
        try:
            raw = self._session.get(url, headers=self._headers(url), timeout=self.cfg.timeout_s)
            body = raw.content  # reading the body here surfaces truncation as an error
        except requests.Timeout:
            return None, None, f"no answer within {self.cfg.timeout_s} s"
        except requests.RequestException as err:
            return None, None, f"connection failed ({type(err).__name__})"
        response = Response(url, raw.status_code, body, raw.headers.get("Content-Type", ""))
        self.stats.bytes += len(body)
        if raw.status_code in RETRY_STATUSES:
            return None, self._retry_after(raw, url), f"HTTP {raw.status_code}"
        if raw.status_code in ok_statuses and validate is not None:
            try:
                validate(response)
            except RetryableResponse as err:
                return None, None, str(err)
        return response, None, ""

    def _headers(self, url: str) -> dict[str, str]:
        headers: dict[str, str] = {}
        for prefix, scoped in self._headers_for.items():
            if url.startswith(prefix):
                headers.update(scoped)
        return headers

    def _pace(self) -> None:
        now = self._clock()
        if self._last_request is not None:
            wait = self._last_request + self.min_interval_s - now
            if wait > 0:
                self._sleep(wait)
                now += wait
        self._last_request = now

    def _backoff(self, attempt: int) -> float:
        base = min(self.cfg.backoff_base_s * 2**attempt, self.cfg.backoff_max_s)
        return base * (0.5 + self._rng.random() / 2)  # jitter: spread out retrying clients

    def _retry_after(self, raw: requests.Response, url: str) -> float | None:
        value = raw.headers.get("Retry-After")
        if value is None:
            return None
        if value.strip().isdigit():
            seconds = float(value)
        else:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                return None  # unreadable: fall back to our own backoff
            seconds = max(0.0, when.timestamp() - time.time())
        if seconds > self.cfg.max_wait_s:
            raise CrawlError(
                f"{url}: the server asks to wait {seconds:.0f} s (Retry-After), more than "
                f"crawl.http.max_wait_s={self.cfg.max_wait_s:.0f}; try again later"
            )
        return seconds

    def _cache_read(self, key: str, url: str) -> Response | None:
        meta_path = self.cache_dir / f"{key}.json"
        body_path = self.cache_dir / f"{key}.body"
        if not (meta_path.exists() and body_path.exists()):
            return None
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        return Response(url, meta["status"], body_path.read_bytes(), meta["type"], True)

    def _cache_write(self, key: str, response: Response) -> None:
        # Body first, then the metadata that marks the entry complete.
        atomic.write_bytes(self.cache_dir / f"{key}.body", response.body)
        meta = {"url": response.url, "status": response.status, "type": response.content_type}
        atomic.write_json(self.cache_dir / f"{key}.json", meta)
