"""Shared test setup: no network, deterministic seeds, few threads."""

import os

# Set before anything imports transformers/datasets/huggingface_hub: a hub miss otherwise retries for ~45 s.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

import sys

import pytest
import torch


@pytest.fixture(autouse=True)
def seed() -> int:
    """Every test starts from the same random state."""
    torch.manual_seed(0)
    return 0


@pytest.fixture(scope="session")
def corpora(tmp_path_factory) -> dict:
    """Fixture corpora in the real layouts, written once per test session (see tests/fixtures.py)."""
    from tests import fixtures

    root = tmp_path_factory.mktemp("corpora")
    yelp_train, yelp_test = fixtures.write_yelp(root / "yelp")
    return {
        "root": root,
        "cache": root / "cache",
        "imdb_dir": fixtures.write_acl_imdb(root / "imdb_dir"),
        "imdb_tar": fixtures.write_acl_imdb(root / "imdb_tar", as_tar=True),
        "glove": fixtures.write_glove(root / "glove.50d.txt.gz", fixtures.vocabulary_words()),
        "reviews_train": fixtures.write_reviews_tsv(root / "sample_train.txt"),
        "reviews_dev": fixtures.write_reviews_tsv(root / "dev.txt", seed=1, offset=1000),
        "yelp_train": yelp_train,
        "yelp_test": yelp_test,
        "enwik8": fixtures.write_enwik8(root / "enwik8.gz"),
    }


@pytest.fixture
def cli_in_tmp_path(tmp_path, monkeypatch):
    """For tests that run the CLI: runs/ is created in a fresh folder, and argv is not pytest's."""
    monkeypatch.chdir(tmp_path)  # runs/ is created relative to the working directory
    monkeypatch.setattr(sys, "argv", ["train.py"])  # the CLI gets `args`
    return tmp_path
