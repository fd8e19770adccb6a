"""The builtin corpora: Python's own docs and source, offline, deterministic, capped."""

from __future__ import annotations

from pathlib import Path
from pydoc_data.topics import topics

from nanoforge.data.builtin import (
    docstrings,
    domain_records,
    general_records,
    module_name,
    stdlib_dir,
    stdlib_files,
)


def test_general_corpus_starts_with_the_pydoc_topics_in_sorted_order() -> None:
    records = list(general_records(200_000))
    first = sorted(topics)[0]
    assert records[0].id == f"python-docs:topic:{first}"
    assert records[0].text == topics[first]
    assert [r.title for r in records] == sorted(topics)[: len(records)]


def test_general_corpus_goes_on_with_module_docstrings() -> None:
    total_topics = sum(len(t) for t in topics.values())
    records = list(general_records(total_topics + 50_000))
    modules = [r for r in records if r.id.startswith("python-docs:module:")]
    assert modules, "docstrings follow the topics"
    assert all(r.source == "python-docs" and r.kind == "verbatim" for r in records)


def test_caps_take_whole_records_until_the_cap_is_reached() -> None:
    cap = 300_000
    for records in (list(general_records(cap)), list(domain_records(cap))):
        sizes = [len(r.text) for r in records]
        assert sum(sizes) >= cap and sum(sizes[:-1]) < cap


def test_corpora_are_deterministic_and_ids_unique() -> None:
    a, b = list(domain_records(200_000)), list(domain_records(200_000))
    assert a == b
    general = list(general_records(1_000_000))
    assert len({r.id for r in general}) == len(general)


def test_domain_corpus_is_source_code_without_tests() -> None:
    records = list(domain_records(500_000))
    assert all(r.id.startswith("python-source:") and r.kind == "verbatim" for r in records)
    assert not any("/test/" in r.id or "/tests/" in r.id for r in records)
    path = stdlib_dir() / records[0].id.removeprefix("python-source:")
    assert path.read_text(encoding="utf-8") == records[0].text


def test_private_and_test_modules_are_left_out() -> None:
    root = stdlib_dir()
    names = {module_name(p, root) for p in stdlib_files(root)}
    assert {"json", "json.decoder", "argparse"} <= names
    assert not any(n.startswith("_") or n.startswith("test.") for n in names)


def test_docstrings_are_read_without_importing(tmp_path: Path) -> None:
    source = (
        '"""Module doc."""\n'
        "raise SystemExit('importing me would exit')\n"
        "class Greeter:\n"
        '    """Says hello."""\n'
        "    def greet(self):\n"
        '        """Return a greeting."""\n'
        "def _private():\n"
        '    """Hidden."""\n'
    )
    assert docstrings(source, "hello") == (
        "Module doc.\n\nhello.Greeter\nSays hello.\n\nhello.Greeter.greet\nReturn a greeting."
    )
