"""Stage scripts as a user runs them: one error line, a non-zero exit, outputs kept whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from arxiv_server import PATH, arxiv_routes
from conftest import ROOT
from loopback import LoopbackServer, Query, Reply
from repo_copy import set_params

STAGES = ROOT / "stages"


def workspace(tmp_path: Path, params: dict[str, object] | None = None) -> Path:
    """A folder to run stages in, with the project's params.yaml (updated by `params`)."""
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text(encoding="utf-8"))
    set_params(tmp_path, params or {})
    return tmp_path


def start_stage(name: str, cwd: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(STAGES / f"{name}.py")],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_stage(name: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    proc = start_stage(name, cwd, **env)
    stdout, stderr = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The stage's one `error:` line (tqdm and logging may print before it)."""
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return errors[0]


def test_a_params_typo_fails_with_one_line_and_writes_nothing(tmp_path: Path) -> None:
    cwd = workspace(tmp_path)
    with (cwd / "params.yaml").open("a", encoding="utf-8") as f:
        f.write("tokeniser: {}\n")
    result = run_stage("crawl_arxiv", cwd)
    assert error_line(result) == (
        "error: params.yaml: tokeniser is not a known key; did you mean 'tokenizer'?"
    )
    assert not (cwd / "data").exists() and not (cwd / "reports").exists()


def test_web_lyrics_without_a_token_says_how_to_set_it(tmp_path: Path) -> None:
    cwd = workspace(tmp_path, {"data.source": "web"})
    env = {k: v for k, v in os.environ.items() if k != "GENIUS_ACCESS_TOKEN"}
    proc = subprocess.run(
        [sys.executable, str(STAGES / "crawl_lyrics.py")],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "GENIUS_ACCESS_TOKEN" in error_line(proc)
    assert not (cwd / "data/raw/lyrics.csv").exists()


def test_a_failed_crawl_keeps_the_previous_output_whole(fixtures: Path, tmp_path: Path) -> None:
    with LoopbackServer(arxiv_routes(fixtures)) as server:
        cwd = workspace(
            tmp_path,
            {
                "data.source": "web",
                "crawl.arxiv.base_url": server.url + PATH,
                "crawl.arxiv.query": "",
                "crawl.arxiv.id_list": ["abc"],
                "crawl.arxiv.min_interval_s": 0.0,
            },
        )
        previous = b"id,source,kind,title,text,url,authors,tags,date\r\nx,y,prose,t,text,,,,\r\n"
        (cwd / "data/raw").mkdir(parents=True)
        (cwd / "data/raw/arxiv.csv").write_bytes(previous)
        result = run_stage("crawl_arxiv", cwd)
    assert "arXiv API error: incorrect id format for abc" in error_line(result)
    assert (cwd / "data/raw/arxiv.csv").read_bytes() == previous
    assert sorted(p.name for p in (cwd / "data/raw").iterdir()) == ["arxiv.csv"]  # no temp left


def test_a_killed_crawl_resumes_with_only_the_missing_requests(
    fixtures: Path, tmp_path: Path
) -> None:
    routes = arxiv_routes(fixtures)
    serve = routes[PATH]
    slow = [30.0]  # seconds page 2 takes: long enough to kill the crawl while it waits

    def slow_second_page(query: Query) -> Reply:
        if query.get("start") == "10":
            time.sleep(slow[0])
        return serve(query)

    with LoopbackServer({PATH: slow_second_page}) as server:
        cwd = workspace(
            tmp_path,
            {
                "data.source": "web",
                "crawl.arxiv.base_url": server.url + PATH,
                "crawl.arxiv.query": "testing",
                "crawl.arxiv.categories": [],
                "crawl.arxiv.sort_by": "relevance",
                "crawl.arxiv.max_results": 20,
                "crawl.arxiv.page_size": 10,
                "crawl.arxiv.min_interval_s": 0.0,
            },
        )
        proc = start_stage("crawl_arxiv", cwd)
        deadline = time.monotonic() + 60
        while server.hits(PATH) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # wait until page 1 is cached and page 2 is in flight
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        assert not (cwd / "data/raw/arxiv.csv").exists()
        first_run = list(server.log)

        slow[0] = 0.0
        result = run_stage("crawl_arxiv", cwd)
        assert result.returncode == 0, result.stderr
        resumed = server.log[len(first_run) :]
    assert [r.split("&start=")[1].split("&")[0] for r in first_run] == ["0", "10"]
    assert [r.split("&start=")[1].split("&")[0] for r in resumed] == ["10"]
    lines = (cwd / "data/raw/arxiv.csv").read_text(encoding="utf-8")
    assert lines.count("arxiv:") == 20


@pytest.mark.parametrize("stage", ["crawl_arxiv", "crawl_lyrics"])
def test_builtin_crawl_stages_write_records_and_a_report(stage: str, tmp_path: Path) -> None:
    cwd = workspace(
        tmp_path,
        {"data.builtin.general_max_chars": 20_000, "data.builtin.domain_max_chars": 20_000},
    )
    result = run_stage(stage, cwd)
    assert result.returncode == 0, result.stderr
    report = (cwd / f"reports/{stage}.json").read_text(encoding="utf-8")
    assert '"source": "builtin"' in report and '"requests": 0' in report


RAW_HEADER = "id,source,kind,title,text,url,authors,tags,date\n"
GOOD_TEXT = "A sentence long enough to pass the length filter of the cleaner, and then some more."


def clean_workspace(tmp_path: Path, extra_csv: bytes) -> Path:
    """Raw CSVs, one extra CSV with `extra_csv` bytes, and a previous clean output."""
    cwd = workspace(
        tmp_path,
        {
            "clean.extra_csv": [
                {
                    "path": "data/external/mine.csv",
                    "corpus": "domain",
                    "kind": "lyrics",
                    "columns": {"title": "song", "text": "lyrics"},
                }
            ]
        },
    )
    (cwd / "data/raw").mkdir(parents=True)
    for name, corpus in (("arxiv", "general"), ("lyrics", "domain")):
        row = f'{corpus}:1,{name},prose,A title,"{GOOD_TEXT} ({corpus})",,,,\n'
        (cwd / f"data/raw/{name}.csv").write_text(RAW_HEADER + row, encoding="utf-8")
    (cwd / "data/external").mkdir(parents=True)
    (cwd / "data/external/mine.csv").write_bytes(extra_csv)
    (cwd / "data/clean").mkdir(parents=True)
    for corpus in ("general", "domain"):
        (cwd / f"data/clean/{corpus}.parquet").write_bytes(b"previous " + corpus.encode())
    return cwd


def test_clean_csv_with_a_good_extra_csv_writes_both_corpora(tmp_path: Path) -> None:
    csv = f'song,lyrics\nMine,"{GOOD_TEXT}\n[Chorus x2]\nLa la la"\n'.encode()
    cwd = clean_workspace(tmp_path, csv)
    result = run_stage("clean_csv", cwd)
    assert result.returncode == 0, result.stderr
    domain = pd.read_parquet(cwd / "data/clean/domain.parquet")
    assert len(domain) == 2
    mine = domain[domain["source"] == "mine"].iloc[0]
    assert mine["title"] == "Mine" and mine["text"] == f"{GOOD_TEXT}\nLa la la"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"song,words\nMine,hello\n", "no column 'lyrics' for clean.extra_csv[0].columns.text"),
        ("song,lyrics\nCafé,été\n".encode("latin-1"), "not valid utf-8 at byte"),
        (b"", "the file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary data"),
    ],
    ids=["missing-column", "wrong-encoding", "empty", "not-a-csv"],
)
def test_clean_csv_bad_input_is_one_line_and_keeps_previous_outputs(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    cwd = clean_workspace(tmp_path, content)
    line = error_line(run_stage("clean_csv", cwd))
    assert line.startswith("error: data/external/mine.csv: ") and expected in line
    for corpus in ("general", "domain"):
        previous = b"previous " + corpus.encode()
        assert (cwd / f"data/clean/{corpus}.parquet").read_bytes() == previous
    assert sorted(p.name for p in (cwd / "data/clean").iterdir()) == [
        "domain.parquet",
        "general.parquet",
    ]


def test_train_bpe_on_an_empty_train_split_is_one_error_line(tmp_path: Path) -> None:
    cwd = workspace(tmp_path)
    frame = pd.DataFrame(
        {"id": ["a:1"], "source": ["a"], "title": [""], "text": ["only val"], "tags": [""],
         "split": ["val"]}
    )  # fmt: skip
    (cwd / "data/clean").mkdir(parents=True)
    frame.to_parquet(cwd / "data/clean/general.parquet", index=False)
    line = error_line(run_stage("train_bpe", cwd))
    assert line.startswith("error: the training corpus is empty")
    assert not (cwd / "data/tokenizer").exists()


def test_encode_memmap_refuses_a_future_tokenizer_file(tmp_path: Path) -> None:
    cwd = workspace(tmp_path)
    (cwd / "data/tokenizer").mkdir(parents=True)
    (cwd / "data/tokenizer/tokenizer.json").write_text(
        '{"format": "nanoforge-tokenizer", "version": 2, "kind": "bpe"}'
    )
    line = error_line(run_stage("encode_memmap", cwd))
    assert "tokenizer format version 2, this nanoforge reads version 1" in line
    assert not (cwd / "data/tokens").exists()
