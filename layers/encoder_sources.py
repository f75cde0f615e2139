"""Where a classifier's transformer encoder comes from: Hugging Face's BERT as is, the same weights in the
hand-built TransformerEncoder, or a freshly initialised TransformerEncoder (the from-scratch baseline).
A MaskedLM checkpoint of this lab is a fourth source, in lightning_modules/mlm_encoder.py (reading a
Lightning checkpoint is training business, which layers/ does not import).

Shape legend: B batch, T time, D encoder width (`width`), V vocabulary size.

Every source is an nn.Module built as `Source(vocab_size, ...)` and computing
(input_ids (B, T) long, attention_mask (B, T) bool, True = real token) → hidden states (B, T, D), with
`width` = D. `vocab_size` is the data module's: a pretrained source checks that its own vocabulary is that
size, because ids mean nothing to a model pretrained with another tokenizer.
"""

from __future__ import annotations

from torch import Tensor, nn

from layers.attention import AttentionImpl
from layers.blocks import Activation, NormPlacement
from layers.errors import InputError
from layers.position import PositionKind
from layers.pretrained import bert_config, bert_state_dict, load_hf_bert
from layers.transformer import TransformerConfig, TransformerEncoder


def check_vocabulary(source: str, pretrained_size: int, data_size: int) -> None:
    """An InputError when the data's token ids are not the ones the encoder was pretrained on."""
    if pretrained_size != data_size:
        raise InputError(
            f"{source} was pretrained on {pretrained_size} token ids, the data module has {data_size}: "
            "pretrain and fine-tune with the same tokenizer"
        )


class HuggingFaceBertEncoder(nn.Module):
    """Hugging Face's BertModel run as is (its last_hidden_state): `name_or_dir` a hub name or a
    save_pretrained folder."""

    def __init__(self, vocab_size: int, name_or_dir: str = "bert-base-uncased") -> None:
        super().__init__()
        self.model = load_hf_bert(name_or_dir)
        check_vocabulary(name_or_dir, self.model.config.vocab_size, vocab_size)
        self.width = self.model.config.hidden_size
        self.max_len = self.model.config.max_position_embeddings

    def forward(self, input_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        mask = None if attention_mask is None else attention_mask.long()  # Hugging Face wants 1/0, not bool
        return self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state  # (B, T, D)


class BertEncoder(TransformerEncoder):
    """BERT's weights (hub name or save_pretrained folder) inside the hand-built TransformerEncoder
    (layers/pretrained.py copies them tensor for tensor). attn_impl: "sdpa" for the fused kernel."""

    def __init__(
        self, vocab_size: int, name_or_dir: str = "bert-base-uncased", attn_impl: AttentionImpl = "manual"
    ) -> None:
        hf_model = load_hf_bert(name_or_dir)
        check_vocabulary(name_or_dir, hf_model.config.vocab_size, vocab_size)
        config = bert_config(hf_model.config)
        config.attn_impl = attn_impl
        super().__init__(config)
        self.load_state_dict(bert_state_dict(hf_model.state_dict(), config.n_layers))  # strict: every tensor
        self.width, self.max_len = config.d_model, config.max_len


class ScratchEncoder(TransformerEncoder):
    """A randomly initialised TransformerEncoder over the data's vocabulary: the from-scratch baseline of a
    pretrained encoder of the same shape (give it the pretraining config's values)."""

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 128,
        n_heads: int = 4,
        n_layers: int = 2,
        max_len: int = 512,
        positions: PositionKind = "learned",
        norm: NormPlacement = "pre",
        activation: Activation = "gelu",
        dropout: float = 0.1,
        attn_impl: AttentionImpl = "manual",
    ) -> None:
        super().__init__(
            TransformerConfig(
                vocab_size=vocab_size,
                d_model=d_model,
                n_heads=n_heads,
                n_layers=n_layers,
                max_len=max_len,
                positions=positions,
                norm=norm,
                activation=activation,
                dropout=dropout,
                attn_impl=attn_impl,
            )
        )
        self.width, self.max_len = d_model, max_len
