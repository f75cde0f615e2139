"""Export a trained model to Hugging Face's layout: a folder that `transformers` loads as it is.

    python -m programs.export --ckpt_path runs/toy_lm/transformer/version_0/checkpoints/last.ckpt --out toy-gpt2

A CausalLM becomes a GPT-2 folder (GPT2LMHeadModel), a MaskedLM's encoder and a classifier's transformer
encoder a BERT folder (BertModel): config.json, model.safetensors, the run's tokenizer converted to
tokenizer.json (+ tokenizer_config.json, the same ids as the lab's: datamodules/hf_tokenizer.py) and a model
card, README.md (what was trained, on which data, the run's measured metrics, how to load it:
programs/model_card.py). The weights map tensor for tensor (networks/pretrained_export.py): the folder
computes what the lab's model computes, and networks/pretrained.py's load_gpt2/load_bert read it back.

Refused in one line each: a task without a Hugging Face twin (the recurrent classifier, the shallow embedding
encoders), a transformer option GPT-2 or BERT cannot express (named), a checkpoint that records no tokenizer,
an --out folder that exists. Nothing is written under --out unless the whole export succeeds.
`pip install .` also installs this command as `lab-export`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L

from lab_errors import InputError, MissingInputError
from lightning_modules.one_line_errors import input_errors_in_one_line
from programs.model_card import ExportedModel, model_card

GPT2_INPUTS = ["input_ids", "attention_mask"]
BERT_INPUTS = ["input_ids", "token_type_ids", "attention_mask"]


@dataclass
class Export:
    """A Hugging Face model ready to save, what the card says about it, and the inputs its tokenizer gives."""

    model: Any
    card: ExportedModel
    transformer: dict[str, Any]
    model_input_names: list[str]


def causal_lm_export(model: Any) -> Export:
    from networks.pretrained_export import gpt2_from_lab

    # No begin/end-of-text tokens: the lab's language models have none, so generation runs to its length.
    hf = gpt2_from_lab(model.net, bos_token_id=None, eos_token_id=None)
    card = ExportedModel(
        "causal-lm", "GPT2LMHeadModel", "AutoModelForCausalLM", "load_gpt2", "causal language model (CausalLM)"
    )
    return Export(hf, card, model.config.as_dict(), GPT2_INPUTS)


def masked_lm_export(model: Any) -> Export:
    from networks.pretrained_export import bert_from_lab

    vocab = model.hparams.vocab_size
    hf = bert_from_lab(model.encoder, vocab_rows=vocab)
    card = ExportedModel("masked-lm-encoder", "BertModel", "AutoModel", "load_bert", "masked language model (MaskedLM)")
    card.left_out = [
        "the masked-LM head (the tied token embedding and a bias, no transform layer), which BertForMaskedLM's "
        "head (dense, activation and LayerNorm before the tied decoder) cannot express",
        f"the [MASK] embedding row (id {vocab}), which no text holds: the lab's fine-tuning drops it too",
    ]
    return Export(hf, card, {**model.config.as_dict(), "vocab_size": vocab}, BERT_INPUTS)


def classifier_export(model: Any, path: str) -> Export:
    from layers.transformer import TransformerEncoder
    from networks.classifier import EncoderClassifier
    from networks.encoder_sources import HuggingFaceBertEncoder
    from networks.pretrained_export import bert_from_lab

    network = model.network
    if not isinstance(network, EncoderClassifier):
        raise InputError(
            f"{path} is a classifier of a {type(network).__name__}, which has no Hugging Face twin: only a "
            "classifier with a transformer encoder exports (its encoder, as BERT)"
        )
    encoder = network.encoder
    if isinstance(encoder, HuggingFaceBertEncoder):  # Hugging Face's own BertModel, trained in place
        config = encoder.model.config
        hf, transformer = encoder.model.eval(), {**config.to_diff_dict(), "max_len": config.max_position_embeddings}
    elif isinstance(encoder, TransformerEncoder):
        hf, transformer = bert_from_lab(encoder), encoder.config.as_dict()
    else:
        raise InputError(
            f"{path}: the classifier's encoder is a {type(encoder).__name__}, which has no Hugging Face twin "
            "(no BERT block: no feed-forward, norms or embedding norm); only a transformer encoder exports"
        )
    card = ExportedModel(
        "classifier-encoder", "BertModel", "AutoModel", "load_bert", "text classifier's encoder (TextClassifier)"
    )
    card.left_out = [f"the classification head ({type(network.head).__name__}), which has no BertModel twin"]
    return Export(hf, card, transformer, BERT_INPUTS)


def build_export(model: L.LightningModule, path: str) -> Export:
    """The Hugging Face model of a loaded checkpoint's LightningModule, or an InputError naming why not."""
    from lightning_modules.causal_lm import CausalLM
    from lightning_modules.classifier import TextClassifier
    from lightning_modules.masked_lm import MaskedLM

    if isinstance(model, CausalLM):
        return causal_lm_export(model)
    if isinstance(model, MaskedLM):
        return masked_lm_export(model)
    if isinstance(model, TextClassifier):
        return classifier_export(model, path)
    raise InputError(
        f"{path} holds a {type(model).__name__}, which has no Hugging Face export: give a CausalLM, MaskedLM or "
        "TextClassifier checkpoint"
    )


def check_out(out: Path) -> None:
    if out.exists():
        raise InputError(f"{out} (--out) exists: export into a new folder (nothing is overwritten)")
    if not out.parent.is_dir():
        raise MissingInputError(f"{out} (--out): its folder {out.parent} does not exist")


def export(ckpt_path: str, out: str | Path) -> Path:
    """Writes the Hugging Face folder `out` of the checkpoint `ckpt_path`; returns `out`."""
    from transformers.utils import logging

    from datamodules.hf_tokenizer import to_pretrained_tokenizer
    from lightning_modules.checkpoints import read_checkpoint
    from lightning_modules.loading import load_model

    logging.disable_progress_bar()  # stderr keeps to an error's one line
    out = Path(out)
    check_out(out)
    model = load_model(ckpt_path, L.LightningModule)
    exported = build_export(model, ckpt_path)  # a task without a twin is refused first: no tokenizer would help
    encoder = model.text_encoder  # every exportable task keeps its data's (TextEncoderInCheckpoint)
    if encoder is None:
        raise InputError(
            f"{ckpt_path} records no tokenizer (it was saved without a data module): an export needs the text "
            "encoder its data module saves in the checkpoint"
        )
    exported.model.config.pad_token_id = encoder.pad_id
    # The tokenizer's model_max_length: the data's max_len, and no more than the model's positions cover.
    limits = [n for n in (model.text_encoder_state.get("max_len"), exported.transformer.get("max_len")) if n]
    tokenizer = to_pretrained_tokenizer(encoder, min(limits, default=None), exported.model_input_names)
    checkpoint = read_checkpoint(ckpt_path)  # the callbacks' states and step counts, for the card
    card = model_card(exported.card, Path(ckpt_path), checkpoint, exported.transformer, encoder.kind, str(out))
    # Written beside --out and renamed: a failure half-way leaves no folder under the final name.
    partial = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    partial.chmod(0o777 & ~umask)  # mkdtemp's folder is private; the export is an ordinary folder
    try:
        exported.model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        (partial / "README.md").write_text(card, encoding="utf-8")
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt_path", required=True, help="a CausalLM, MaskedLM or TextClassifier checkpoint")
    p.add_argument("--out", required=True, help="the folder to write (must not exist)")
    args = p.parse_args(argv)
    with input_errors_in_one_line():
        out = export(args.ckpt_path, args.out)
    print(f"wrote {out}: {', '.join(sorted(f.name for f in out.iterdir()))}")


if __name__ == "__main__":
    main()
