"""CSV to clean corpora: the real fixture datasets, de-duplication, the split, bad input."""

from __future__ import annotations

import logging
import random
import re
from pathlib import Path

import pandas as pd
import pytest

from nanoforge.config import CleanConfig, ExtraCsv
from nanoforge.data.clean import (
    DROP_REASONS,
    OUTPUT_COLUMNS,
    CleanResult,
    CsvInput,
    clean_corpora,
    extra_input,
    normalized_key,
    parse_tags,
    raw_input,
    read_records,
    repair_arxiv_id,
    split_of,
    write_parquet,
)
from nanoforge.data.records import Record, write_records_csv
from nanoforge.errors import DataError

CFG = CleanConfig()  # val_fraction 0.1, min_chars 64, max_chars 200000, markers removed

SONGDATA = ExtraCsv(
    path="csv/lyrics_songdata55k_head_akash20x_wholerows.csv",
    corpus="domain",
    kind="lyrics",
    columns={"title": "song", "authors": "artist", "text": "text", "url": "link"},
    source="songdata",
)
SONGDATA_RAW = ExtraCsv(
    path="csv/lyrics_songdata55k_head_akash20x_RAW_truncated-last-record.csv",
    corpus="domain",
    kind="lyrics",
    columns=dict(SONGDATA.columns),
    source="songdata",
)
TAYLOR = ExtraCsv(
    path="csv/lyrics_genius_scraped_taylorswift_tuotadiwang.csv",
    corpus="domain",
    kind="lyrics",
    # The file's names are "Song " and "Artist(s) ": matched ignoring the spaces.
    columns={"title": "Song", "authors": "Artist(s)", "text": "lyrics", "url": "genius_path"},
    source="taylorswift",
)
ACATLIN = ExtraCsv(
    path="csv/lyrics_flattened_blackeyedpeas_acatlin.csv",
    corpus="domain",
    kind="lyrics",
    columns={"title": "song_title", "authors": "song_artist", "text": "song_lyrics"},
    source="acatlin",
)
TIAGOFT = ExtraCsv(
    path="csv/arxiv_abstracts_titles_summaries_terms_tiagoft.csv",
    corpus="general",
    kind="prose",
    columns={"title": "titles", "text": "summaries", "tags": "terms"},
    source="tiagoft",
)
GECHHAI = ExtraCsv(
    path="csv/arxiv_kaggle_cornell_metadata_2000rows_gechhai.csv",
    corpus="general",
    kind="prose",
    columns={
        "id": "id",
        "title": "title",
        "text": "abstract",
        "tags": "categories",
        "authors": "authors",
        "date": "update_date",
    },
    source="gechhai",
    repair_arxiv_ids=True,
)
DATASETS = {
    "songdata": SONGDATA,
    "songdata_raw": SONGDATA_RAW,
    "taylor": TAYLOR,
    "acatlin": ACATLIN,
    "tiagoft": TIAGOFT,
    "gechhai": GECHHAI,
}
ALL = ("songdata", "taylor", "acatlin", "tiagoft", "gechhai")


@pytest.fixture(scope="module")
def results(fixtures: Path) -> dict[str, CleanResult]:
    """Each dataset cleaned alone, and `all` of them (but the raw songdata) together."""
    out = {name: clean_corpora([extra_input(e, fixtures, 0)], CFG) for name, e in DATASETS.items()}
    out["all"] = clean_corpora(
        [extra_input(DATASETS[n], fixtures, i) for i, n in enumerate(ALL)], CFG
    )
    return out


def corpus_of(result: CleanResult, name: str) -> pd.DataFrame:
    return result.domain if DATASETS[name].corpus == "domain" else result.general


def dropped(**counts: int) -> dict[str, int]:
    return {reason: counts.get(reason, 0) for reason in DROP_REASONS}


# ------------------------------------------------------------ the real datasets


def test_songdata_keeps_all_873_songs_without_markers(results: dict[str, CleanResult]) -> None:
    # 873 rows; no two texts equal even up to case and punctuation; the shortest cleaned
    # song has 364 characters (> min_chars 64): every row survives.
    result = results["songdata"]
    assert result.report["inputs"][0]["rows_in"] == 873
    assert result.report["rows_out"] == 873
    assert result.report["dropped"] == dropped()
    songs = result.domain
    assert len(songs) == 873 and len(result.general) == 0
    assert songs["title"].iloc[0] == "Ahe's My Kind Of Girl"
    assert {"Bang", "Bang-A-Boomerang", "Andante, Andante"} <= set(songs["title"])
    assert (
        songs["text"]
        .iloc[0]
        .startswith(
            "Look at her face, it's a wonderful face\nAnd it means something special to me\n"
        )
    )
    assert songs["id"].str.fullmatch(r"songdata:[0-9a-f]{16}").all()
    assert songs["tags"].eq("").all()
    text = "\n".join(songs["text"]).lower()
    for marker in ("[chorus", "(chorus)", "[verse", "[pre-chorus", "[bridge", "(2x)", "(fade)"):
        assert marker not in text
    assert not {"chorus", "chorus:", "verse 2", "repeat chorus"} & set(text.split("\n"))
    assert not any(line != line.strip() for line in text.split("\n"))
    assert (songs["split"] == "val").sum() == 83


def test_raw_songdata_drops_only_its_truncated_last_record(
    fixtures: Path, results: dict[str, CleanResult], caplog: pytest.LogCaptureFixture
) -> None:
    report = results["songdata_raw"].report
    assert report["rows_in"] == 874  # 873 whole records and the one cut off
    assert report["dropped"] == dropped(truncated_record=1)
    assert report["rows_out"] == 873
    # The same 873 documents as the whole-rows prefix of the same file.
    pd.testing.assert_frame_equal(results["songdata_raw"].domain, results["songdata"].domain)
    assert "My Voice Is Changing" not in set(results["songdata_raw"].domain["title"])
    with caplog.at_level(logging.WARNING, logger="nanoforge.data.clean"):
        records, truncated = read_records(extra_input(SONGDATA_RAW, fixtures))
    assert (len(records), truncated) == (873, 1)
    assert "incomplete last record" in caplog.text


def test_tiagoft_loses_its_7_duplicated_rows_and_unpacks_tag_lists(
    results: dict[str, CleanResult],
) -> None:
    result = results["tiagoft"]
    assert result.report["rows_in"] == 1000
    assert result.report["dropped"] == dropped(duplicate_exact=7)
    papers = result.general
    assert len(papers) == 993
    assert papers["tags"].iloc[0] == "cs.CV cs.LG eess.IV"
    assert papers["title"].iloc[0] == "Neural ODEs for Image Segmentation with Level Sets"
    assert (
        papers["text"]
        .iloc[0]
        .startswith(
            "We propose a novel approach for image segmentation that combines Neural Ordinary"
        )
    )
    assert not papers["tags"].str.contains(r"[\[\]']", regex=True).any()
    assert papers["tags"].str.fullmatch(r"\S+( \S+)*").all()
    assert papers["id"].str.fullmatch(r"tiagoft:[0-9a-f]{16}").all()
    # Hard wraps are gone; 35 abstracts keep a paragraph (an indented line in the source).
    assert not papers["text"].str.contains("\n  ").any()
    assert papers["text"].str.contains("\n\n").sum() == 35
    assert not papers["text"].str.contains(r"\n(?!\n)(?<!\n\n)", regex=True).any()


def test_gechhai_ids_are_repaired_and_abstracts_unwrapped(results: dict[str, CleanResult]) -> None:
    result = results["gechhai"]
    # 2000 rows: 8 abstracts shorter than 64 characters ("This paper has been withdrawn
    # by the authors." ...), then 2 abstracts that repeat an earlier one.
    assert result.report["dropped"] == dropped(too_short=8, duplicate_exact=2)
    papers = result.general
    assert len(papers) == 1990
    ids = set(papers["id"])
    assert {"gechhai:0704.0001", "gechhai:0704.0010", "gechhai:0704.0100"} <= ids
    assert not {"gechhai:704.001", "gechhai:704.0001", "gechhai:704.01"} & ids
    assert papers["id"].str.fullmatch(r"gechhai:0704\.\d{4}").all()
    first = papers.iloc[0]
    assert first["title"] == (
        "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    )
    assert first["text"].startswith("A fully differential calculation in perturbative quantum")
    assert first["tags"] == "hep-ph"
    assert "math.CO cs.CG" in set(papers["tags"])
    assert not papers["text"].str.contains("\n  ").any()
    assert not papers["title"].str.contains("\n").any()
    assert not papers["text"].str.contains("&#8722;").any()
    assert papers["text"].str.contains("−").any()
    cubes = papers[papers["text"].str.startswith("Partial cubes are isometric")]["text"].iloc[0]
    assert cubes.count("\n\n") == 1 and "\n\nThe operations of Cartesian product" in cubes


def test_taylor_swift_columns_with_trailing_spaces_are_mapped(
    fixtures: Path, results: dict[str, CleanResult]
) -> None:
    result = results["taylor"]
    assert result.report["dropped"] == dropped(duplicate_exact=4)
    songs = result.domain
    assert len(songs) == 166
    assert list(songs["title"].iloc[:3]) == ["The 1", "22", "Afterglow"]
    text = "".join(songs["text"])
    assert "\u2005" not in text and "\u205f" not in text
    assert "I thought I saw you at the bus stop" in songs["text"].iloc[0]
    # The exact names with their spaces work as well.
    exact = ExtraCsv(**{**TAYLOR.__dict__, "columns": {"title": "Song ", "text": "lyrics"}})
    records, _ = read_records(extra_input(exact, fixtures))
    assert records[0].title == '"The 1" '


def test_acatlin_keeps_its_mojibake_and_loses_its_markers(results: dict[str, CleanResult]) -> None:
    result = results["acatlin"]
    assert result.report["dropped"] == dropped(duplicate_exact=1)
    songs = result.domain
    assert len(songs) == 27
    assert songs["text"].str.contains("â??Cuz", regex=False).sum() == 1
    assert not songs["text"].str.contains("[", regex=False).any()
    assert not songs["text"].str.contains("\n").any()  # flattened lyrics stay one line
    assert songs["text"].iloc[0].startswith("Hands up  Coming with rhythms")
    # "Let's Get It Started [*]" has the lyrics of "Let's Get It Started": the first stays.
    assert "Let's Get It Started" in set(songs["title"])


def test_all_datasets_together(results: dict[str, CleanResult]) -> None:
    report = results["all"].report
    assert report["rows_in"] == 873 + 170 + 28 + 1000 + 2000
    assert report["rows_out"] == 873 + 166 + 27 + 993 + 1990
    assert report["dropped"] == dropped(too_short=8, duplicate_exact=7 + 2 + 4 + 1)
    general, domain = results["all"].general, results["all"].domain
    assert list(general["source"].unique()) == ["tiagoft", "gechhai"]  # input order
    assert list(domain["source"].unique()) == ["songdata", "taylorswift", "acatlin"]
    corpora = report["corpora"]
    # val: tiagoft 92 + gechhai 211; songdata 83 + taylorswift 17 + acatlin 1.
    assert corpora["general"]["documents"] == {"train": 2680, "val": 303}
    assert corpora["domain"]["documents"] == {"train": 965, "val": 101}
    for frame in (general, domain):
        assert abs((frame["split"] == "val").mean() - CFG.val_fraction) < 0.02
    # A document's split depends on its id only, not on what else is cleaned with it.
    for name in ALL:
        alone = corpus_of(results[name], name)
        together = corpus_of(results["all"], name).set_index("id")["split"]
        assert (together.loc[alone["id"]].to_numpy() == alone["split"].to_numpy()).all()


@pytest.mark.parametrize("name", [*DATASETS, "all"])
def test_invariants_of_every_output(results: dict[str, CleanResult], name: str) -> None:
    result = results[name]
    report = result.report
    assert report["rows_in"] == report["rows_out"] + sum(report["dropped"].values())
    assert report["rows_out"] == len(result.general) + len(result.domain)
    for corpus, frame in (("general", result.general), ("domain", result.domain)):
        assert tuple(frame.columns) == OUTPUT_COLUMNS
        assert list(frame.index) == list(range(len(frame)))
        assert all(isinstance(v, str) for col in OUTPUT_COLUMNS for v in frame[col])
        assert frame["id"].is_unique and frame["text"].is_unique
        assert frame["text"].map(normalized_key).is_unique
        assert set(frame["split"]) <= {"train", "val"}
        train = set(frame.loc[frame["split"] == "train", "id"])
        val = set(frame.loc[frame["split"] == "val", "id"])
        assert not train & val
        assert (frame["split"] == frame["id"].map(lambda i: split_of(i, 0.1))).all()
        assert (frame["text"].str.len() >= CFG.min_chars).all()
        lengths = frame["text"].str.len()
        assert report["corpora"][corpus]["chars"] == {
            s: int(lengths[frame["split"] == s].sum()) for s in ("train", "val")
        }


@pytest.mark.parametrize("name", ["songdata", "gechhai"])
def test_a_rerun_gives_identical_output(
    fixtures: Path, results: dict[str, CleanResult], name: str
) -> None:
    again = clean_corpora([extra_input(DATASETS[name], fixtures, 0)], CFG)
    pd.testing.assert_frame_equal(again.general, results[name].general)
    pd.testing.assert_frame_equal(again.domain, results[name].domain)
    assert again.report == results[name].report


# ---------------------------------------------------- de-duplication and drops


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    frame = pd.DataFrame(rows, columns=header)
    frame.to_csv(path, index=False)
    return path


def test_every_drop_reason(tmp_path: Path) -> None:
    hello = "Hello, world: a first document that is long enough."
    path = write_csv(
        tmp_path / "docs.csv",
        ["id", "text"],
        [
            ["a", hello],
            ["b", hello + "\n"],  # the same once cleaned
            ["c", "HELLO WORLD -- a first document, that is long enough!"],
            ["a", "Another document with the id of the first one, long enough."],
            ["d", "Too short."],
            ["e", "  \n "],
            ["f", "A document far too long. " * 10],
            ["g", "The last document, different from all of the others."],
        ],
    )
    cfg = CleanConfig(min_chars=20, max_chars=200)
    inp = CsvInput(path, "general", {"id": "id", "text": "text"}, source="docs", kind="prose")
    result = clean_corpora([inp], cfg)
    assert list(result.general["id"]) == ["docs:a", "docs:g"]  # the first of each kept
    assert result.general["text"].iloc[0] == hello
    assert result.report["dropped"] == dropped(
        duplicate_exact=1, duplicate_normalized=1, duplicate_id=1, too_short=1, empty=1, too_long=1
    )


def test_duplicates_are_removed_per_corpus(tmp_path: Path) -> None:
    text = "A document that both corpora hold, and that is long enough to keep."
    path = write_csv(tmp_path / "same.csv", ["text"], [[text]])
    general = CsvInput(path, "general", {"text": "text"}, source="g", kind="prose")
    domain = CsvInput(path, "domain", {"text": "text"}, source="d", kind="prose")
    result = clean_corpora([general, domain, domain], CFG)
    assert (len(result.general), len(result.domain)) == (1, 1)
    assert result.report["dropped"] == dropped(duplicate_exact=1)


def test_genius_placeholder_lyrics_are_dropped_as_empty(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "songs.csv", ["lyrics"], [["[?]"], ["[Chorus]\n(2x)\n"]])
    inp = CsvInput(path, "domain", {"text": "lyrics"}, source="genius", kind="lyrics")
    assert clean_corpora([inp], CFG).report["dropped"] == dropped(empty=2)


def test_raw_crawler_csv_takes_ids_sources_and_kinds_per_row(tmp_path: Path) -> None:
    code = "def f(x):\n    return x  \n\n\n\n\nclass C:\n    '''A class with a docstring.'''\n"
    records = [
        Record("arxiv:2202.12139v1", "arxiv", "prose", "A\n  title", "An abstract\nwrapped " * 5),
        Record("genius:378195", "genius", "lyrics", "Song", "[Verse 1]\nA line of a song  \n" * 5),
        Record("genius:1", "genius", "lyrics", "Unknown", "[?]"),
        Record("python-source:f", "python-source", "verbatim", "f.py", code, tags="a b"),
        Record("", "arxiv", "prose", "No id", "A paper without an id, long enough to be kept."),
    ]
    path = tmp_path / "raw.csv"
    write_records_csv(path, records)
    result = clean_corpora([raw_input(path, "general")], CleanConfig(min_chars=20))
    frame = result.general
    assert list(frame["id"][:3]) == ["arxiv:2202.12139v1", "genius:378195", "python-source:f"]
    assert re.fullmatch(r"arxiv:[0-9a-f]{16}", frame["id"].iloc[3])
    assert list(frame["source"]) == ["arxiv", "genius", "python-source", "arxiv"]
    assert frame["title"].iloc[0] == "A title"
    assert frame["text"].iloc[0] == ("An abstract wrapped " * 5).strip()
    assert frame["text"].iloc[1] == "\n".join(["A line of a song"] * 5)
    assert frame["text"].iloc[2] == (
        "def f(x):\n    return x\n\n\nclass C:\n    '''A class with a docstring.'''"
    )
    assert frame["tags"].iloc[2] == "a b"
    assert result.report["dropped"] == dropped(empty=1)


# ------------------------------------------------------------------ fields


@pytest.mark.parametrize(
    ("value", "repaired"),
    [
        ("704.0001", "0704.0001"),
        ("704.001", "0704.0010"),
        ("704.01", "0704.0100"),
        ("704.1", "0704.1000"),
        ("912.1234", "0912.1234"),
        ("1001.001", "1001.0010"),
        ("1501.0001", "1501.00010"),  # five-digit numbers from 2015
        ("0704.0001", "0704.0001"),
        ("2202.12139", "2202.12139"),
        ("2202.12139v1", "2202.12139v1"),
        ("hep-th/9901001", "hep-th/9901001"),
        ("math/0001001v2", "math/0001001v2"),
        ("913.1", "913.1"),  # month 13: not an arXiv id
        ("704.12345", "704.12345"),  # too many digits for 2007
    ],
)
def test_repair_arxiv_id(value: str, repaired: str) -> None:
    assert repair_arxiv_id(value) == repaired


@pytest.mark.parametrize(
    ("value", "tags"),
    [
        ("['cs.CV', 'cs.LG', 'eess.IV']", "cs.CV cs.LG eess.IV"),
        ("['cs.CV']", "cs.CV"),
        ("[]", ""),
        ("('a', 'b')", "('a', 'b')"),  # only lists are unpacked
        ("['cs.LG', 'I.2.6; I.2.7']", "cs.LG I.2.6; I.2.7"),
        ("math.CO  cs.CG", "math.CO cs.CG"),
        ("[14] ", "[14]"),  # a list, but not of strings: kept as text
        ("[not python", "[not python"),
        ("['a', __import__('os')]", "['a', __import__('os')]"),  # never evaluated
        ("", ""),
    ],
)
def test_parse_tags(value: str, tags: str) -> None:
    assert parse_tags(value) == tags


def test_split_is_a_stable_function_of_the_id() -> None:
    ids = [f"doc:{i}" for i in range(10_000)]
    splits = [split_of(i, 0.1) for i in ids]
    assert splits == [split_of(i, 0.1) for i in ids]
    assert 900 <= splits.count("val") <= 1100
    assert split_of("doc:0", 0.999999) == "val" and split_of("doc:0", 1e-9) == "train"


def test_extra_input_joins_the_root_and_defaults_the_source(tmp_path: Path) -> None:
    extra = ExtraCsv(
        path="data/external/my_songs.csv",
        corpus="domain",
        kind="lyrics",
        columns={"text": "lyrics"},
        encoding="latin-1",
    )
    inp = extra_input(extra, tmp_path, 3)
    assert inp.path == tmp_path / "data/external/my_songs.csv"
    assert (inp.source, inp.kind, inp.encoding, inp.label) == (
        "my_songs",
        "lyrics",
        "latin-1",
        "clean.extra_csv[3]",
    )


# --------------------------------------------------------------- bad input


def extra(path: str, columns: dict[str, str] | None = None, encoding: str = "utf-8") -> ExtraCsv:
    return ExtraCsv(
        path=path,
        corpus="domain",
        kind="lyrics",
        columns=columns or {"text": "text"},
        encoding=encoding,
    )


def data_error(inp: CsvInput) -> str:
    with pytest.raises(DataError) as info:
        clean_corpora([inp], CFG)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(inp.path))
    return message


def test_missing_file(tmp_path: Path) -> None:
    message = data_error(extra_input(extra("nope.csv"), tmp_path, 0))
    assert "file not found" in message and "clean.extra_csv[0].path" in message
    assert "file not found" in data_error(raw_input(tmp_path / "raw.csv", "general"))


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"\xef\xbb\xbf"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "empty.csv").write_bytes(content)
    assert "is empty" in data_error(extra_input(extra("empty.csv"), tmp_path, 0))


def test_wrong_encoding_names_the_byte_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "latin.csv").write_bytes(
        "text\nCaf\u00e9 au lait et d\u00e9jeuner\n".encode("latin-1")
    )
    message = data_error(extra_input(extra("latin.csv"), tmp_path, 2))
    assert "not valid utf-8 at byte 8 (b'\\xe9 au')" in message
    assert "clean.extra_csv[2].encoding" in message and "latin-1" in message
    records, _ = read_records(extra_input(extra("latin.csv", encoding="latin-1"), tmp_path))
    assert records[0].text == "Café au lait et déjeuner"


def test_missing_column_lists_the_columns_found(fixtures: Path) -> None:
    wrong = extra(SONGDATA.path, {"title": "song", "text": "lyrics"})
    message = data_error(extra_input(wrong, fixtures, 1))
    assert "no column 'lyrics' for clean.extra_csv[1].columns.text" in message
    assert "columns found: 'artist', 'song', 'link', 'text'" in message


def test_missing_column_in_a_raw_csv(tmp_path: Path) -> None:
    write_csv(tmp_path / "raw.csv", ["id", "text"], [["x", "y"]])
    message = data_error(raw_input(tmp_path / "raw.csv", "general"))
    assert "no column 'source'" in message and "crawl stage" in message


def test_unknown_kind_in_a_raw_csv(tmp_path: Path) -> None:
    write_records_csv(tmp_path / "raw.csv", [Record("a:1", "a", "poetry", "T", "text")])
    message = data_error(raw_input(tmp_path / "raw.csv", "general"))
    assert "record 1 has kind 'poetry'" in message


@pytest.mark.parametrize(
    "content",
    [
        random.Random(0).randbytes(4096),
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00",
    ],
    ids=["random-bytes", "png"],
)
def test_binary_file_is_not_a_csv(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "image.csv").write_bytes(content)
    message = data_error(extra_input(extra("image.csv"), tmp_path, 0))
    assert "binary data" in message and "not a CSV" in message


def test_malformed_csv(tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("text,title\nfine,row\none,two,three\n", encoding="utf-8")
    message = data_error(extra_input(extra("bad.csv"), tmp_path, 0))
    assert "not a well-formed CSV" in message and "Expected 2 fields in line 3, saw 3" in message


# ----------------------------------------------------------------- writing


def test_write_parquet_round_trips_atomically(
    tmp_path: Path, results: dict[str, CleanResult]
) -> None:
    frame = results["acatlin"].domain
    dest = tmp_path / "clean" / "domain.parquet"
    write_parquet(frame, dest)
    pd.testing.assert_frame_equal(pd.read_parquet(dest), frame, check_dtype=False)
    assert [p.name for p in dest.parent.iterdir()] == ["domain.parquet"]


def test_a_failed_write_leaves_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, results: dict[str, CleanResult]
) -> None:
    dest = tmp_path / "domain.parquet"
    write_parquet(results["acatlin"].domain, dest)
    before = dest.read_bytes()

    def half_write(self: pd.DataFrame, path: Path, **kwargs: object) -> None:
        Path(path).write_bytes(b"PAR1 half")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_write)
    with pytest.raises(OSError, match="disk full"):
        write_parquet(results["songdata"].domain, dest)
    assert dest.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["domain.parquet"]
