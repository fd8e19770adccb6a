"""The builtin corpora: text that ships with every Python install, offline and deterministic.

- general: Python's documentation, the `pydoc_data` topics (the language reference
  as `help()` shows it) and then the docstrings of public standard-library modules,
  read with `ast` (never imported: some modules act on import).
- domain: the standard library's source code, one file per record, in a stable
  pseudo-random order (a hash of the path) so that a size cap samples all of it.

Both come as records of the same schema as the web crawl, so every later stage is the same.
"""

from __future__ import annotations

import ast
import hashlib
import sysconfig
import tokenize
from collections.abc import Iterable, Iterator
from pathlib import Path
from pydoc_data.topics import topics

from nanoforge.data.records import Record

# Folders of tests and demos, whose text is not documentation of the library.
SKIP_PARTS = frozenset(
    {"site-packages", "dist-packages", "test", "tests", "idle_test", "turtledemo"}
)
# Larger files would crowd the domain sample (a few generated tables are huge).
MAX_SOURCE_CHARS = 40_000


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_files(root: Path) -> list[Path]:
    """Public standard-library `.py` files under `root`, sorted by relative path."""
    files = []
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).parts
        if any(p.startswith(("_", ".")) or p in SKIP_PARTS for p in parts[:-1]):
            continue
        if parts[-1].startswith("_") and parts[-1] != "__init__.py":
            continue
        files.append(path)
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def read_source(path: Path) -> str:
    """Source text, decoded as Python itself would (PEP 263 coding cookies)."""
    with tokenize.open(path) as f:
        return f.read()


def docstrings(source: str, module: str) -> str:
    """The module's docstring and those of its classes and functions, each under its name."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ""
    blocks = []
    if doc := ast.get_docstring(tree):
        blocks.append(doc)
    for node, qualname in _definitions(tree.body, module):
        if doc := ast.get_docstring(node):
            blocks.append(f"{qualname}\n{doc}")
    return "\n\n".join(blocks)


def _definitions(body: list[ast.stmt], prefix: str) -> Iterator[tuple[ast.AST, str]]:
    for node in body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name.startswith("_"):
                continue
            qualname = f"{prefix}.{node.name}"
            yield node, qualname
            if isinstance(node, ast.ClassDef):
                yield from _definitions(node.body, qualname)


def _take(records: Iterable[Record], max_chars: int) -> Iterator[Record]:
    """Whole records, in order, until `max_chars` characters have been taken."""
    total = 0
    for record in records:
        if total >= max_chars:
            return
        total += len(record.text)
        yield record


def general_records(max_chars: int, root: Path | None = None) -> Iterator[Record]:
    """Python documentation: pydoc topics, then module docstrings; about `max_chars` chars."""
    root = root or stdlib_dir()

    def all_docs() -> Iterator[Record]:
        for name in sorted(topics):
            yield Record(
                id=f"python-docs:topic:{name}",
                source="python-docs",
                kind="verbatim",
                title=name,
                text=topics[name],
                url="https://docs.python.org/3/reference/",
            )
        for path in stdlib_files(root):
            module = module_name(path, root)
            if text := docstrings(read_source(path), module):
                yield Record(
                    id=f"python-docs:module:{module}",
                    source="python-docs",
                    kind="verbatim",
                    title=module,
                    text=text,
                    url=f"https://docs.python.org/3/library/{module.split('.')[0]}.html",
                )

    return _take(all_docs(), max_chars)


def domain_records(max_chars: int, root: Path | None = None) -> Iterator[Record]:
    """Standard-library source files in a stable hash order; about `max_chars` chars."""
    root = root or stdlib_dir()

    def rank(path: Path) -> str:
        return hashlib.sha256(path.relative_to(root).as_posix().encode()).hexdigest()

    def all_sources() -> Iterator[Record]:
        for path in sorted(stdlib_files(root), key=rank):
            text = read_source(path)
            if not text.strip() or len(text) > MAX_SOURCE_CHARS:
                continue
            rel = path.relative_to(root).as_posix()
            yield Record(
                id=f"python-source:{rel}",
                source="python-source",
                kind="verbatim",
                title=module_name(path, root),
                text=text,
                url=f"https://github.com/python/cpython/blob/main/Lib/{rel}",
            )

    return _take(all_sources(), max_chars)
