"""Hugging Face GPT-2 and BERT weights in this project's stacks, tensor for tensor.

`load_gpt2("gpt2")` gives a TransformerLM and `load_bert("bert-base-uncased")` a TransformerEncoder that
compute what the Hugging Face models compute (tests/layers/test_pretrained.py compares the outputs). A hub
name or save_pretrained folder is checked and loaded by networks/hub.py (a bad one is an InputError in one
line); an already built Hugging Face model can be passed instead.

Two conversions happen on the way:
- GPT-2 stores its linear maps as Conv1D, weight (in, out); nn.Linear wants (out, in), so they are
  transposed.
- BERT keeps query, key and value apart; they are stacked into one qkv_proj. BERT also adds a segment
  (token-type) embedding; inputs here are single-segment, so segment 0's vector is folded into every
  position vector.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor

from lab_errors import InputError
from layers.transformer import TransformerConfig, TransformerEncoder, TransformerLM

BERT_MODEL_TYPES = ("bert",)  # the layouts bert_state_dict reads
# What a BERT checkpoint may carry that an encoder without a pooler never reads: the pooler, pre-training heads.
UNREAD_BERT_PARTS = ("pooler.", "cls.")
GPT2_MODEL_TYPES = ("gpt2",)  # the layout gpt2_state_dict reads
_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu", "relu": "relu"}


def _activation(name: str) -> str:
    if name not in _ACTIVATIONS:
        raise InputError(f"activation {name!r} of the pretrained model has no counterpart here")
    return _ACTIVATIONS[name]


def gpt2_config(hf_config: Any) -> TransformerConfig:
    """The TransformerConfig of a transformers.GPT2Config."""
    return TransformerConfig(
        vocab_size=hf_config.vocab_size,
        d_model=hf_config.n_embd,
        n_heads=hf_config.n_head,
        n_layers=hf_config.n_layer,
        d_ff=hf_config.n_inner,
        max_len=hf_config.n_positions,
        positions="learned",
        norm="pre",
        activation=_activation(hf_config.activation_function),
        dropout=hf_config.resid_pdrop,
        ff_dropout=0.0,  # GPT-2's MLP has no dropout between its two layers
        eps=hf_config.layer_norm_epsilon,
    )


def gpt2_state_dict(hf_state: dict[str, Tensor], n_layers: int) -> dict[str, Tensor]:
    """A GPT2LMHeadModel state dict renamed (and Conv1D weights transposed) for TransformerLM."""
    src = {k.removeprefix("transformer."): v for k, v in hf_state.items()}
    out = {
        "transformer.tok_emb.weight": src["wte.weight"],
        "transformer.pos.embedding.weight": src["wpe.weight"],
        "transformer.final_norm.weight": src["ln_f.weight"],
        "transformer.final_norm.bias": src["ln_f.bias"],
        "lm_head.weight": hf_state.get("lm_head.weight", src["wte.weight"]),
    }
    renames = {
        "ln_1": "norm1",
        "ln_2": "norm2",
        "attn.c_attn": "attn.qkv_proj",
        "attn.c_proj": "attn.out_proj",
        "mlp.c_fc": "ff.linear1",
        "mlp.c_proj": "ff.linear2",
    }
    for i in range(n_layers):
        for theirs, ours in renames.items():
            weight = src[f"h.{i}.{theirs}.weight"]
            out[f"transformer.blocks.{i}.{ours}.weight"] = weight if theirs.startswith("ln") else weight.t()
            out[f"transformer.blocks.{i}.{ours}.bias"] = src[f"h.{i}.{theirs}.bias"]
    return out


def bert_config(hf_config: Any) -> TransformerConfig:
    """The TransformerConfig of a transformers.BertConfig."""
    return TransformerConfig(
        vocab_size=hf_config.vocab_size,
        d_model=hf_config.hidden_size,
        n_heads=hf_config.num_attention_heads,
        n_layers=hf_config.num_hidden_layers,
        d_ff=hf_config.intermediate_size,
        max_len=hf_config.max_position_embeddings,
        positions="learned",
        norm="post",
        activation=_activation(hf_config.hidden_act),
        dropout=hf_config.hidden_dropout_prob,
        ff_dropout=0.0,  # BERT's intermediate layer has no dropout of its own
        eps=hf_config.layer_norm_eps,
        embedding_norm=True,
    )


def bert_state_dict(hf_state: dict[str, Tensor], n_layers: int) -> dict[str, Tensor]:
    """A BertModel (or BertFor*) state dict renamed for TransformerEncoder."""
    src = {k.removeprefix("bert."): v for k, v in hf_state.items()}
    segment0 = src["embeddings.token_type_embeddings.weight"][0]
    out = {
        "tok_emb.weight": src["embeddings.word_embeddings.weight"],
        "pos.embedding.weight": src["embeddings.position_embeddings.weight"] + segment0,
        "emb_norm.weight": src["embeddings.LayerNorm.weight"],
        "emb_norm.bias": src["embeddings.LayerNorm.bias"],
    }
    for i in range(n_layers):
        layer = f"encoder.layer.{i}."
        for part in ("weight", "bias"):
            out[f"blocks.{i}.attn.qkv_proj.{part}"] = torch.cat(
                [src[f"{layer}attention.self.{name}.{part}"] for name in ("query", "key", "value")]
            )
            out[f"blocks.{i}.attn.out_proj.{part}"] = src[f"{layer}attention.output.dense.{part}"]
            out[f"blocks.{i}.norm1.{part}"] = src[f"{layer}attention.output.LayerNorm.{part}"]
            out[f"blocks.{i}.ff.linear1.{part}"] = src[f"{layer}intermediate.dense.{part}"]
            out[f"blocks.{i}.ff.linear2.{part}"] = src[f"{layer}output.dense.{part}"]
            out[f"blocks.{i}.norm2.{part}"] = src[f"{layer}output.LayerNorm.{part}"]
    return out


def load_hf_bert(name_or_dir: str) -> Any:
    """Hugging Face's BertModel (no pooler) from a hub name or a save_pretrained folder, in eval mode.

    A checkpoint saved from BertModel or a pre-training model carries a pooler (and its heads, `cls.*`) that a
    BertModel without a pooler does not read, and transformers reports every such load with a table of those
    keys on stderr. They are expected here, so that table is left out; weights the checkpoint lacks (which
    transformers then initialises at random) or other keys it carries are a warning naming them."""
    from transformers import BertModel
    from transformers.utils import logging as hf_logging

    from networks.hub import load_pretrained

    verbosity, bar = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # the load report; errors (a size mismatch) still raise
    hf_logging.disable_progress_bar()  # a bar over the tensors, on stderr, for a load of a second or less
    try:
        model, info = load_pretrained(
            BertModel, name_or_dir, BERT_MODEL_TYPES, add_pooling_layer=False, output_loading_info=True
        )
    finally:
        hf_logging.set_verbosity(verbosity)
        if bar:
            hf_logging.enable_progress_bar()
    missing = sorted(info["missing_keys"])
    # A pre-training checkpoint names them under its `bert.` prefix.
    unexpected = sorted(k for k in info["unexpected_keys"] if not k.removeprefix("bert.").startswith(UNREAD_BERT_PARTS))
    for keys, what in ((missing, "missing from it, initialised at random"), (unexpected, "in it and not read")):
        if keys:
            shown = ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
            warnings.warn(f"{name_or_dir}: {len(keys)} BertModel weight(s) {what}: {shown}", stacklevel=2)
    return model.eval()


def load_gpt2(model: Any = "gpt2") -> TransformerLM:
    """A TransformerLM holding GPT-2's weights: a hub name or path, or a GPT2LMHeadModel."""
    if isinstance(model, str):
        from transformers import GPT2LMHeadModel

        from networks.hub import load_pretrained

        model = load_pretrained(GPT2LMHeadModel, model, GPT2_MODEL_TYPES)
    config = gpt2_config(model.config)
    ours = TransformerLM(config)
    ours.load_state_dict(gpt2_state_dict(model.state_dict(), config.n_layers))
    return ours


def load_bert(model: Any = "bert-base-uncased") -> TransformerEncoder:
    """A TransformerEncoder holding BERT's weights: a hub name or path, or a BertModel.

    A name that cannot be loaded (not a saved BERT folder, not in the cache while the hub is unreachable) is
    an InputError in one line (networks/hub.py)."""
    if isinstance(model, str):
        model = load_hf_bert(model)
    config = bert_config(model.config)
    ours = TransformerEncoder(config)
    ours.load_state_dict(bert_state_dict(model.state_dict(), config.n_layers))  # the pooler is left out
    return ours
