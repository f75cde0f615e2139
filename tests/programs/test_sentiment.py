"""From a trained checkpoint back to raw text: predict_sentiment, sentiment.py and `train.py predict`."""

import codecs
import io
import sys
from pathlib import Path

import pytest
import torch

from lightning_modules.cli import LabCLI, main
from programs import sentiment
from tests.fixtures import config_overrides

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def trained(corpora, cli_in_tmp_path):
    """A bag-of-words model fitted for a few epochs on the fixture IMDb: its last checkpoint."""
    config = ROOT / "configs/imdb/baseline_mean.yaml"
    cli = LabCLI(
        args=[
            "fit",
            "--config",
            str(config),
            *config_overrides(config, corpora),
            "--trainer.max_epochs",
            "30",
            "--data.init_args.min_freq",
            "1",
            "--model.init_args.optimizer.init_args.lr",
            "0.02",
        ]
    )
    return cli, Path(cli.trainer.log_dir) / "checkpoints/last.ckpt"


def test_predict_sentiment_gives_probabilities_that_follow_the_words(trained):
    _, ckpt = trained
    model = sentiment.load_classifier(str(ckpt))
    good = sentiment.predict_sentiment(model, "A wonderful, brilliant and touching film. A masterpiece.")
    bad = sentiment.predict_sentiment(model, "An awful, boring, tedious mess of a movie.")
    assert 0.0 <= bad < 0.5 < good <= 1.0
    both = sentiment.predict_sentiment(model, ["superb", "", "dull " * 1000])
    assert len(both) == 3 and all(0.0 <= p <= 1.0 for p in both)  # an empty and a very long text too


def test_the_sentiment_command_prints_one_line_per_text(trained, capsys):
    _, ckpt = trained
    sentiment.main(["--ckpt_path", str(ckpt), "great and superb", "terrible and dull"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[1] == "positive" and lines[1].split()[1] == "negative"


def test_train_py_predict_writes_probabilities_for_a_file_of_texts(trained, corpora, tmp_path):
    _, ckpt = trained
    texts = tmp_path / "mine.txt"
    texts.write_text("A delightful film\n\nA pointless, horrible film\n")
    config = ROOT / "configs/imdb/baseline_mean.yaml"
    cli = LabCLI(
        args=[
            "predict",
            "--config",
            str(config),
            *config_overrides(config, corpora),
            "--data.init_args.min_freq",
            "1",
            "--data.init_args.predict_path",
            str(texts),
            "--ckpt_path",
            str(ckpt),
        ]
    )
    rows = [row.split("\t") for row in (Path(cli.trainer.log_dir) / "predictions.tsv").read_text().splitlines()]
    assert rows[0] == ["line", "p_positive", "text"] and len(rows) == 4  # one row per line, the blank one too
    assert [row[0] for row in rows[1:]] == ["1", "2", "3"] and rows[2][2] == ""
    assert float(rows[1][1]) > 0.5 > float(rows[3][1]) and 0 <= float(rows[2][1]) <= 1


def test_a_checkpoint_keeps_the_text_encoder(trained):
    _, ckpt = trained
    state = torch.load(ckpt, weights_only=True)["text_encoder"]  # plain data: loads without pickles
    assert state["kind"] == "words" and state["vocab"][0] == "[PAD]" and state["max_len"] == 256
    assert state["keep_tail"] == 0


def test_raw_text_is_cut_as_the_training_data_was_head_plus_tail(trained):
    _, ckpt = trained
    model = sentiment.load_classifier(str(ckpt))
    model.text_encoder_state["keep_tail"] = 2  # as a run with --data.init_args.keep_tail 2 records it
    text = " ".join(["superb"] * 300 + ["dull", "awful"])
    ids = model.text_encoder.encode(text)
    cut = sentiment.encoded_batch(model, [text])["input_ids"][0].tolist()
    assert len(ids) > 256 and cut == ids[:254] + ids[-2:]
    del model.text_encoder_state["keep_tail"]  # a checkpoint from before keep_tail: the first 256
    assert sentiment.encoded_batch(model, [text])["input_ids"][0].tolist() == ids[:256]


def test_predictions_keep_the_order_of_the_input_even_with_bucketing(trained, corpora, tmp_path):
    _, ckpt = trained
    texts = [("superb " * n).strip() if n % 2 else ("dull " * n).strip() for n in (9, 1, 6, 3, 8, 2)]
    path = tmp_path / "mixed.txt"
    path.write_text("\n".join(texts) + "\n")
    config = ROOT / "configs/imdb/baseline_mean.yaml"  # bucket: true by default for IMDb
    cli = LabCLI(
        args=[
            "predict",
            "--config",
            str(config),
            *config_overrides(config, corpora),
            "--data.init_args.min_freq",
            "1",
            "--data.init_args.predict_path",
            str(path),
            "--ckpt_path",
            str(ckpt),
        ]
    )
    rows = [line.split("\t") for line in (Path(cli.trainer.log_dir) / "predictions.tsv").read_text().splitlines()[1:]]
    assert [text for _, _, text in rows] == texts and [int(line) for line, _, _ in rows] == [1, 2, 3, 4, 5, 6]
    assert [float(p) > 0.5 for _, p, _ in rows] == [n % 2 == 1 for n in (9, 1, 6, 3, 8, 2)]


def test_a_text_longer_than_the_position_table_is_cut_to_it(cli_in_tmp_path):
    # XOR's data module sets no max_len; the transformer's learned positions cover 8 tokens.
    small = ["--data.init_args.train_size", "64", "--data.init_args.val_size", "32", "--trainer.max_epochs", "1"]
    cli = LabCLI(args=["fit", "--config", str(ROOT / "configs/xor/transformer.yaml"), *small])
    model = sentiment.load_classifier(str(Path(cli.trainer.log_dir) / "checkpoints/last.ckpt"))
    assert 0.0 <= sentiment.predict_sentiment(model, "true false " * 20) <= 1.0
    assert sentiment.predict_sentiment(model, []) == []


def test_standard_input_is_utf8_without_its_byte_order_mark_and_bad_bytes_replaced(trained, capsys, monkeypatch):
    _, ckpt = trained
    typed = codecs.BOM_UTF8 + b"great film\n\na \xff dull film\ngreat film\n"  # one byte that is not UTF-8
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(typed), encoding="utf-8", errors="surrogateescape"))
    sentiment.main(["--ckpt_path", str(ckpt)])
    out, err = capsys.readouterr()
    rows = [line.split("  ", 2) for line in out.splitlines()]
    assert [text for _, _, text in rows] == ["great film", "a \ufffd dull film", "great film"]
    assert rows[0][:2] == rows[2][:2] and rows[0][1].strip() == "positive"  # the mark changes nothing
    assert err.splitlines() == [
        "warning: standard input line 3 is not valid UTF-8 (byte 3): its undecodable bytes are read as U+FFFD"
    ]


def predict_args(corpora, texts: Path, ckpt: Path) -> list[str]:
    config = ROOT / "configs/imdb/baseline_mean.yaml"
    return ["predict", "--config", str(config), *config_overrides(config, corpora), "--data.init_args.min_freq", "1",
            "--data.init_args.predict_path", str(texts), "--ckpt_path", str(ckpt)]  # fmt: skip


def test_train_py_predict_refuses_a_file_with_no_lines_in_one_line(trained, corpora, tmp_path, capsys):
    _, ckpt = trained
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(SystemExit) as exit_info:
        main(predict_args(corpora, empty, ckpt))
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and err[-2:] == [
        f"error: {empty} has no lines to predict: write one text per line",
        "(LAB_DEBUG=1 shows the traceback)",
    ]


def test_a_byte_order_mark_changes_no_prediction(trained, corpora, tmp_path):
    _, ckpt = trained
    rows = []
    for name, mark in (("plain.txt", b""), ("marked.txt", codecs.BOM_UTF8)):
        texts = tmp_path / name
        texts.write_bytes(mark + b"great film\nawful film\n")
        cli = LabCLI(args=predict_args(corpora, texts, ckpt))
        rows.append((Path(cli.trainer.log_dir) / "predictions.tsv").read_text().splitlines())
    assert rows[1] == rows[0] and rows[0][1].split("\t")[2] == "great film"
