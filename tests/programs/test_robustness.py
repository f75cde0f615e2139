"""robustness.py: two tiny trained classifiers under perturbations, checked against predict_sentiment directly."""

import re
import sys
from pathlib import Path

import lightning as L
import matplotlib.image
import pytest
import torch

from datamodules.perturbations import PERTURBATIONS, compose
from datamodules.readers import read_labelled_file
from layers.transformer import TransformerConfig
from lightning_modules.causal_lm import CausalLM
from lightning_modules.cli import LabCLI
from lightning_modules.masked_lm import MaskedLM
from programs import robustness, sentiment
from tests.fixtures import config_overrides

ROOT = Path(__file__).resolve().parents[2]
MAX_POOLED = [  # another classifier: max-pooled sub-words, reading 24 tokens of a text
    *("--model.init_args.backbone.init_args.head.init_args.pool", "max", "--data.init_args.max_len", "24"),
    *("--trainer.max_epochs", "10", "--model.init_args.optimizer.init_args.lr", "0.02"),
]


@pytest.fixture(scope="module")
def checkpoints(corpora, tmp_path_factory) -> list[str]:
    """Two classifiers fitted in seconds on the fixture Yelp reviews: WordPiece embeddings averaged, and
    max-pooled over 24 tokens (longer texts are cut to it); their last checkpoints."""
    runs = tmp_path_factory.mktemp("runs")
    paths = []
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(runs)  # runs/ is created relative to the working directory
        patch.setattr(sys, "argv", ["train.py"])
        for name, extra in (
            ("baseline", ["--trainer.max_epochs", "10", "--model.init_args.optimizer.init_args.lr", "0.02"]),
            ("baseline", MAX_POOLED),
        ):
            config = ROOT / f"configs/yelp/{name}.yaml"
            cli = LabCLI(args=["fit", "--config", str(config), *config_overrides(config, corpora), *extra])
            paths.append(str(runs / cli.trainer.log_dir / "checkpoints/last.ckpt"))  # log_dir: relative to runs
    return paths


def table(report: str) -> tuple[list[str], dict[str, list[str]]]:
    """The header and the rows (perturbation → cells) of the report's first table."""
    rows = [line.strip("|").split(" | ") for line in report.splitlines() if line.startswith("| ")]
    header, body = [cell.strip() for cell in rows[0]], rows[1:]
    return header, {row[0].strip(): [cell.strip() for cell in row[1:]] for row in body}


def accuracy(probabilities: list[float], labels: list[int]) -> float:
    return sum((p >= 0.5) == bool(y) for p, y in zip(probabilities, labels, strict=True)) / len(labels)


def test_the_table_holds_every_model_under_every_default_perturbation_as_predict_sentiment_scores_it(
    checkpoints, corpora, tmp_path, capsys
):
    out = tmp_path / "report"
    robustness.main(["--ckpt_path", *checkpoints, "--out", str(out), "--data", str(corpora["yelp_test"])])
    assert len(robustness.DEFAULT_PERTURBATIONS) >= 9 and robustness.DEFAULT_PERTURBATIONS[0] == "clean"
    header, rows = table((out / "robustness.md").read_text())
    names = ["yelp/baseline/version_0", "yelp/baseline/version_1"]
    assert header == ["perturbation", "preserves label", *(f"{m} {c}" for m in names for c in ("accuracy", "drop"))]
    assert list(rows) == list(robustness.DEFAULT_PERTURBATIONS)

    texts, labels = read_labelled_file(corpora["yelp_test"])
    for column, ckpt in enumerate(checkpoints):
        model = sentiment.load_classifier(ckpt)
        clean = accuracy(sentiment.predict_sentiment(model, texts), labels)
        assert clean > 0.6  # the models learned something, so perturbations have something to break
        for name in robustness.DEFAULT_PERTURBATIONS:
            perturbed = [compose(name)(text, 0) for text in texts]
            expected = accuracy(sentiment.predict_sentiment(model, perturbed), labels)
            assert rows[name][1 + 2 * column] == f"{expected:.3f}", (ckpt, name)
            assert rows[name][2 + 2 * column] == f"{clean - expected:+.3f}", (ckpt, name)
    assert rows["negation"][0] == "no" and all(rows[n][0] == "yes" for n in rows if n != "negation")

    logged = [line for line in capsys.readouterr().out.splitlines() if ": accuracy " in line]
    assert len(logged) == 2 * len(rows)  # one line per model × perturbation, with its accuracy
    assert logged[0] == f"{names[0]} × clean: accuracy {rows['clean'][1]} (clean {rows['clean'][1]})"

    image = matplotlib.image.imread(out / "robustness.png")
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400
    assert image[..., :3].std() > 0.05  # bars and labels, not a blank canvas


def test_examples_show_the_original_the_perturbed_text_and_each_models_prediction(checkpoints, corpora, tmp_path):
    out = tmp_path / "report"
    chosen = ["typos+word_dropout", "negation", "synonyms"]
    args = ["--perturbations", *chosen, "--seed", "5", "--examples", "2", "--batch_size", "7", "--limit", "12"]
    robustness.main(["--ckpt_path", *checkpoints, "--out", str(out), "--data", str(corpora["yelp_test"]), *args])
    report = (out / "robustness.md").read_text()
    assert list(table(report)[1]) == ["clean", *chosen]  # the reference first, then the chosen ones in order

    texts, labels = read_labelled_file(corpora["yelp_test"])
    texts, labels = texts[:12], labels[:12]
    models = [sentiment.load_classifier(ckpt) for ckpt in checkpoints]
    by_markdown = {robustness.markdown_text(text): i for i, text in enumerate(texts)}
    for name in chosen:
        section = report.split(f"### {name}\n", 1)[1].split("###", 1)[0]
        shown = re.findall(
            r"\d\. label (\w+)\n\s+- original: (.*)\n\s+- perturbed: (.*)\n((?:\s+- yelp/.*\n){2})", section
        )
        assert len(shown) == 2, section
        for label, original, perturbed, predictions in shown:
            i = by_markdown[original]
            assert label == robustness.LABEL_NAMES[labels[i]]
            after = compose(name)(texts[i], 5)
            assert perturbed == robustness.markdown_text(after)
            for model, line in zip(models, predictions.strip().splitlines(), strict=True):
                before_p, after_p = sentiment.predict_sentiment(model, [texts[i], after])
                expected = f"{robustness.verdict(before_p)} → {robustness.verdict(after_p)}"
                assert line.strip().endswith(expected), (line, expected)


def foreign_checkpoint(path: Path, model: L.LightningModule, class_path: str | None) -> Path:
    """A language model's checkpoint as Lightning writes it (the CLI adds the model's class path)."""
    hyper_parameters = dict(model.hparams) | ({"_class_path": class_path} if class_path else {})
    checkpoint = {"state_dict": model.state_dict(), "pytorch-lightning_version": L.__version__}
    torch.save({**checkpoint, "hyper_parameters": hyper_parameters}, path)
    return path


def bad_inputs(tmp_path: Path, corpora: dict) -> dict[str, tuple[list[str], str]]:
    shape = TransformerConfig(d_model=16, n_heads=2, n_layers=1, max_len=8)
    masked_lm = MaskedLM(20, transformer=shape)
    mlm = foreign_checkpoint(tmp_path / "mlm.ckpt", masked_lm, "lightning_modules.masked_lm.MaskedLM")
    lm = foreign_checkpoint(tmp_path / "lm.ckpt", CausalLM(20, transformer=shape), None)
    (tmp_path / "notes.ckpt").write_text("not a checkpoint")
    (tmp_path / "empty.txt").write_text("\n\n")
    data = ["--data", str(corpora["yelp_test"])]
    return {
        "unknown perturbation": (["--ckpt_path", str(mlm), *data, "--perturbations", "typos+tpyos"], "'tpyos'"),
        "masked LM": (["--ckpt_path", str(mlm), *data], f"{mlm} is a checkpoint of MaskedLM, not of a TextClassifier"),
        "causal LM": (["--ckpt_path", str(lm), *data], f"{lm}: its hyperparameters do not build a TextClassifier"),
        "unreadable checkpoint": (["--ckpt_path", str(tmp_path / "notes.ckpt"), *data], "is not a PyTorch checkpoint"),
        "missing checkpoint": (["--ckpt_path", str(tmp_path / "gone.ckpt"), *data], "no such checkpoint file"),
        "empty data file": (["--ckpt_path", str(mlm), "--data", str(tmp_path / "empty.txt")], "holds no reviews"),
        "missing data file": (["--ckpt_path", str(mlm), "--data", str(tmp_path / "gone.txt")], "no such labelled"),
        "no texts": (["--ckpt_path", str(mlm), *data, "--limit", "0"], "--limit 0"),
        "no batch": (["--ckpt_path", str(mlm), *data, "--batch_size", "0"], "--batch_size ≥ 1"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "unknown perturbation",
        "masked LM",
        "causal LM",
        "unreadable checkpoint",
        "missing checkpoint",
        "empty data file",
        "missing data file",
        "no texts",
        "no batch",
    ],
)
def test_bad_input_ends_in_one_line_and_exit_status_2(case, corpora, tmp_path, capsys):
    argv, expected = bad_inputs(tmp_path, corpora)[case]
    with pytest.raises(SystemExit) as exit_info:
        robustness.main([*argv, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.splitlines()
    assert exit_info.value.code == 2 and err[0].startswith("error: ") and expected in err[0], err
    assert len(err) == 2 and "LAB_DEBUG" in err[1]  # the message, then the hint
    assert not (tmp_path / "out").exists()  # nothing written for bad input
    if case == "unknown perturbation":
        assert all(name in err[0] for name in PERTURBATIONS)
