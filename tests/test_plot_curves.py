"""plot_curves.py draws the metrics a run logged."""

from pathlib import Path

import pytest
from torch.utils.tensorboard import SummaryWriter

import plot_curves


def fake_run(folder: Path, tags: list[str]) -> Path:
    writer = SummaryWriter(str(folder))
    for step in range(5):
        for tag in tags:
            writer.add_scalar(tag, 1.0 / (step + 1), step * 10)
    writer.close()
    return folder


def test_defaults_follow_what_the_run_logged_and_a_png_is_written(tmp_path):
    lm = fake_run(tmp_path / "lm/version_0", ["train/loss", "val/bpc", "train/grad_norm", "epoch"])
    out = tmp_path / "lm.png"
    assert plot_curves.plot([lm], None, "step", out) == ["train/loss", "val/bpc", "train/grad_norm"]
    assert out.read_bytes()[:4] == b"\x89PNG"
    clf = fake_run(tmp_path / "clf/version_0", ["train/loss_epoch", "val/loss", "val/acc"])
    assert plot_curves.plot([clf, lm], ["val/loss"], "epoch", tmp_path / "c.png") == ["val/loss"]


def test_a_folder_without_logs_is_an_error(tmp_path):
    with pytest.raises(SystemExit, match="no TensorBoard scalars"):
        plot_curves.plot([tmp_path], None, "step", tmp_path / "x.png")
