"""next_token: greedy at temperature 0, otherwise a draw from softmax(logits / T)."""

import torch

from layers.generation import next_token


def test_temperature_divides_the_logits_before_the_softmax():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]]).repeat(20000, 1)
    generator = torch.Generator().manual_seed(0)
    for temperature in (0.5, 1.0, 2.0):
        drawn = next_token(logits, temperature=temperature, generator=generator)
        assert drawn.shape == (20000,) and drawn.dtype == torch.long
        frequencies = torch.bincount(drawn, minlength=4).double() / len(drawn)
        expected = (logits[0].double() / temperature).softmax(-1)
        assert torch.allclose(frequencies, expected, atol=0.015), (temperature, frequencies, expected)
    assert torch.equal(next_token(logits[:3], temperature=0), torch.zeros(3, dtype=torch.long))
