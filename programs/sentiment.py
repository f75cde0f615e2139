"""Classify your own text with a trained TextClassifier checkpoint.

    python -m programs.sentiment --ckpt_path runs/imdb/transformer_1block/version_0/checkpoints/last.ckpt \\
        "A gripping film, beautifully acted." "Two hours I will never get back."
    python -m programs.sentiment --ckpt_path CKPT          # then type reviews, one per line (Ctrl-D ends)

`pip install .` also installs this command as `lab-sentiment`.

From Python:

    from programs.sentiment import attention_weights, load_classifier, predict_sentiment
    model = load_classifier("runs/.../last.ckpt")
    predict_sentiment(model, "A gripping film.")          # 0.93: the probability that it is positive
    tokens, weights = attention_weights(model, "A gripping film.")  # each attention layer's (H, T, T) weights

The checkpoint carries the data module's text encoder (tokenizer, cleaning, vocabulary), so text is turned
into ids exactly as in training, and cut to the same length.

Texts are read as UTF-8, standard input a line at a time. A byte-order mark at its start is dropped; bytes that
are not UTF-8 (a Latin-1 file piped in, a line cut mid-character) are read as U+FFFD (�), with one warning on
stderr naming the line, and the line is still classified: one stray byte does not stop a long stream of
texts, as it does not stop training on a review file (datamodules/readers.py).
"""

from __future__ import annotations

import argparse
import codecs
import os
import sys
from collections.abc import Iterable, Iterator

import torch

from lab_errors import InputError
from lightning_modules.classifier import TextClassifier
from lightning_modules.loading import load_model
from lightning_modules.one_line_errors import input_errors_in_one_line
from networks.classifier import EncoderClassifier


def load_classifier(ckpt_path: str, map_location: str = "cpu") -> TextClassifier:
    """The TextClassifier in `ckpt_path`, in eval mode, with its text encoder; an InputError naming the file
    when it is not a readable classifier checkpoint with a text encoder."""
    model = load_model(ckpt_path, TextClassifier, map_location)
    if model.text_encoder is None:
        raise InputError(f"{ckpt_path} has no text encoder: it was saved without a data module")
    return model


def input_limit(model: TextClassifier) -> int | None:
    """How many tokens of a text the model reads: the data's max_len, and no more than its positions cover."""
    limits = [model.text_encoder_state.get("max_len"), model.max_input_len]
    limits = [n for n in limits if n is not None]
    return min(limits) if limits else None


def encoded_batch(model: TextClassifier, texts: list[str]) -> dict[str, torch.Tensor]:
    """`texts` as the model read its training data: input_ids (B, T) and attention_mask (B, T) on its device,
    cut to input_limit(model), keeping the tail the data kept (keep_tail)."""
    encoder = model.text_encoder  # built once per model, not per call
    if encoder is None:
        raise InputError("this model has no text encoder: load it with load_classifier(checkpoint)")
    limit = input_limit(model)
    keep_tail = model.text_encoder_state.get("keep_tail", 0)  # checkpoints from before keep_tail: 0
    batch = encoder.batch(texts, limit, min(keep_tail, limit) if limit else 0)
    device = next(model.parameters()).device
    return {key: batch[key].to(device) for key in ("input_ids", "attention_mask")}


@torch.no_grad()
def predict_sentiment(model: TextClassifier, text: str | list[str]) -> float | list[float]:
    """The probability that `text` is positive (class 1), in [0, 1]; a list of texts gives a list."""
    texts = [text] if isinstance(text, str) else list(text)
    if not texts:
        return []
    batch = encoded_batch(model, texts)
    probabilities = model(batch["input_ids"], batch["attention_mask"]).softmax(-1)[:, 1]
    return probabilities.item() if isinstance(text, str) else probabilities.tolist()


def shows_attention(model: TextClassifier) -> bool:
    """Whether the model's network has attention weights to show (hand-built attention layers)."""
    return isinstance(model.network, EncoderClassifier) and model.network.shows_attention


@torch.no_grad()
def attention_weights(model: TextClassifier, text: str) -> tuple[list[str], list[torch.Tensor]]:
    """The tokens the model reads of `text` and each attention layer's weights over them, (H, T, T) each
    (a single-head layer as H = 1): queries down, keys across, each row summing to 1 over the real tokens."""
    if not shows_attention(model):
        raise InputError(f"{type(model.network).__name__} has no attention weights to show")
    batch = encoded_batch(model, [text])
    _, weights = model.network(batch["input_ids"], batch["attention_mask"], return_weights=True)
    n = int(batch["attention_mask"][0].sum())
    tokens = model.text_encoder.decode(batch["input_ids"][0, :n].tolist())
    return tokens, [w[0, ..., :n, :n].reshape(-1, n, n) for w in weights]  # (H, T, T), a (T, T) layer as H = 1


def decoded(raw: bytes, where: str) -> str:
    """`raw` as UTF-8; undecodable bytes become U+FFFD, with one warning naming `where`."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        print(
            f"warning: {where} is not valid UTF-8 (byte {err.start + 1}): its undecodable bytes are read as U+FFFD",
            file=sys.stderr,
        )
        return raw.decode("utf-8", errors="replace")


def stdin_texts(lines: Iterable[bytes]) -> Iterator[str]:
    """The non-blank lines of standard input's bytes, stripped, decoded by `decoded` (the text layer of
    sys.stdin would fail on the first byte that is not UTF-8, or pass it on as a surrogate that the tokenizer
    refuses); a line's number counts the blank lines too."""
    for number, raw in enumerate(lines, start=1):
        text = decoded(raw.removeprefix(codecs.BOM_UTF8) if number == 1 else raw, f"standard input line {number}")
        if text.strip():
            yield text.strip()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt_path", required=True, help="a TextClassifier checkpoint")
    p.add_argument("texts", nargs="*", help="texts to classify (default: read lines from standard input)")
    args = p.parse_args(argv)
    with input_errors_in_one_line():
        model = load_classifier(args.ckpt_path)
    # Arguments reach Python decoded with surrogateescape: their bytes again, then the rule of standard input.
    texts = [decoded(os.fsencode(text), f"argument {i}") for i, text in enumerate(args.texts, start=1)]
    texts = texts or stdin_texts(sys.stdin.buffer)
    for text in texts:
        p_positive = predict_sentiment(model, text)
        verdict = "positive" if p_positive >= 0.5 else "negative"
        print(f"{p_positive:.3f}  {verdict:8s}  {text}", flush=True)


if __name__ == "__main__":
    main()
