"""Two processes on the CPU (DDP over gloo): what multi-GPU training relies on, short of GPUs. In the default
suite: a change that breaks multi-process runs (a callback that only rank 0 reaches, a file both write) shows
here, not on the first GPU machine."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


# The language model's run stays in the default suite (its sampler is distributed and resumable); the classifier's
# (Lightning's DistributedSampler put into the lab's loader) is slow-marked for the suite's time.
@pytest.mark.parametrize(
    "config",
    ["configs/toy_lm/transformer.yaml", pytest.param("configs/imdb_synth/transformer.yaml", marks=pytest.mark.slow)],
)
def test_ddp_with_two_cpu_processes_trains_and_validates(config, tmp_path):
    small = {
        "configs/toy_lm/transformer.yaml": [
            "--data.init_args.train_chars",
            "4000",
            "--data.init_args.val_chars",
            "800",
            "--data.init_args.batches_per_epoch",
            "4",
            "--data.init_args.last_token_batches",
            "2",
        ],
        "configs/imdb_synth/transformer.yaml": [
            "--data.init_args.train_size",
            "512",
            "--data.init_args.val_size",
            "128",
            "--data.init_args.test_size",
            "64",
        ],
    }[config]
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "fit",
        "--config",
        str(ROOT / config),
        *small,
        "--trainer.max_epochs",
        "2",
        "--trainer.accelerator",
        "cpu",
        "--trainer.devices",
        "2",
        "--trainer.strategy",
        "ddp",
        "--trainer.enable_progress_bar",
        "false",
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = tmp_path / "runs" / Path(config).relative_to("configs").with_suffix("") / "version_0"
    assert (run_dir / "checkpoints/last.ckpt").exists() and not list(run_dir.glob("checkpoints/.*.partial"))
    assert not list(tmp_path.glob("runs/*/*/version_1"))  # both processes logged into one run
