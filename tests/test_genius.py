"""The Genius crawler, on the real recorded pages and JSON in shared/fixtures/genius.

Lyrics extraction is checked on every real song page generation; the crawl runs against
a real HTTP server on 127.0.0.1 that serves those files, with faults injected.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from genius_server import (
    ARTIST_ID,
    EMILY,
    HALESTORM,
    LEGACY,
    PLACEHOLDER,
    UNTRANSCRIBED,
    YES,
    genius_routes,
    html_reply,
    json_reply,
    read,
)
from loopback import CHALLENGE_HTML, Faults, LoopbackServer, Reply

from nanoforge.config import HttpConfig, LyricsConfig
from nanoforge.data.genius import (
    LyricsCrawl,
    auth_headers,
    crawl_lyrics,
    extract_lyrics,
    open_session,
    read_token,
    search_songs,
)
from nanoforge.data.http import PoliteSession
from nanoforge.errors import CrawlError

TOKEN = "tok-5f2c9a1e7b3d-secret"
# ------------------------------------------------------------------ extract_lyrics


def test_2022_page_joins_its_three_containers_in_order(fixtures: Path) -> None:
    text = extract_lyrics(read(fixtures, EMILY))
    assert text is not None
    lines = text.split("\n")
    assert lines[:2] == ["[Verse 1]", "The meadowlark and the chim-choo-ree and the sparrow"]
    assert lines[-1] == (
        "And the meteoroid’s a bone thrown from the void that lies quiet in offering to thee"
    )
    assert len(lines) == 124
    # Each container boundary is one newline: the end of one, the start of the next.
    assert "offering to thee\n[Verse 2]\nYou came and lay a cold compress" in text
    assert "And there are worries where I've been\nAnd say, say, say, in the lee" in text
    # The ad nested inside container 1 sits between two stanzas and leaves nothing.
    assert "in our window?\n\nThere is a rusty light on the pines tonight;" in text
    # Entities decoded, typographic characters kept, the __PRELOADED_STATE__ copy ignored.
    assert 'cried, "Amen! Amen! Amen!"' in text
    assert "We've seen those mountains kneeling" in text
    assert text.count("The meadowlark") == 1
    assert "<" not in text and "&#x27;" not in text


def test_2023_browser_save_skips_inread_ad_and_keeps_bold_subheadings(fixtures: Path) -> None:
    text = extract_lyrics(read(fixtures, YES))
    assert text is not None
    lines = text.split("\n")
    assert lines[:2] == ["[Refrain/Intro]", "I've seen all good people turn their heads each day"]
    assert lines[-1] == "So satisfied I'm on my way"
    assert len(lines) == 84
    assert "Cause it's time, it's time in time with your time\nAnd its news is captured\n" in text
    assert "And its news is captured\nII. All Good People\n\n[Refrain]" in text  # 2 containers
    assert "I. Your Move" in text
    for header in ("Contributor", "Embed", "You might also like", "Lyrics"):
        assert header not in text


def test_2024_bold_brackets_become_plain_section_markers(fixtures: Path) -> None:
    text = extract_lyrics(read(fixtures, HALESTORM))
    assert text is not None
    lines = text.split("\n")
    assert lines[:2] == ["[Verse 1]", "It was you and me and one hot summer"]
    assert lines[-1] == "I bet you wish you had me back"
    assert len(lines) == 51
    assert [line for line in lines if line.startswith("[")] == [
        "[Verse 1]",
        "[Chorus]",
        "[Verse 2]",
        "[Chorus]",
        "[Bridge]",
        "[Outro]",
    ]


def test_2026_header_inside_the_container_does_not_leak(fixtures: Path) -> None:
    # The whole lyrics body is a contributor's placeholder "[?]"; the cleaner drops it.
    assert extract_lyrics(read(fixtures, PLACEHOLDER)) == "[?]"


def test_legacy_2018_page_reads_div_lyrics_with_browser_line_breaks(fixtures: Path) -> None:
    text = extract_lyrics(read(fixtures, LEGACY))
    assert text is not None
    lines = text.split("\n")
    # The source puts a newline after every <br>: layout, not an extra blank line.
    assert lines[:3] == [
        "[Chorus]",
        "Take me down to the Paradise City",
        "Where the grass is green and the girls are pretty",
    ]
    assert lines[-2:] == ["Oh, won't you please take me home?", "Baby"]
    assert len(lines) == 97
    assert text.count("\n\n") == 9  # one blank line before each of the 9 later sections
    assert "(Take me home) Oh, won't you please take me home?\n\n[Verse 1]\n" in text
    assert 'He said, "turn me around and take me back to the start' in text


@pytest.mark.parametrize(
    "html",
    [
        pytest.param(None, id="untranscribed-2025-fixture"),
        pytest.param(
            '<div id="lyrics-root"><div class="LyricsPlaceholder__Message">'
            "This song is an instrumental</div></div>",
            id="instrumental-placeholder",
        ),
        pytest.param("<html><body><p>Nothing here</p></body></html>", id="no-container"),
        pytest.param(
            '<div data-lyrics-container="true"><div data-exclude-from-selection="true">'
            "1 Contributor</div> </div>",
            id="empty-container",
        ),
    ],
)
def test_page_without_lyrics_gives_none(fixtures: Path, html: str | None) -> None:
    assert extract_lyrics(html if html is not None else read(fixtures, UNTRANSCRIBED)) is None


# ------------------------------------------------------------------ the loopback site


@pytest.fixture
def site(fixtures: Path) -> dict[str, Any]:
    return genius_routes(fixtures)


# (id, title, artist, date, first line, last line, number of lines)
EXPECTED = [
    ("genius:1001", "Emily", "Joanna Newsom", "2006-11-07", "[Verse 1]",
     "And the meteoroid’s a bone thrown from the void that lies quiet in offering to thee", 124),
    ("genius:1002", "I've Seen All Good People", "Yes", "1971", "[Refrain/Intro]",
     "So satisfied I'm on my way", 84),
    ("genius:1003", "Bet U Wish U Had Me Back", "Halestorm", "", "[Verse 1]",
     "I bet you wish you had me back", 51),
    ("genius:1005", "The light of september", "An Autumn for Crippled Children", "", "[?]",
     "[?]", 1),
    ("genius:1006", "Paradise City", "Guns N' Roses", "", "[Chorus]", "Baby", 97),
]  # fmt: skip


def summary(crawl: LyricsCrawl) -> list[tuple[object, ...]]:
    rows = []
    for r in crawl.records:
        lines = r.text.split("\n")
        rows.append((r.id, r.title, r.authors, r.date, lines[0], lines[-1], len(lines)))
    return rows


def http_config(tmp_path: Path, **overrides: Any) -> HttpConfig:
    values = {
        "timeout_s": 2.0,
        "max_retries": 3,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
        "cache_dir": str(tmp_path / "cache"),
    }
    return HttpConfig(**{**values, **overrides})


def lyrics_config(server: LoopbackServer, **overrides: Any) -> LyricsConfig:
    values: dict[str, Any] = {
        # The same server under two host names, as api.genius.com and genius.com are two:
        # the token must go to the API's and never to the pages'.
        "api_base_url": server.url,
        "page_base_url": server.url.replace("127.0.0.1", "localhost"),
        "artists": ("Wormwood",),
        "queries": ("Beatles Help",),
        "min_interval_s": 0.0,
    }
    return LyricsConfig(**{**values, **overrides})


# ------------------------------------------------------------------------- crawl


def test_crawl_finds_pages_and_reads_every_song_once(site: dict, tmp_path: Path) -> None:
    with LoopbackServer(site) as server:
        cfg = lyrics_config(server)
        session = open_session(http_config(tmp_path), cfg, TOKEN)
        crawl = crawl_lyrics(session, cfg)
        # What the searches found, read again from the cache (api.genius.com/search has
        # `hits`, search/multi has `sections`): songs only, the "lyric" hit included (a song
        # matched by its lyrics); the album, artist, video and article hits dropped.
        wormwood = search_songs(session, cfg, "Wormwood")
        beatles = search_songs(session, cfg, "Beatles Help")
    assert [(s["id"], s["title"]) for s in wormwood] == [(4733740, "Sunnas hädanfärd")]
    assert [s["id"] for s in beatles] == [92584, 4004990, 92584, 4004990]
    assert summary(crawl) == EXPECTED
    record = crawl.records[0]
    assert (record.source, record.kind, record.url) == (
        "genius",
        "lyrics",
        "https://genius.com/Joanna-newsom-emily-lyrics",  # genius.com, not the page server
    )
    # 8 distinct songs: 6 from the artist (the instrumental and Emily's second listing
    # left out), 2 from the query (Help! and the "lyric" hit, each listed twice).
    assert (crawl.songs_found, crawl.no_lyrics, crawl.page_failures) == (8, 1, 2)
    assert server.log == [
        "/search?q=Wormwood",
        f"/artists/{ARTIST_ID}/songs?per_page=50&page=1&sort=popularity",
        f"/artists/{ARTIST_ID}/songs?per_page=50&page=2&sort=popularity",
        "/search?q=Beatles+Help",
        "/Wormwood-sunnas-hadanfard-lyrics",
        "/Joanna-newsom-emily-lyrics",
        "/Yes-ive-seen-all-good-people-lyrics",
        "/Halestorm-bet-u-wish-u-had-me-back-lyrics",
        "/An-autumn-for-crippled-children-the-light-of-september-lyrics",
        "/Guns-n-roses-paradise-city-lyrics",
        "/The-beatles-help-lyrics",
        "/Genius-brasil-traducoes-nomes-de-albuns-traduzidos-annotated",
    ]
    assert (session.stats.requests, session.stats.cache_hits) == (12, 2)


def test_caps_stop_asking_the_api_early(site: dict, tmp_path: Path) -> None:
    with LoopbackServer(site) as server:
        cfg = lyrics_config(server, max_songs=2)
        crawl = crawl_lyrics(open_session(http_config(tmp_path / "a"), cfg, TOKEN), cfg)
        assert [r.id for r in crawl.records] == ["genius:1001"]
        assert (crawl.songs_found, crawl.no_lyrics, crawl.page_failures) == (2, 1, 0)
        assert server.hits(f"/artists/{ARTIST_ID}/songs") == 1  # page 2 not needed
        assert server.hits("/search") == 1  # the query never searched

        server.log.clear()
        cfg = lyrics_config(server, songs_per_artist=3, queries=())
        crawl = crawl_lyrics(open_session(http_config(tmp_path / "b"), cfg, TOKEN), cfg)
        assert [r.id for r in crawl.records] == ["genius:1001", "genius:1002"]
        assert crawl.songs_found == 3
        # Page 1 holds exactly 3 songs: page 2 is never asked for.
        assert server.hits(f"/artists/{ARTIST_ID}/songs") == 1


def test_artist_is_matched_case_insensitively_and_a_missing_one_is_reported(
    site: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with LoopbackServer(site) as server:
        cfg = lyrics_config(server, artists=("Nobody Atall", "WORMWOOD"), queries=())
        crawl = crawl_lyrics(open_session(http_config(tmp_path), cfg, TOKEN), cfg)
    assert [r.id for r in crawl.records] == [e[0] for e in EXPECTED]
    assert "no song by an artist named 'Nobody Atall'" in caplog.text


def test_crawl_survives_faults_and_challenges(site: dict, tmp_path: Path) -> None:
    kinds = ("500", "503", "429", "slow", "truncated", "challenge")
    # Seed 52 injects each of the six kinds in this crawl's sequence of requests (if the
    # sequence changes, pick another seed that does: the point is to see all six).
    faults = Faults(rate=0.3, kinds=kinds, slow_s=2.0, seed=52)
    waits: list[float] = []
    with LoopbackServer(site, faults) as server:
        cfg = lyrics_config(server)
        http = http_config(tmp_path, timeout_s=0.8, max_retries=5)
        # Waits are recorded, not slept: three Retry-After: 1 would cost 3 s of test time.
        session = PoliteSession(
            http, 0.0, headers_for={server.url: auth_headers(TOKEN)}, sleep=waits.append
        )
        crawl = crawl_lyrics(session, cfg)
    assert summary(crawl) == EXPECTED
    assert (crawl.songs_found, crawl.no_lyrics, crawl.page_failures) == (8, 1, 2)
    assert set(faults.injected) == set(kinds)
    assert session.stats.retries == faults.injected.total()  # each fault cost one retry
    assert waits.count(1.0) == faults.injected["429"]  # Retry-After honoured


def test_killed_crawl_resumes_without_fetching_anything_twice(site: dict, tmp_path: Path) -> None:
    class Killed(BaseException):
        """Stands for the process being killed (not an Exception: nothing catches it)."""

    class DyingSession(PoliteSession):
        def __init__(self, *args: Any, lives: int, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.lives = lives

        def get(self, url: str, params: Any = None, **kwargs: Any) -> Any:
            if self.lives == 0:
                raise Killed
            self.lives -= 1
            return super().get(url, params, **kwargs)

    with LoopbackServer(site) as server:
        cfg = lyrics_config(server)
        http = http_config(tmp_path)
        dying = DyingSession(http, 0.0, headers_for={server.url: auth_headers(TOKEN)}, lives=6)
        with pytest.raises(Killed):
            crawl_lyrics(dying, cfg)
        assert len(server.log) == 6  # the API (4) and the first 2 song pages
        session = open_session(http, cfg, TOKEN)
        crawl = crawl_lyrics(session, cfg)
    assert summary(crawl) == EXPECTED
    assert session.stats.cache_hits == 6
    assert len(server.log) == 12
    assert Counter(server.log).most_common(1)[0][1] == 1  # every URL fetched once


# ---------------------------------------------------------------- token, refusals


def test_missing_token_says_how_to_get_one() -> None:
    for environ in ({}, {"GENIUS_ACCESS_TOKEN": "  "}):
        with pytest.raises(CrawlError) as err:
            read_token(environ)
        message = str(err.value)
        assert "\n" not in message
        assert "https://genius.com/api-clients" in message
        assert "export GENIUS_ACCESS_TOKEN=" in message
    assert read_token({"GENIUS_ACCESS_TOKEN": f" {TOKEN}\n"}) == TOKEN


def test_token_goes_in_a_header_and_nowhere_else(
    site: dict,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # urllib3 included
    with LoopbackServer(site) as server:
        cfg = lyrics_config(server)
        token = read_token({"GENIUS_ACCESS_TOKEN": TOKEN})
        crawl = crawl_lyrics(open_session(http_config(tmp_path), cfg, token), cfg)
    auth = [
        (path, h.get("Authorization")) for path, h in zip(server.log, server.headers, strict=True)
    ]
    api_calls = [a for path, a in auth if path.startswith(("/search", "/artists"))]
    assert api_calls == [f"Bearer {TOKEN}"] * 4
    page_calls = [a for path, a in auth if not path.startswith(("/search", "/artists"))]
    assert len(page_calls) == 8 and set(page_calls) == {None}  # song pages never see it
    assert not any(TOKEN in entry for entry in server.log)
    cache_files = list((tmp_path / "cache").iterdir())
    assert len(cache_files) == 2 * 10  # 4 API answers and 6 pages, a body and a meta each
    assert not any(TOKEN.encode() in f.read_bytes() for f in cache_files)
    assert TOKEN not in repr(crawl)
    assert TOKEN not in caplog.text
    assert "127.0.0.1" in caplog.text  # the logs were captured, and are clean
    assert TOKEN not in "".join(capsys.readouterr())


def test_challenge_page_instead_of_json_fails_with_a_clear_message(tmp_path: Path) -> None:
    with LoopbackServer({"/search": lambda query: html_reply(CHALLENGE_HTML)}) as server:
        cfg = lyrics_config(server)
        session = open_session(http_config(tmp_path, max_retries=2), cfg, TOKEN)
        with pytest.raises(CrawlError, match=r"'Just a moment\.\.\.'.*bot challenge"):
            crawl_lyrics(session, cfg)
        assert server.hits("/search") == 3  # the first try and 2 retries
    assert not (tmp_path / "cache").exists()  # a challenge is never cached


def test_api_refusing_the_token_is_fatal_and_names_the_variable(tmp_path: Path) -> None:
    refusal = {"meta": {"status": 401, "message": "invalid token"}}
    with LoopbackServer({"/search": lambda query: json_reply(refusal, 401)}) as server:
        cfg = lyrics_config(server)
        with pytest.raises(CrawlError, match=r"HTTP 401 .*\(invalid token\).*GENIUS_ACCESS_TOKEN"):
            crawl_lyrics(open_session(http_config(tmp_path), cfg, TOKEN), cfg)
        assert server.hits("/search") == 1  # a 401 is an answer, not worth a retry


def test_failing_pages_are_skipped_until_page_after_page_fails(
    site: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    site["/Yes-ive-seen-all-good-people-lyrics"] = lambda query: Reply(503, b"down")
    with LoopbackServer(site) as server:
        cfg = lyrics_config(server)
        session = open_session(http_config(tmp_path / "a", max_retries=1), cfg, TOKEN)
        crawl = crawl_lyrics(session, cfg)
        assert [r.id for r in crawl.records] == [
            "genius:1001",
            "genius:1003",
            "genius:1005",
            "genius:1006",
        ]
        assert (crawl.songs_found, crawl.no_lyrics, crawl.page_failures) == (8, 1, 3)
        assert server.hits("/Yes-ive-seen-all-good-people-lyrics") == 2  # tried, retried once
        assert "HTTP 503; gave up after 1 retries; skipping the song" in caplog.text

        # Help! is refused (403, a challenge page), the other query song is missing (404):
        # with nothing but failures, the site is refusing us rather than missing pages.
        cfg = lyrics_config(server, artists=(), queries=("Beatles Help",))
        session = open_session(http_config(tmp_path / "b"), cfg, TOKEN)
        with pytest.raises(CrawlError, match=r"2 song pages in a row failed \(last: .*HTTP 404\)"):
            crawl_lyrics(session, cfg)
