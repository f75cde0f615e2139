"""The hand-built stacks as Hugging Face GPT-2 and BERT, tensor for tensor: the inverse of networks/pretrained.py.

`gpt2_from_lab(lm)` gives a GPT2LMHeadModel and `bert_from_lab(encoder)` a BertModel computing what the lab's
TransformerLM and TransformerEncoder compute (tests/networks/test_pretrained_export.py compares the outputs,
and loads them back through networks/pretrained.py). Every option of a TransformerConfig is either written
exactly or refused in one line naming it:

| option            | GPT-2                                      | BERT                                        |
|-------------------|--------------------------------------------|---------------------------------------------|
| norm              | "pre" only (GPT-2's blocks)                | "post" only (BERT's blocks)                 |
| embedding_norm    | False only                                 | True only (BERT always normalises)          |
| positions         | learned; none as zero vectors              | learned; none as zeros; sinusoidal as its   |
|                   | (sinusoidal: refused, see below)           | table, the √D scale folded into the words   |
| bias=False        | zero biases (the same function)            | zero biases                                 |
| activation, eps, d_ff, dropout, max_len | written as they are  | written as they are                         |

Sinusoidal positions scale the token embeddings by √D; GPT-2's head is tied to those embeddings, so the
scaled table would scale the logits too. The transformations are the reader's reversed: Conv1D weights are
(in, out), so GPT-2's are the transposes; BERT's query, key and value are the thirds of qkv_proj, and its one
segment vector is zero.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from lab_errors import InputError
from layers.position import sinusoidal_table
from layers.transformer import TransformerConfig, TransformerEncoder, TransformerLM, TransformerStack

# The lab's activation → Hugging Face's name (networks/pretrained.py reads each back to the same one).
HF_ACTIVATIONS = {"gelu": "gelu", "gelu_tanh": "gelu_pytorch_tanh", "relu": "relu"}


def refuse(what: str, option: str, value: Any, why: str) -> InputError:
    return InputError(f"transformer {option}: {value!r} has no {what} counterpart ({why})")


def check_ablations(config: TransformerConfig, what: str) -> None:
    """An InputError for the ablation switches, which no Hugging Face architecture has."""
    if not config.residual:
        raise refuse(what, "residual", False, f"every {what} block adds its input back")
    if not config.scaled:
        raise refuse(what, "scaled", False, f"{what} always scales attention scores by 1/√d_head")
    if config.norm_over != "token":
        raise refuse(what, "norm_over", config.norm_over, f"{what}'s LayerNorms normalise each token")


def check_gpt2(config: TransformerConfig) -> None:
    """An InputError naming the first option of `config` that GPT-2 cannot express."""
    check_ablations(config, "GPT-2")
    if config.norm != "pre":
        raise refuse("GPT-2", "norm", config.norm, "GPT-2's blocks normalise before attention and feed-forward")
    if config.embedding_norm:
        raise refuse("GPT-2", "embedding_norm", True, "GPT-2 does not normalise the summed embeddings")
    if config.positions == "sinusoidal":
        raise refuse(
            "GPT-2",
            "positions",
            "sinusoidal",
            "it scales the token embeddings by √d_model, and GPT-2's head is tied to them; train with learned",
        )


def check_bert(config: TransformerConfig) -> None:
    """An InputError naming the first option of `config` that BERT cannot express."""
    check_ablations(config, "BERT")
    if config.norm != "post":
        raise refuse("BERT", "norm", config.norm, "BERT's blocks normalise after each residual sum")
    if not config.embedding_norm:
        raise refuse("BERT", "embedding_norm", False, "BERT always normalises the summed embeddings")


def _bias(module: Any, size: int) -> Tensor:
    """A linear layer's or norm's bias, or zeros where bias=False left it out (the same function)."""
    return module.bias.detach() if module.bias is not None else torch.zeros(size)


def position_table(stack: TransformerStack) -> Tensor:
    """(max_len, D): the vectors added at each position, whatever the kind (zeros for "none")."""
    c = stack.config
    if c.positions == "learned":
        return stack.pos.embedding.weight.detach()
    if c.positions == "sinusoidal":
        return sinusoidal_table(c.max_len, c.d_model)
    return torch.zeros(c.max_len, c.d_model)


def gpt2_config(config: TransformerConfig, **extra: Any) -> Any:
    """The transformers.GPT2Config of a TransformerConfig (after check_gpt2)."""
    from transformers import GPT2Config

    check_gpt2(config)
    return GPT2Config(
        vocab_size=config.vocab_size,
        n_positions=config.max_len,
        n_embd=config.d_model,
        n_layer=config.n_layers,
        n_head=config.n_heads,
        n_inner=config.d_ff,
        activation_function=HF_ACTIVATIONS[config.activation],
        resid_pdrop=config.dropout,
        embd_pdrop=config.dropout,
        attn_pdrop=config.dropout,
        layer_norm_epsilon=config.eps,
        tie_word_embeddings=True,
        **extra,
    )


def gpt2_state_dict(lm: TransformerLM) -> dict[str, Tensor]:
    """A TransformerLM's tensors under GPT2LMHeadModel's names (Conv1D weights transposed)."""
    stack, c = lm.transformer, lm.config
    if lm.lm_head.weight.data_ptr() != stack.tok_emb.weight.data_ptr():
        raise InputError("the language model's head is not tied to its token embedding, as GPT-2's is")
    out = {
        "transformer.wte.weight": stack.tok_emb.weight.detach(),
        "transformer.wpe.weight": position_table(stack),
        "transformer.ln_f.weight": stack.final_norm.weight.detach(),
        "transformer.ln_f.bias": _bias(stack.final_norm, c.d_model),
    }
    for i, block in enumerate(stack.blocks):
        prefix = f"transformer.h.{i}."
        parts = {
            "ln_1": block.norm1,
            "ln_2": block.norm2,
            "attn.c_attn": block.attn.qkv_proj,
            "attn.c_proj": block.attn.out_proj,
            "mlp.c_fc": block.ff.linear1,
            "mlp.c_proj": block.ff.linear2,
        }
        for theirs, module in parts.items():
            weight = module.weight.detach()
            out[f"{prefix}{theirs}.weight"] = weight if theirs.startswith("ln") else weight.t().contiguous()
            out[f"{prefix}{theirs}.bias"] = _bias(module, weight.shape[0])
    out["lm_head.weight"] = out["transformer.wte.weight"]
    return out


def gpt2_from_lab(lm: TransformerLM, **config_extra: Any) -> Any:
    """A GPT2LMHeadModel (eval mode) computing what `lm` computes; config_extra: token ids for its config."""
    from transformers import GPT2LMHeadModel

    model = GPT2LMHeadModel(gpt2_config(lm.config, **config_extra))
    model.load_state_dict(gpt2_state_dict(lm), strict=True)
    return model.eval()


def bert_config(config: TransformerConfig, **extra: Any) -> Any:
    """The transformers.BertConfig of a TransformerConfig (after check_bert)."""
    from transformers import BertConfig

    check_bert(config)
    return BertConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.d_model,
        num_hidden_layers=config.n_layers,
        num_attention_heads=config.n_heads,
        intermediate_size=config.d_ff or 4 * config.d_model,
        hidden_act=HF_ACTIVATIONS[config.activation],
        hidden_dropout_prob=config.dropout,
        attention_probs_dropout_prob=config.dropout,
        max_position_embeddings=config.max_len,
        type_vocab_size=1,  # one segment: the lab's inputs are single texts
        layer_norm_eps=config.eps,
        **extra,
    )


def bert_state_dict(encoder: TransformerEncoder, vocab_rows: int | None = None) -> dict[str, Tensor]:
    """A TransformerEncoder's tensors under BertModel's names (without the pooler). vocab_rows: keep only the
    first rows of the token embedding (a MaskedLM's last row is its [MASK], which no text holds)."""
    c = encoder.config
    words = encoder.tok_emb.weight.detach()[:vocab_rows]
    if c.positions == "sinusoidal":  # the stack multiplies the token vectors by √D before adding the table
        words = words * math.sqrt(c.d_model)
    out = {
        "embeddings.word_embeddings.weight": words,
        "embeddings.position_embeddings.weight": position_table(encoder),
        "embeddings.token_type_embeddings.weight": torch.zeros(1, c.d_model),
        "embeddings.LayerNorm.weight": encoder.emb_norm.weight.detach(),
        "embeddings.LayerNorm.bias": _bias(encoder.emb_norm, c.d_model),
    }
    for i, block in enumerate(encoder.blocks):
        layer = f"encoder.layer.{i}."
        qkv = block.attn.qkv_proj
        for name, weight, bias in zip(
            ("query", "key", "value"),
            qkv.weight.detach().chunk(3),
            _bias(qkv, 3 * c.d_model).chunk(3),
            strict=True,
        ):
            out[f"{layer}attention.self.{name}.weight"] = weight
            out[f"{layer}attention.self.{name}.bias"] = bias
        parts = {
            "attention.output.dense": block.attn.out_proj,
            "attention.output.LayerNorm": block.norm1,
            "intermediate.dense": block.ff.linear1,
            "output.dense": block.ff.linear2,
            "output.LayerNorm": block.norm2,
        }
        for theirs, module in parts.items():
            weight = module.weight.detach()
            out[f"{layer}{theirs}.weight"] = weight
            out[f"{layer}{theirs}.bias"] = _bias(module, weight.shape[0])
    return out


def bert_from_lab(encoder: TransformerEncoder, vocab_rows: int | None = None, **config_extra: Any) -> Any:
    """A BertModel without pooler (eval mode) computing what `encoder` computes (its last_hidden_state)."""
    from transformers import BertModel

    config = bert_config(encoder.config, **config_extra)
    if vocab_rows is not None:
        config.vocab_size = vocab_rows
    model = BertModel(config, add_pooling_layer=False)
    model.load_state_dict(bert_state_dict(encoder, vocab_rows), strict=True)
    return model.eval()
