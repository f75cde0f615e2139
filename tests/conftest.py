"""Shared test setup: no network, deterministic seeds, few threads."""

import os

# Set before anything imports transformers/datasets/huggingface_hub: a hub miss otherwise retries for ~45 s.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"

import pytest
import torch


@pytest.fixture(autouse=True)
def seed() -> int:
    """Every test starts from the same random state."""
    torch.manual_seed(0)
    return 0
