"""The callbacks every run gets: the prediction table's rows (the others run through the CLI in test_cli.py)."""

import torch

from lightning_modules.callbacks import prediction_rows


def test_two_classes_give_the_probability_of_the_positive_one():
    rows = prediction_rows(torch.tensor([[0.2, 0.8], [0.9, 0.1]]), ["a  fine\nfilm", ""])
    assert rows == ["line\tp_positive\ttext", "1\t0.8000\ta fine film", "2\t0.1000\t"]


def test_more_classes_give_the_predicted_one_and_every_probability():
    probabilities = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]])
    rows = prediction_rows(probabilities, ["x", "y"], number="example")
    assert rows[0] == "example\tclass\tp_0\tp_1\tp_2\ttext"
    assert rows[1:] == ["1\t1\t0.1000\t0.7000\t0.2000\tx", "2\t0\t0.5000\t0.2000\t0.3000\ty"]
