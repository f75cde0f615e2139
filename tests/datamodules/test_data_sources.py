"""docs/data_sources.md names the exact files the results were measured on: each file's size and SHA-256 in
its table equal the file's, wherever the corpora are present (the configs' `data/` folder, or the corpora
folder beside the repository that the development machines and CI have)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "data_sources.md"
CANDIDATES = (ROOT / "data", ROOT.parent / "shared" / "data")


def documented() -> dict[str, tuple[int, str]]:
    rows = re.findall(r"^\| `([^`]+)` \| (\d+) \| `([0-9a-f]{64})` \|$", PAGE.read_text(), flags=re.M)
    return {name: (int(size), digest) for name, size, digest in rows}


def test_the_page_lists_every_corpus_the_configs_read():
    files = documented()
    assert len(files) == 7
    read = set()
    for config in (ROOT / "configs").rglob("*.yaml"):
        read.update(re.findall(r"data/([\w./-]+\.(?:gz|json|txt))", config.read_text()))
    assert read <= set(files), f"configs read undocumented files: {sorted(read - set(files))}"


def test_sizes_and_digests_match_the_files_where_they_are_present():
    folder = next((c for c in CANDIDATES if c.is_dir()), None)
    if folder is None:
        pytest.skip("no corpora folder (data/ or the one beside the repository)")
    for name, (size, digest) in documented().items():
        path = folder / name
        assert path.is_file(), f"{path} is missing"
        assert path.stat().st_size == size, name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, name
