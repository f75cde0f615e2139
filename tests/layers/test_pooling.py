"""Pooling over real tokens: padding never counts, rows without real tokens give zeros."""

import pytest
import torch

from layers.pooling import Pool, masked_max, masked_mean
from tests.utils import assert_close, padding_mask


def test_pools_ignore_padding_and_all_padding_rows_give_zeros():
    x = torch.randn(3, 4, 5)
    mask = padding_mask([4, 2, 0], 4)
    x_garbage = x.clone()
    x_garbage[~mask] = 1e4
    assert_close(masked_mean(x_garbage, mask)[1], x[1, :2].mean(0))
    assert_close(masked_max(x_garbage, mask)[1], x[1, :2].amax(0))
    assert (masked_mean(x_garbage, mask)[2] == 0).all() and (masked_max(x_garbage, mask)[2] == 0).all()
    assert_close(Pool("first")(x, mask), x[:, 0])
    with pytest.raises(ValueError, match="unknown pool"):
        Pool("avg")
