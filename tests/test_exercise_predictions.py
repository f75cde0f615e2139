"""What the exercise predicts, shown by the shipped configs on smaller generated data.

XOR: a mean-pooled bag of words and parameter-free attention with the first-token summary cannot separate
the mixed pair from both pure ones (0.75 at most); a transformer with positions reaches 1.0. IMDb-synth: a
bag of words stays at chance (0.5); parameter-free self-attention followed by a mean pool solves it.
The full-size runs and their figures are in the README.
"""

from pathlib import Path

import pytest

from lightning_modules.cli import LabCLI
from tests.utils import RecordMetric

ROOT = Path(__file__).resolve().parents[1]
SIZES = ["--data.init_args.val_size", "1000", "--data.init_args.test_size", "100"]
QUIET = [
    "--trainer.logger",
    "false",
    "--trainer.enable_checkpointing",
    "false",
    "--trainer.enable_progress_bar",
    "false",
]


pytestmark = pytest.mark.usefixtures("cli_in_tmp_path")


def best_val_acc(config: str, train_size: int, epochs: int) -> float:
    """The best val/acc of `configs/<config>.yaml` trained on `train_size` generated examples."""
    args = ["--config", str(ROOT / "configs" / f"{config}.yaml"), *SIZES, *QUIET]
    args += ["--data.init_args.train_size", str(train_size), "--trainer.max_epochs", str(epochs)]
    cli = LabCLI(args=args, run=False)
    recorder = RecordMetric("val/acc")
    cli.trainer.callbacks.append(recorder)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return max(recorder.values)


@pytest.mark.parametrize("config", ["xor/baseline", "xor/simple_attention"])
def test_xor_without_positions_never_passes_three_quarters(config):
    # The cap, not the value: on this little data cross-entropy may keep the bag of words at chance (0.5)
    # for a while; the full run of configs/xor/baseline.yaml reaches 0.75 (README).
    assert best_val_acc(config, 4000, 3) <= 0.76


def test_xor_transformer_with_positions_is_solved():
    assert best_val_acc("xor/transformer", 4000, 3) == 1.0


def test_imdb_synth_bag_of_words_stays_at_chance():
    assert best_val_acc("imdb_synth/baseline", 4000, 3) <= 0.56


def test_imdb_synth_falls_to_parameter_free_self_attention():
    assert best_val_acc("imdb_synth/simple_attention", 4000, 4) >= 0.99
