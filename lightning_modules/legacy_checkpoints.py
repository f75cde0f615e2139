"""Checkpoints written before the consolidation, converted once for today's classes:

    python -m lightning_modules.legacy_checkpoints OLD.ckpt NEW.ckpt

- a SequenceClassifier (the flagged ladder) becomes a TextClassifier whose backbone is an EncoderClassifier of an
  EmbeddingEncoder (encoder none | simple_attention | attention, its mixer composed) or a ScratchEncoder
  (encoder transformer) and a PooledHead; its `net.` tensors move under `network.`, the output layer under
  `network.head.out`;
- a TextClassifier's backbone moves from layers/ to networks/ (TransformerClassifier becomes the same
  EncoderClassifier of a ScratchEncoder and a PooledHead, EncoderClassifierNet is EncoderClassifier);
- a CausalLM's or MaskedLM's transformer settings, once separate arguments, become its one `transformer`.

The weights are the same tensors under their new names, so the converted model computes what the old one did
(tests/lightning_modules/test_legacy_checkpoints.py). Training state (optimiser, callbacks) is kept as it was.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lab_errors import InputError
from lightning_modules.checkpoints import AtomicCheckpointIO, read_checkpoint
from lightning_modules.loading import CLI_INSTANTIATOR
from lightning_modules.one_line_errors import input_errors_in_one_line

TEXT_CLASSIFIER = "lightning_modules.classifier.TextClassifier"
SEQUENCE_CLASSIFIER = "lightning_modules.classifier.SequenceClassifier"
TRANSFORMER_FIELDS = (
    "d_model", "n_heads", "n_layers", "d_ff", "max_len", "positions", "norm", "activation", "dropout", "eps",
    "embedding_norm", "attn_impl", "bias",
)  # fmt: skip
MOVED = {
    "layers.recurrent_classifier.RecurrentClassifier": "networks.recurrent_classifier.RecurrentClassifier",
    "layers.pretrained_classifier.EncoderClassifierNet": "networks.classifier.EncoderClassifier",
    "layers.encoder_heads.PooledHead": "networks.heads.PooledHead",
    "layers.encoder_heads.BiGRUHead": "networks.heads.BiGRUHead",
    "layers.encoder_sources.ScratchEncoder": "networks.encoder_sources.ScratchEncoder",
    "layers.encoder_sources.BertEncoder": "networks.encoder_sources.BertEncoder",
    "layers.encoder_sources.HuggingFaceBertEncoder": "networks.encoder_sources.HuggingFaceBertEncoder",
}
FLAT_TRANSFORMER = ("lightning_modules.causal_lm.CausalLM", "lightning_modules.masked_lm.MaskedLM")


def is_legacy(checkpoint: dict[str, Any]) -> bool:
    """Whether `checkpoint` was written by a class or layout that the consolidation replaced."""
    hparams = checkpoint.get("hyper_parameters") or {}
    class_path = hparams.get("_class_path")
    if class_path == SEQUENCE_CLASSIFIER:
        return True
    if class_path in FLAT_TRANSFORMER and "transformer" not in hparams:
        return True
    return bool(class_paths(hparams.get("backbone")) & (set(MOVED) | {"layers.classifier.TransformerClassifier"}))


def class_paths(spec: Any) -> set[str]:
    """Every class_path named in a (nested) spec."""
    if isinstance(spec, list):
        return set().union(*(class_paths(item) for item in spec))
    if not isinstance(spec, dict):
        return set()
    found = {spec["class_path"]} if isinstance(spec.get("class_path"), str) else set()
    return found.union(*(class_paths(value) for value in spec.values()))


def transformer_of(values: dict[str, Any]) -> dict[str, Any]:
    """The transformer settings among flat arguments, as one `transformer` mapping (the rest removed)."""
    return {key: values.pop(key) for key in TRANSFORMER_FIELDS if key in values}


def sequence_classifier_backbone(hp: dict[str, Any]) -> dict[str, Any]:
    """The EncoderClassifier that a SequenceClassifier's flags describe."""
    # init_from_mlm and embeddings_path only chose where training started: the trained weights are in the file.
    dropout = hp.get("dropout", 0.0)
    if hp.get("encoder") == "transformer":
        config = {key: hp[key] for key in TRANSFORMER_FIELDS if key in hp}
        config.setdefault("activation", "relu")  # SequenceClassifier's default, not TransformerConfig's
        config.setdefault("positions", "none")
        encoder = {"class_path": "networks.encoder_sources.ScratchEncoder", "init_args": {"transformer": config}}
    else:
        mixers = {
            "simple_attention": {
                "class_path": "layers.attention.SimpleSelfAttention",
                "init_args": {"scaled": hp.get("scaled", False)},
            },
            "attention": {
                "class_path": "layers.attention.MultiHeadAttention",
                "init_args": {"d_model": hp["d_model"], "n_heads": hp.get("n_heads", 1), "dropout": dropout},
            },
        }
        init_args = {
            "d_model": hp["d_model"],
            "positions": hp.get("positions", "none"),
            "max_len": hp.get("max_len", 512),
            "dropout": dropout,
            "mixer": mixers.get(hp.get("encoder")),
        }
        encoder = {"class_path": "networks.embedding_encoder.EmbeddingEncoder", "init_args": init_args}
    head = {
        "class_path": "networks.heads.PooledHead",
        "init_args": {"pool": hp.get("pool", "mean"), "dropout": dropout, "hidden_size": hp.get("hidden_size")},
    }
    return {"class_path": "networks.classifier.EncoderClassifier", "init_args": {"encoder": encoder, "head": head}}


def moved_spec(spec: Any) -> Any:
    """A backbone spec with its classes' new homes; TransformerClassifier as the EncoderClassifier it is now."""
    if isinstance(spec, list):
        return [moved_spec(item) for item in spec]
    if not isinstance(spec, dict):
        return spec
    if spec.get("class_path") == "layers.classifier.TransformerClassifier":
        args = dict(spec.get("init_args") or {})
        head = {"pool": args.pop("pool", "mean"), "dropout": args.get("dropout", 0.1)}
        config = {"d_model": 256, "n_heads": 4, "n_layers": 2, "positions": "learned", "max_len": 256, **args}
        encoder = {"class_path": "networks.encoder_sources.ScratchEncoder", "init_args": {"transformer": config}}
        head_spec = {"class_path": "networks.heads.PooledHead", "init_args": head}
        return {
            "class_path": "networks.classifier.EncoderClassifier",
            "init_args": {"encoder": encoder, "head": head_spec},
        }
    out = {key: moved_spec(value) for key, value in spec.items()}
    if "class_path" in out:
        out["class_path"] = MOVED.get(out["class_path"], out["class_path"])
        if out["class_path"] == "networks.encoder_sources.ScratchEncoder":
            args = dict(out.get("init_args") or {})
            if "transformer" not in args:
                out["init_args"] = {"transformer": transformer_of(args), **args}
    return out


def renamed_state(state: dict[str, Any], head_moved: bool, prefix_from: str = "net.") -> dict[str, Any]:
    """Tensor names of the new layout: `net.` → `network.`, and the linear output layer under `head.out`."""
    out = {}
    for key, value in state.items():
        if key.startswith(prefix_from):
            key = "network." + key.removeprefix(prefix_from)
        if head_moved and key.startswith("network.head.") and not key.startswith("network.head.out."):
            key = "network.head.out." + key.removeprefix("network.head.")
        out[key] = value
    return out


def upgrade(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """`checkpoint` for today's classes (a new dict; the tensors are shared)."""
    if not is_legacy(checkpoint):
        raise InputError("this checkpoint needs no conversion: it loads as it is")
    hparams = dict(checkpoint.get("hyper_parameters") or {})
    state = dict(checkpoint["state_dict"])
    class_path = hparams.get("_class_path")
    if class_path == SEQUENCE_CLASSIFIER:
        keep = ("vocab_size", "num_classes", "pad_id", "warmup_steps", "lr_decay", "attention_examples")
        new = {"_class_path": TEXT_CLASSIFIER, "_instantiator": hparams.get("_instantiator", CLI_INSTANTIATOR)}
        new.update({key: hparams[key] for key in keep if key in hparams})
        new["backbone"] = sequence_classifier_backbone(hparams)
        hparams, state = new, renamed_state(state, head_moved=True)
    elif class_path in FLAT_TRANSFORMER:
        hparams["transformer"] = transformer_of(hparams)
    else:
        old_backbone = hparams.get("backbone") or {}
        pooled = old_backbone.get("class_path") == "layers.classifier.TransformerClassifier"
        hparams["backbone"] = moved_spec(old_backbone)
        state = renamed_state(state, head_moved=pooled, prefix_from="network.")
    return {**checkpoint, "hyper_parameters": hparams, "state_dict": state}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], prog="python -m lightning_modules.legacy_checkpoints"
    )
    parser.add_argument("old", type=Path, help="a checkpoint written before the consolidation")
    parser.add_argument("new", type=Path, help="where the converted checkpoint goes (never the old file)")
    args = parser.parse_args(argv)
    with input_errors_in_one_line():
        if args.new.resolve() == args.old.resolve():
            raise InputError(f"{args.new}: write the converted checkpoint beside the old one, not over it")
        converted = upgrade(read_checkpoint(args.old))
        AtomicCheckpointIO().save_checkpoint(converted, args.new)
        print(f"{args.old} → {args.new}: {converted['hyper_parameters'].get('_class_path', 'converted')}")


if __name__ == "__main__":
    main()
