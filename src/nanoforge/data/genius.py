"""The Genius crawler: songs found through the API, lyrics scraped from the song pages.

Songs are discovered with the authenticated API (`/search` and `/artists/:id/songs`),
whose song objects carry no lyrics, so each song's genius.com page is fetched and its
lyrics read with BeautifulSoup. Pages have changed structure over the years; the
selectors below cover every generation in `shared/fixtures/genius` (see SOURCES.md 2):
the `data-lyrics-container` divs of 2021 onwards, and the legacy `div.lyrics`.

The access token comes from `GENIUS_ACCESS_TOKEN` and travels only in the
`Authorization` header of API requests, which the session neither logs nor caches. Politeness
(pacing, retries, the cache that makes a killed crawl resumable) lives in `http.py`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bs4 import BeautifulSoup, NavigableString, Tag
from tqdm import tqdm

from nanoforge.config import HttpConfig, LyricsConfig
from nanoforge.data.http import PoliteSession, Response, RetryableResponse
from nanoforge.data.records import Record
from nanoforge.errors import CrawlError

log = logging.getLogger(__name__)

TOKEN_ENV = "GENIUS_ACCESS_TOKEN"
TOKEN_HELP = (
    f"create an API client at https://genius.com/api-clients, generate its client access "
    f"token, then `export {TOKEN_ENV}=...` before running the crawl"
)
# This many song pages refused in a row means the site is refusing us, not that some
# pages are missing: stop rather than knock on every remaining door.
MAX_REFUSED_IN_A_ROW = 10
# A constant page size keeps the listing URLs (the cache keys) the same whatever
# songs_per_artist is, so changing that param reuses the pages already fetched.
PER_PAGE = 50

CONTAINER_SELECTORS = (
    '#lyrics-root [data-lyrics-container="true"]',
    '[data-lyrics-container="true"]',
    "div.lyrics",  # the AngularJS pages, before 2021
)
PLACEHOLDERS = ("have yet to be transcribed", "this song is an instrumental")
# Bot walls (Cloudflare and the like) answer with a page of their own; these are the
# markers of the ones reported against Genius ("Just a moment...", "checking your browser").
CHALLENGE_MARKERS = (
    "just a moment...",
    "checking your browser",
    "attention required",
    "challenge-platform",
    "cf-chl",
)
LYRICS_MARKUP = ('id="lyrics-root"', "data-lyrics-container", 'class="lyrics"')
# Only the whitespace HTML collapses: U+00A0 and friends are text, left to the cleaner.
HTML_SPACE = re.compile(r"[ \t\n\r\f]+")


# ------------------------------------------------------------------ token, session


def read_token(environ: Mapping[str, str]) -> str:
    """The API token from `GENIUS_ACCESS_TOKEN`, or `CrawlError` saying how to get one."""
    token = environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise CrawlError(f"the Genius API needs an access token in ${TOKEN_ENV}: {TOKEN_HELP}")
    return token


def auth_headers(token: str) -> dict[str, str]:
    """The header that carries the token (never the URL: URLs are logged and cache keys)."""
    return {"Authorization": f"Bearer {token}"}


def open_session(http: HttpConfig, cfg: LyricsConfig, token: str) -> PoliteSession:
    """A session paced for Genius that sends the token to the API, and only there."""
    api = cfg.api_base_url.rstrip("/") + "/"
    return PoliteSession(http, cfg.min_interval_s, headers_for={api: auth_headers(token)})


# ------------------------------------------------------------------------- lyrics


def extract_lyrics(html: str) -> str | None:
    """The lyrics of a song page as plain text, or None if the page has none.

    Containers are joined in document order, one newline apart; `<br>` becomes a line
    break and section markers such as `[Chorus]` stay (the cleaner decides about them).
    A placeholder ("have yet to be transcribed", "This song is an instrumental") or a
    page without any lyrics container gives None.
    """
    soup = BeautifulSoup(html, "lxml")
    containers: list[Tag] = []
    for selector in CONTAINER_SELECTORS:
        containers = soup.select(selector)
        if containers:
            break
    # A container nested in another would be read twice.
    chosen = {id(c) for c in containers}
    containers = [c for c in containers if not any(id(p) in chosen for p in c.parents)]
    text = "\n".join(t for t in map(_container_text, containers) if t).strip()
    if not text or _is_placeholder(text):
        return None
    return text


def _container_text(container: Tag) -> str:
    """A container's text as a browser shows it: markup gone, `<br>` as a line break."""
    # Inside a container but not lyrics: the 2026 header ("1 Contributor", the
    # "<title> Lyrics" h2), ad slots, and custom elements such as <inread-ad>
    # (a hyphen in a tag name marks a custom element, never lyrics markup).
    for element in container.find_all(
        lambda t: (
            t.has_attr("data-exclude-from-selection")
            or t.name in ("script", "style", "noscript")
            or "-" in t.name
        )
    ):
        if not element.decomposed:  # an ancestor already went
            element.decompose()
    # Whitespace in the HTML source (the legacy pages put a newline after every <br>)
    # is layout, not lyrics: collapse it as a browser does, before <br> adds real breaks.
    for string in container.find_all(string=True):
        if type(string) is NavigableString:  # not comments (<!--sse-->) or CDATA
            string.replace_with(HTML_SPACE.sub(" ", string))
    for br in container.find_all("br"):
        br.replace_with("\n")
    # Spaces from neighbouring strings collapse too, and a browser drops them at line ends.
    text = re.sub(r" +", " ", container.get_text())
    return re.sub(r" ?\n ?", "\n", text).strip()


def _is_placeholder(text: str) -> bool:
    # Placeholders are one short sentence; a long text that quotes one is still lyrics.
    lowered = text.lower()
    return len(text) < 300 and any(p in lowered for p in PLACEHOLDERS)


def _looks_like_challenge(body: bytes) -> bool:
    """A bot wall's page: its markers, and no lyrics markup (real pages can embed its scripts)."""
    text = body.decode("utf-8", errors="replace").lower()
    if any(mark in text for mark in LYRICS_MARKUP):
        return False
    return any(marker in text for marker in CHALLENGE_MARKERS)


# -------------------------------------------------------------------------- API


def _validate_json(response: Response) -> None:
    """Make an HTML page (a bot challenge) or a broken body where JSON was expected retryable."""
    body = response.body.lstrip()
    if body.startswith(b"<"):
        title = re.search(rb"<title[^>]*>(.*?)</title>", body, re.I | re.S)
        name = title.group(1).decode("utf-8", "replace").strip() if title else "no title"
        raise RetryableResponse(
            f"an HTML page ({name!r}) where JSON was expected: probably a bot challenge "
            f"(Cloudflare) refusing this client"
        )
    try:
        data = json.loads(body)
    except ValueError:
        raise RetryableResponse("not valid JSON (a body cut short?)") from None
    if not isinstance(data, dict) or not isinstance(data.get("response"), dict):
        raise RetryableResponse("JSON without a `response` object")


def _api_get(session: PoliteSession, url: str, params: Mapping[str, str | int]) -> dict[str, Any]:
    """GET an API endpoint; the `response` object, or `CrawlError` in the API's own words."""
    response = session.get(url, params, validate=_validate_json)
    if response.status == 200:
        return response.json()["response"]  # type: ignore[index]
    if response.status == 401:
        hint = f"; check {TOKEN_ENV} ({TOKEN_HELP})"
    elif _looks_like_challenge(response.body):
        hint = ": a bot challenge page (Cloudflare) refuses this client; try later or elsewhere"
    else:
        hint = ""
    try:
        message = response.json()["meta"]["message"]  # type: ignore[index]
        hint = f" ({message}){hint}"
    except (ValueError, KeyError, TypeError):
        pass
    raise CrawlError(f"{response.url}: HTTP {response.status} from the Genius API{hint}")


def search_songs(session: PoliteSession, cfg: LyricsConfig, query: str) -> list[dict[str, Any]]:
    """The song objects a search finds, in the API's order (duplicates included).

    Reads both `response.hits` (api.genius.com/search) and `response.sections[].hits`
    (the public `search/multi`). A hit is a song when its `type` is "song"; its `index`
    only says how it matched (a "lyric" hit is a song matched by its lyrics).
    """
    found = _api_get(session, f"{cfg.api_base_url}/search", {"q": query})
    hits = list(found.get("hits") or [])
    for section in found.get("sections") or []:
        hits.extend(section.get("hits") or [])
    return [
        hit["result"]
        for hit in hits
        if (hit.get("type") or hit.get("index")) == "song"
        and isinstance(hit.get("result"), dict)
        and isinstance(hit["result"].get("id"), int)
    ]


def find_artist_id(session: PoliteSession, cfg: LyricsConfig, name: str) -> int | None:
    """The id of the artist called `name` (any case), from the first of their songs found."""
    for song in search_songs(session, cfg, name):
        artist = song.get("primary_artist") or {}
        if str(artist.get("name", "")).casefold() == name.casefold():
            return int(artist["id"])
    return None


def artist_songs(
    session: PoliteSession, cfg: LyricsConfig, artist_id: int
) -> Iterator[dict[str, Any]]:
    """An artist's songs, most popular first, fetching pages only as they are consumed."""
    page: int | None = 1
    while page is not None:
        params = {"per_page": PER_PAGE, "page": page, "sort": "popularity"}
        found = _api_get(session, f"{cfg.api_base_url}/artists/{artist_id}/songs", params)
        yield from found.get("songs") or []
        next_page = found.get("next_page")
        # A next_page that does not move forward would loop for ever.
        page = next_page if isinstance(next_page, int) and next_page > page else None


def discover_songs(session: PoliteSession, cfg: LyricsConfig) -> list[dict[str, Any]]:
    """Songs to crawl: the artists' (each capped), then the queries', each once, capped in all.

    Instrumentals are left out. Stops asking the API as soon as `max_songs` are found.
    """
    songs: dict[int, dict[str, Any]] = {}

    def take(candidates: Iterator[dict[str, Any]] | list[dict[str, Any]], limit: int) -> None:
        taken = 0
        for song in candidates:
            if song.get("instrumental") is True or song.get("id") in songs:
                continue
            songs[song["id"]] = song
            taken += 1
            # Stop before asking for one more song: it could cost a listing page.
            if taken >= limit or len(songs) >= cfg.max_songs:
                return

    for name in cfg.artists:
        if len(songs) >= cfg.max_songs:
            break
        artist_id = find_artist_id(session, cfg, name)
        if artist_id is None:
            log.warning("Genius: no song by an artist named %r; check crawl.lyrics.artists", name)
            continue
        take(artist_songs(session, cfg, artist_id), cfg.songs_per_artist)
    for query in cfg.queries:
        if len(songs) >= cfg.max_songs:
            break
        take(search_songs(session, cfg, query), cfg.max_songs)
    return list(songs.values())


# ------------------------------------------------------------------------ crawl


@dataclass
class LyricsCrawl:
    """What a crawl produced, with the counts for its metrics report."""

    records: list[Record]
    songs_found: int
    """Distinct songs (not instrumentals) the API listed, within the caps."""
    no_lyrics: int
    """Song pages without lyrics (untranscribed, placeholder only)."""
    page_failures: int
    """Song pages that were refused (404, 403, ...) or kept failing, and were skipped."""


def page_url(cfg: LyricsConfig, song: Mapping[str, Any]) -> str:
    """Where to fetch a song's page: the path of its genius.com URL under `page_base_url`."""
    path = urlsplit(str(song.get("url") or "")).path or str(song.get("path") or "")
    return cfg.page_base_url.rstrip("/") + path


def _validate_page(response: Response) -> None:
    # A challenge served with HTTP 200 has no lyrics container and would otherwise be
    # mistaken for a song without lyrics.
    if _looks_like_challenge(response.body):
        raise RetryableResponse("a bot challenge page (Cloudflare) instead of the song page")


def crawl_lyrics(session: PoliteSession, cfg: LyricsConfig) -> LyricsCrawl:
    """Find songs through the API and scrape their lyrics; each song at most once.

    An API error is fatal (`CrawlError`). A song page that is refused (404, 403 ...) or
    still fails after the session's retries is skipped with a warning (a re-run retries
    it, the rest coming from the cache), unless page after page is: then genius.com is
    refusing this client and the crawl stops with `CrawlError`.
    """
    songs = discover_songs(session, cfg)
    records: list[Record] = []
    no_lyrics = page_failures = refused_in_a_row = 0
    for song in tqdm(songs, desc="Genius", unit="song"):
        url = page_url(cfg, song)
        html, problem = _fetch_page(session, url)
        if problem:
            page_failures += 1
            refused_in_a_row += 1
            if refused_in_a_row >= min(MAX_REFUSED_IN_A_ROW, len(songs)):
                raise CrawlError(
                    f"{refused_in_a_row} song pages in a row failed (last: {problem}); "
                    f"genius.com may be refusing this client (a bot challenge?); try later"
                )
            log.warning("%s; skipping the song", problem)
            continue
        refused_in_a_row = 0
        text = extract_lyrics(html)
        if text is None:
            no_lyrics += 1
            log.info("%s: no lyrics on the page; skipping the song", url)
            continue
        records.append(_record(song, text))
    return LyricsCrawl(records, len(songs), no_lyrics, page_failures)


def _fetch_page(session: PoliteSession, url: str) -> tuple[str, str]:
    """(HTML, "") for a song page, or ("", what went wrong)."""
    try:
        response = session.get(url, validate=_validate_page)
    except CrawlError as err:  # retries exhausted: the session says why
        return "", str(err)
    if response.status != 200:
        return "", f"{url}: HTTP {response.status}"
    return response.text, ""


def _record(song: Mapping[str, Any], text: str) -> Record:
    artist = song.get("primary_artist") or {}
    return Record(
        id=f"genius:{song['id']}",
        source="genius",
        kind="lyrics",
        title=str(song.get("title") or ""),
        text=text,
        url=str(song.get("url") or ""),
        authors=str(artist.get("name") or ""),
        date=_release_date(song),
    )


def _release_date(song: Mapping[str, Any]) -> str:
    """ISO 8601 date (or year-month, or year) from `release_date_components`, if any."""
    parts = song.get("release_date_components") or {}
    year, month, day = parts.get("year"), parts.get("month"), parts.get("day")
    if not isinstance(year, int):
        return ""
    if not isinstance(month, int):
        return f"{year:04d}"
    return f"{year:04d}-{month:02d}" + (f"-{day:02d}" if isinstance(day, int) else "")
