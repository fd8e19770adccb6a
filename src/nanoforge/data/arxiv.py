"""The arXiv API crawler: paged Atom feeds turned into records.

Handles both feed generations (the legacy one with hard-wrapped, indented text and
per-element namespace declarations, and the current one), treats an error feed (an
entry whose id is under `/api/errors`, served with HTTP 400 or 200) as an error, not a
paper, and stops paging at an empty page. Politeness (one request every 3 s, retries,
the cache) lives in the session; see `http.py`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree
from tqdm import tqdm

from nanoforge.config import ArxivConfig, HttpConfig
from nanoforge.data.http import PoliteSession, Response, RetryableResponse
from nanoforge.data.records import Record
from nanoforge.errors import CrawlError

log = logging.getLogger(__name__)

NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "opensearch": "http://a9.com/-/spec/opensearch/1.1/",
    "arxiv": "http://arxiv.org/schemas/atom",
}
ABS_PREFIX = "arxiv.org/abs/"


@dataclass(frozen=True)
class Feed:
    """One page of results."""

    total_results: int
    start_index: int
    entries: list[Record]


class ArxivApiError(CrawlError):
    """The API answered with an error feed (a malformed id, a bad parameter)."""


def squash(text: str | None) -> str:
    """Collapse every run of whitespace (the legacy feed's hard wraps) to one space."""
    return " ".join((text or "").split())


def parse_feed(body: bytes) -> Feed:
    """Parse an Atom page; raise `ArxivApiError` for an error feed, `ValueError` if broken."""
    try:
        root = etree.fromstring(body, parser=etree.XMLParser(resolve_entities=False))
    except etree.XMLSyntaxError as err:
        raise ValueError(f"not a complete Atom feed ({err})") from None
    if root.tag != f"{{{NS['atom']}}}feed":
        raise ValueError(f"not an Atom feed (root element {root.tag!r})")
    entries = root.findall("atom:entry", NS)
    for entry in entries:
        entry_id = entry.findtext("atom:id", "", NS)
        if "/api/errors" in entry_id:
            message = squash(entry.findtext("atom:summary", "", NS))
            raise ArxivApiError(f"arXiv API error: {message}")
    return Feed(
        total_results=int(root.findtext("opensearch:totalResults", "0", NS)),
        start_index=int(root.findtext("opensearch:startIndex", "0", NS)),
        entries=[_record(entry) for entry in entries],
    )


def _record(entry: etree._Element) -> Record:
    url = entry.findtext("atom:id", "", NS).strip()
    arxiv_id = url.split(ABS_PREFIX, 1)[-1]  # keeps the version: 2202.12139v1, cond-mat/0412498v1
    authors = [squash(a.findtext("atom:name", "", NS)) for a in entry.findall("atom:author", NS)]
    primary = entry.find("arxiv:primary_category", NS)
    categories = [c.get("term", "") for c in entry.findall("atom:category", NS)]
    if primary is not None and primary.get("term") in categories:
        # The primary category first, as arXiv lists it.
        categories.remove(primary.get("term"))
        categories.insert(0, primary.get("term"))
    return Record(
        id=f"arxiv:{arxiv_id}",
        source="arxiv",
        kind="prose",
        title=squash(entry.findtext("atom:title", "", NS)),
        text=squash(entry.findtext("atom:summary", "", NS)),
        url=url.replace("http://", "https://", 1),
        authors="; ".join(authors),
        tags=" ".join(categories),
        date=entry.findtext("atom:published", "", NS).strip(),
    )


def search_query(cfg: ArxivConfig) -> str:
    """The `search_query` parameter: the query ANDed with the ORed categories."""
    parts = [f"({cfg.query})" if cfg.categories and cfg.query else cfg.query]
    if cfg.categories:
        cats = " OR ".join(f"cat:{c}" for c in cfg.categories)
        parts.append(f"({cats})" if len(cfg.categories) > 1 else cats)
    return " AND ".join(p for p in parts if p)


def open_session(http: HttpConfig, cfg: ArxivConfig) -> PoliteSession:
    """A session paced for arXiv (one request every `min_interval_s`, one connection)."""
    return PoliteSession(http, cfg.min_interval_s)


def crawl_arxiv(session: PoliteSession, cfg: ArxivConfig) -> Iterator[Record]:
    """Yield up to `cfg.max_results` papers, each once, paging until the feed runs dry."""
    seen: set[str] = set()
    expected_total: int | None = None
    with tqdm(total=cfg.max_results, desc="arXiv", unit="paper") as bar:
        start = 0
        while start < cfg.max_results:
            size = min(cfg.page_size, cfg.max_results - start)
            feed = _fetch_page(session, cfg, start, size)
            if not feed.entries:
                if expected_total is not None and start < expected_total:
                    log.warning(
                        "empty page at start=%d of %d results: stopping", start, expected_total
                    )
                break
            expected_total = feed.total_results
            for record in feed.entries:
                if record.id not in seen:  # pages can overlap when results shift
                    seen.add(record.id)
                    bar.update()
                    yield record
            start += size
            if start >= feed.total_results:
                break


def _fetch_page(session: PoliteSession, cfg: ArxivConfig, start: int, size: int) -> Feed:
    params = {
        "search_query": search_query(cfg),
        "id_list": ",".join(cfg.id_list),
        "sortBy": cfg.sort_by,
        "sortOrder": cfg.sort_order,
        "start": start,
        "max_results": size,
    }

    def validate(response: Response) -> None:
        if response.status == 400:
            return  # judged by the caller: an error feed or a refusal, never worth a retry
        try:
            feed = parse_feed(response.body)
        except ValueError as err:  # a body cut short, or an HTML page from a proxy
            raise RetryableResponse(str(err)) from None
        except ArxivApiError:
            return  # a real answer: reported by the caller, not retried
        if not feed.entries and start == 0 and not cfg.id_list:
            # Under load the API sometimes answers a valid, empty first page for a query
            # that has results: try again before concluding there is nothing.
            raise RetryableResponse(
                f"no results for search_query={params['search_query']!r}; "
                f"check crawl.arxiv.query and crawl.arxiv.categories"
            )

    # The error feed comes with HTTP 400 (current API) or 200 (legacy): parse both.
    response = session.get(
        cfg.base_url, params, ok_statuses=frozenset({200, 400}), validate=validate
    )
    if response.status == 200:
        return parse_feed(response.body)
    if response.status == 400:
        with contextlib.suppress(ValueError):
            parse_feed(response.body)  # an error feed raises ArxivApiError, the API's own words
    raise CrawlError(f"{response.url}: HTTP {response.status} from the arXiv API")
