"""configs/compare/: the TextClassifier through the CLI: --print_config, a checkpoint that rebuilds the same
network (load_from_checkpoint, sentiment.py). That each config passes a fast_dev_run is tests/test_train.py's."""

from pathlib import Path

import pytest
import torch

from lightning_modules.classifier import TextClassifier
from lightning_modules.cli import LabCLI, main
from programs import sentiment
from tests.fixtures import config_overrides

ROOT = Path(__file__).resolve().parents[1]
COMPARE = ROOT / "configs/compare"


@pytest.fixture(autouse=True)
def in_tmp_path(cli_in_tmp_path):
    return cli_in_tmp_path


def test_print_config_shows_the_backbone_with_its_arguments(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(COMPARE / "exp4.yaml"), "--print_config"])
    assert exit_info.value.code == 0
    model = capsys.readouterr().out.split("model:")[1].split("data:")[0]
    assert "class_path: networks.recurrent_classifier.RecurrentClassifier" in model
    assert "decoder: attention" in model and "hidden_size: 256" in model


SMALL_BACKBONES = {  # the same architectures, narrow: the test is about the checkpoint, not the model
    "exp3.yaml": {"embed_dim": 8, "hidden_size": 8},
    "exp7.yaml": {"encoder.init_args.transformer.d_model": 16, "encoder.init_args.transformer.n_heads": 2},
    # An encoder source and a head composed inside the backbone: kept as nested class_path/init_args (the
    # CLI's partials of them are not plain data, and Lightning drops a hyperparameter it cannot pickle).
    "exp8.yaml": {},  # the encoder and its tokenizer: a tiny BERT folder (tests/pretrained_fixtures.py)
    "exp8_own_mlm.yaml": {},  # the fixture MaskedLM is tiny already
}


@pytest.mark.parametrize("config", sorted(SMALL_BACKBONES))
def test_a_cli_checkpoint_rebuilds_the_same_network(config, corpora):
    path = COMPARE / config
    small = ["--trainer.max_steps", "2", "--trainer.limit_val_batches", "1", "--trainer.max_epochs", "1"]
    for key, value in SMALL_BACKBONES[config].items():
        small += [f"--model.init_args.backbone.init_args.{key}", str(value)]
    cli = LabCLI(args=["fit", "--config", str(path), *config_overrides(path, corpora), *small])
    ckpt = Path(cli.trainer.log_dir) / "checkpoints/last.ckpt"
    batch = next(iter(cli.datamodule.val_dataloader()))
    expected = cli.model.eval()(batch["input_ids"], batch["attention_mask"])

    loaded = TextClassifier.load_from_checkpoint(ckpt, weights_only=True).eval()
    assert type(loaded.network) is type(cli.model.network)
    torch.testing.assert_close(loaded(batch["input_ids"], batch["attention_mask"]), expected)

    model = sentiment.load_classifier(str(ckpt))  # raw text in, the same network inside
    torch.testing.assert_close(model(batch["input_ids"], batch["attention_mask"]), expected)
    probabilities = sentiment.predict_sentiment(model, ["A great place, lovely food.", "Cold food, rude staff."])
    assert all(0.0 <= p <= 1.0 for p in probabilities)
