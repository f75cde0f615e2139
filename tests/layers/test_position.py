"""Sinusoidal and learned position embeddings."""

import math

import pytest
import torch

from layers.position import (
    LearnedPositionEmbedding,
    SinusoidalPositionEncoding,
    build_positions,
    sinusoidal_table,
)
from tests.utils import assert_close


@pytest.mark.parametrize("d_model", [8, 7])
def test_sinusoidal_table_follows_the_formula(d_model):
    table = sinusoidal_table(20, d_model)
    for pos in range(20):
        for j in range(d_model):
            angle = pos / 10000 ** (2 * (j // 2) / d_model)
            expected = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert table[pos, j].item() == pytest.approx(expected, abs=1e-6)


def test_positions_are_added_along_time_with_an_offset():
    enc = SinusoidalPositionEncoding(6, max_len=30)
    x = torch.zeros(2, 5, 6)
    assert_close(enc(x), sinusoidal_table(30, 6)[:5].expand(2, 5, 6))
    assert_close(enc(x, offset=10), sinusoidal_table(30, 6)[10:15].expand(2, 5, 6))
    assert list(enc.parameters()) == [] and "table" not in enc.state_dict()

    learned = LearnedPositionEmbedding(6, 30)
    y = torch.randn(2, 5, 6)
    assert_close(learned(y, offset=3), y + learned.embedding.weight[3:8])


def test_too_long_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="max_len=8"):
        LearnedPositionEmbedding(4, 8)(torch.zeros(1, 9, 4))
    with pytest.raises(ValueError, match="unknown position kind"):
        build_positions("rotary", 4, 8)
    assert build_positions("none", 4, 8) is None
