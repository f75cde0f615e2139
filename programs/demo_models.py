"""What lab-demo's pages ask of a checkpoint, answered by the lab's own programs (programs/demo.py serves them).

`load_demo(path)` reads which model a checkpoint holds and returns its demo: a TextClassifier's
(`SentimentDemo`: programs/sentiment.py's probability and attention weights) or a CausalLM's
(`LanguageModelDemo`: programs/generate.py's sampling), so the page shows exactly what lab-sentiment and
lab-generate print for the same input; any other checkpoint is an InputError in one line. A demo's `answer`
takes the fields a page posted (strings, as a form holds them) and returns plain data for JSON; a field that is
wrong is an InputError naming it.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch

from lab_errors import InputError, first_line
from layers.generation import check_sampling
from lightning_modules.causal_lm import CausalLM
from lightning_modules.checkpoints import check_task, read_checkpoint
from lightning_modules.classifier import FIGURE_TOKENS, TextClassifier
from programs import demo_pages
from programs.generate import LanguageModel, continuations, load_checkpoint_model
from programs.sentiment import attention_weights, load_classifier, predict_sentiment, shows_attention

MAX_NEW_TOKENS = 2000  # one page request samples at most this many tokens: the server answers in seconds


def text_field(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name, "")
    if not isinstance(value, str):
        raise InputError(f"{name} must be text, got {value!r}")
    return value


def number_field(fields: dict[str, Any], name: str, kind: type, default: Any) -> Any:
    """A form's number: `kind` (int or float) from its text; `default` when it is left empty."""
    value = fields.get(name, "")
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        number = kind(value)
    except (TypeError, ValueError) as err:
        what = "a whole number" if kind is int else "a number"
        raise InputError(f"{name} must be {what}, got {value!r}") from err
    if kind is float and not math.isfinite(number):
        raise InputError(f"{name} must be a finite number, got {value!r}")
    return number


@dataclass
class SentimentDemo:
    """A sentiment classifier: a review's probability of being positive and its attention weights."""

    model: TextClassifier
    kind: str = field(default="sentiment", init=False)

    def page(self, checkpoint: str) -> str:
        return demo_pages.sentiment_page(checkpoint)

    def answer(self, fields: dict[str, Any]) -> dict[str, Any]:
        """{"probability", "shown" (4 decimals), "verdict", "attention"}: attention is None for a model without
        attention layers, else {"tokens", "token_count", "layers"}, layers[l][h][q][k] the weight of query q on
        key k, for the first FIGURE_TOKENS tokens (as the training figures show)."""
        text = text_field(fields, "text")
        if not text.strip():
            raise InputError("the review is empty: type one")
        probability = predict_sentiment(self.model, text)
        answer = {
            "probability": probability,
            "shown": f"{probability:.4f}",
            "verdict": "positive" if probability >= 0.5 else "negative",  # lab-sentiment's rule
            "attention": None,
        }
        if shows_attention(self.model):
            tokens, weights = attention_weights(self.model, text)
            n = min(len(tokens), FIGURE_TOKENS)
            layers = [w[:, :n, :n].tolist() for w in weights]  # (H, n, n) each
            answer["attention"] = {"tokens": tokens[:n], "token_count": len(tokens), "layers": layers}
        return answer


@dataclass
class LanguageModelDemo:
    """A language model: a prefix continued with lab-generate's sampling (temperature, top-k, top-p, seed)."""

    lm: LanguageModel
    device: str
    kind: str = field(default="language model", init=False)

    def page(self, checkpoint: str) -> str:
        return demo_pages.language_model_page(checkpoint)

    def sampling(self, fields: dict[str, Any]) -> argparse.Namespace:
        """The fields as lab-generate's arguments (what continuations() reads), with its defaults."""
        settings = argparse.Namespace(
            temperature=number_field(fields, "temperature", float, 0.8),
            top_k=number_field(fields, "top_k", int, None),
            top_p=number_field(fields, "top_p", float, None),
            max_new_tokens=number_field(fields, "max_new_tokens", int, 200),
            no_cache=False,
            device=self.device,
        )
        try:
            check_sampling(settings.temperature, settings.top_k, settings.top_p)
        except ValueError as err:  # the layers' own check, of values the user gave
            raise InputError(first_line(err)) from err
        if not 1 <= settings.max_new_tokens <= MAX_NEW_TOKENS:
            raise InputError(f"max_new_tokens must be 1 to {MAX_NEW_TOKENS}, got {settings.max_new_tokens}")
        return settings

    def answer(self, fields: dict[str, Any]) -> dict[str, Any]:
        """{"prompt", "text"}: the prefix as the model reads it, and the whole text (prefix and sample), as
        `lab-generate --prompt PREFIX --seed SEED ...` prints its first sample."""
        settings = self.sampling(fields)
        seed = number_field(fields, "seed", int, 0)
        prompt_ids = self.lm.encode(text_field(fields, "prefix"))  # a character the model never saw: InputError
        generator = torch.Generator(device=self.device).manual_seed(seed)
        (new_ids,) = continuations(self.lm, prompt_ids, 1, settings, generator)
        return {"prompt": self.lm.decode(prompt_ids), "text": self.lm.decode(prompt_ids + new_ids)}


Demo = SentimentDemo | LanguageModelDemo


def load_demo(path: str | Path, device: str = "cpu") -> Demo:
    """The demo of the model in checkpoint `path`: a TextClassifier's or a CausalLM's; an InputError naming the
    file for any other (a masked LM, a file that records no model, a damaged one)."""
    cls = check_task(path, read_checkpoint(path), L.LightningModule)  # the model's class, before building it
    if issubclass(cls, TextClassifier):
        return SentimentDemo(load_classifier(str(path), device))
    if issubclass(cls, CausalLM):
        return LanguageModelDemo(load_checkpoint_model(str(path), device), device)
    holds = "records no model class" if cls is L.LightningModule else f"is a checkpoint of {cls.__name__}"
    raise InputError(
        f"{path} {holds}: lab-demo serves a sentiment classifier (TextClassifier) or a language model (CausalLM); "
        "give the checkpoint of a run of one of those"
    )
