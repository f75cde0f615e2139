"""programs/ablation_figures.py: the softmax spread it computes, its figures from logged runs, its errors."""

import math

import pytest
from torch.utils.tensorboard import SummaryWriter

from lab_errors import InputError, MissingInputError
from programs import ablation_figures

RUNS = ["lm", "no_residual", "post_norm", "no_norm", "unscaled", "one_head", "unscaled_one_head"]


def test_unscaled_scores_saturate_the_softmax_as_d_k_grows_and_scaled_ones_do_not():
    scaled = [ablation_figures.softmax_spread(d, scaled=True) for d in (4, 64, 512)]
    unscaled = [ablation_figures.softmax_spread(d, scaled=False) for d in (4, 64, 512)]
    # Scaled scores have unit variance whatever d_k: the same entropy, near but below uniform (ln 128 ≈ 4.85).
    assert all(4.0 < h < math.log(128) for h, _ in scaled)
    assert max(h for h, _ in scaled) - min(h for h, _ in scaled) < 0.15
    # Unscaled scores spread as √d_k: at 512 the largest score takes nearly all the weight.
    assert [h for h, _ in unscaled] == sorted((h for h, _ in unscaled), reverse=True)
    assert unscaled[-1][1] > 0.7 and unscaled[-1][0] < 1.0


def write_run(folder, blocks=3, steps=(0, 10, 20)):
    with SummaryWriter(folder / "version_0") as writer:
        for step in steps:
            writer.add_scalar("val/bpc", 5.0 - step / 10, step)
            for i in range(blocks):
                for quantity in ("grad_norm", "rms", "attn_entropy", "attn_max"):
                    writer.add_scalar(f"depth/{quantity}/block_{i}", 1.0 + i + step, step)


def test_draws_the_three_figures_and_names_what_is_missing(tmp_path, capsys):
    for name in RUNS:
        write_run(tmp_path / "runs" / name)
    out = tmp_path / "figures"
    ablation_figures.main([str(tmp_path / "runs"), "--out", str(out), "--early-step", "10"])
    for figure in ("ablation_residual.png", "ablation_norm.png", "ablation_scale.png"):
        assert (out / figure).stat().st_size > 10_000
    with pytest.raises(SystemExit):
        ablation_figures.main([str(tmp_path / "runs"), "--out", str(out), "--early-step", "15"])
    assert "depth/grad_norm/block_0 was not logged at step 15" in capsys.readouterr().err
    (tmp_path / "runs" / "post_norm" / "version_0").rename(tmp_path / "runs" / "post_norm" / "old")
    with pytest.raises(SystemExit):
        ablation_figures.main([str(tmp_path / "runs"), "--out", str(out), "--early-step", "10"])
    assert "post_norm: no version_N run folder" in capsys.readouterr().err


def test_a_run_without_depth_statistics_is_an_error(tmp_path):
    with SummaryWriter(tmp_path / "lm" / "version_0") as writer:
        writer.add_scalar("val/bpc", 3.0, 0)
    scalars = ablation_figures.load(tmp_path, ["lm"])["lm"]
    with pytest.raises(InputError, match="depth/rms/block_i"):
        ablation_figures.per_block(scalars, "rms", "lm", None)
    with pytest.raises(MissingInputError, match="no version_N"):
        ablation_figures.load(tmp_path, ["no_norm"])
