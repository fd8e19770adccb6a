"""Routes of a small Genius on loopback, serving the real recorded pages and JSON.

API search answers are the real files byte for byte; the artist listing (no real one
was ever recorded) is built from the real song object of the wormwood search.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loopback import CHALLENGE_HTML, Reply, Route

WORMWOOD_JSON = "api.genius.com_search_2019_wormwood_pretty-printed.json"
BEATLES_JSON = "genius.com_api_search_multi_2023_beatles-help.json"
EMILY = "song_2022-08_joanna-newsom_emily.html"
YES = "song_2023-12_yes_ive-seen-all-good-people_browser-saved-ads.html"
HALESTORM = "song_2024-09_halestorm_bet-u-wish-u-had-me-back_bold-brackets.html"
PLACEHOLDER = "song_2026-03_header-in-container_placeholder-lyrics_trimmed.html"
LEGACY = "legacy_2018-08_guns-n-roses_paradise-city_div-class-lyrics.html"
UNTRANSCRIBED = "edge_2025-11_untranscribed_no-lyrics-container_trimmed.html"


def read(fixtures: Path, name: str) -> str:
    return (fixtures / "genius" / name).read_text(encoding="utf-8")


ARTIST_ID = 1112068  # Wormwood, from the real search result


def make_song(
    template: dict[str, Any], song_id: int, url: str, title: str, artist: str, **extra: Any
) -> dict[str, Any]:
    """A song object shaped like the real API's (the wormwood hit), with other values."""
    song = copy.deepcopy(template)
    song.update(
        id=song_id,
        api_path=f"/songs/{song_id}",
        title=title,
        title_with_featured=title,
        full_title=f"{title} by {artist}",
        url=url,
        path=urlsplit(url).path,
        **extra,
    )
    song["primary_artist"] = {**song["primary_artist"], "name": artist, "id": song_id + 10_000}
    return song


def json_reply(data: object, status: int = 200) -> Reply:
    return Reply(status, json.dumps(data).encode(), "application/json; charset=utf-8")


def html_reply(text: str | bytes, status: int = 200) -> Reply:
    body = text.encode() if isinstance(text, str) else text
    return Reply(status, body, "text/html; charset=utf-8")


def genius_routes(fixtures: Path) -> dict[str, Route]:
    """Routes of a small Genius: API search and artist songs, and song pages.

    No real `/artists/:id/songs` response exists (SOURCES.md 2c): its two pages are
    built here from the real song object of the wormwood search, pointing at the real
    song pages by their canonical URLs. The songs of the real JSON files have no page
    on record; they get the untranscribed page, a 403 challenge and a 404.
    """
    wormwood = json.loads(read(fixtures, WORMWOOD_JSON))
    template = wormwood["response"]["hits"][0]["result"]
    emily = make_song(
        template, 1001, "https://genius.com/Joanna-newsom-emily-lyrics", "Emily", "Joanna Newsom",
        release_date_components={"year": 2006, "month": 11, "day": 7},
    )  # fmt: skip
    yes = make_song(
        template, 1002, "https://genius.com/Yes-ive-seen-all-good-people-lyrics",
        "I've Seen All Good People", "Yes",
        release_date_components={"year": 1971, "month": None, "day": None},
    )  # fmt: skip
    halestorm = make_song(
        template, 1003, "https://genius.com/Halestorm-bet-u-wish-u-had-me-back-lyrics",
        "Bet U Wish U Had Me Back", "Halestorm",
    )  # fmt: skip
    instrumental = make_song(
        template, 1004, "https://genius.com/Wormwood-instrumental-lyrics", "Intro", "Wormwood",
        instrumental=True,
    )  # fmt: skip
    autumn = make_song(
        template, 1005,
        "https://genius.com/An-autumn-for-crippled-children-the-light-of-september-lyrics",
        "The light of september", "An Autumn for Crippled Children",
    )  # fmt: skip
    paradise = make_song(
        template, 1006, "https://genius.com/Guns-n-roses-paradise-city-lyrics", "Paradise City",
        "Guns N' Roses",
    )  # fmt: skip
    listing = {
        1: {"meta": {"status": 200}, "response": {"songs": [template, emily, yes], "next_page": 2}},
        2: {
            "meta": {"status": 200},
            "response": {
                "songs": [halestorm, instrumental, autumn, paradise, emily],  # Emily again
                "next_page": None,
            },
        },
    }
    searches = {
        "wormwood": read(fixtures, WORMWOOD_JSON),
        "beatles help": read(fixtures, BEATLES_JSON),
    }
    empty = {"meta": {"status": 200}, "response": {"hits": []}}

    def search(query: dict[str, str]) -> Reply:
        found = searches.get(query["q"].casefold())  # served byte for byte
        return Reply(200, found.encode(), "application/json") if found else json_reply(empty)

    def page(name: str) -> Any:
        body = read(fixtures, name)
        return lambda query: html_reply(body)

    return {
        "/search": search,
        f"/artists/{ARTIST_ID}/songs": lambda query: json_reply(listing[int(query["page"])]),
        "/Wormwood-sunnas-hadanfard-lyrics": page(UNTRANSCRIBED),
        "/Joanna-newsom-emily-lyrics": page(EMILY),
        "/Yes-ive-seen-all-good-people-lyrics": page(YES),
        "/Halestorm-bet-u-wish-u-had-me-back-lyrics": page(HALESTORM),
        "/An-autumn-for-crippled-children-the-light-of-september-lyrics": page(PLACEHOLDER),
        "/Guns-n-roses-paradise-city-lyrics": page(LEGACY),
        "/The-beatles-help-lyrics": lambda query: html_reply(CHALLENGE_HTML, 403),
        # /Genius-brasil-traducoes-nomes-de-albuns-traduzidos-annotated: no route, a 404
    }
