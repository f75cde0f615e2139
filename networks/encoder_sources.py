"""Where a classifier's transformer encoder comes from: Hugging Face's BERT as is, the same weights in the
hand-built TransformerEncoder, or a freshly initialised TransformerEncoder (the from-scratch baseline and the
transformer rung of the classic ladder; networks/embedding_encoder.py has the shallower rungs).
A MaskedLM checkpoint of this lab is a fourth source, in lightning_modules/mlm_encoder.py (reading a
Lightning checkpoint is training business, which layers/ does not import).

Shape legend: B batch, T time, D encoder width (`width`), V vocabulary size.

Every source is an nn.Module built as `Source(vocab_size, ...)` and computing
(input_ids (B, T) long, attention_mask (B, T) bool, True = real token) → hidden states (B, T, D), with
`width` = D and `max_len` the most tokens it reads (None: any). The hand-built ones also return each block's
attention weights on `return_weights=True` (the classifier's validation figure). `vocab_size` is the data
module's: a pretrained source checks that its own vocabulary is that size, because ids mean nothing to a model
pretrained with another tokenizer.
"""

from __future__ import annotations

from dataclasses import replace

from torch import Tensor, nn

from lab_errors import InputError
from layers.attention import AttentionImpl
from layers.transformer import TransformerConfig, TransformerEncoder
from networks.pretrained import bert_config, bert_state_dict, load_hf_bert
from networks.word_vectors import WordVectorStart

DEFAULT_TRANSFORMER = TransformerConfig()  # frozen: one shared default is safe


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
    (networks/pretrained.py copies them tensor for tensor). attn_impl: "sdpa" for the fused kernel."""

    def __init__(
        self, vocab_size: int, name_or_dir: str = "bert-base-uncased", attn_impl: AttentionImpl = "manual"
    ) -> None:
        hf_model = load_hf_bert(name_or_dir)
        check_vocabulary(name_or_dir, hf_model.config.vocab_size, vocab_size)
        config = replace(bert_config(hf_model.config), attn_impl=attn_impl)
        super().__init__(config)
        self.load_state_dict(bert_state_dict(hf_model.state_dict(), config.n_layers))  # strict: every tensor
        self.width, self.max_len = config.d_model, config.max_len


class ScratchEncoder(WordVectorStart, TransformerEncoder):
    """A randomly initialised TransformerEncoder over the data's vocabulary, shaped by `transformer` (its
    vocab_size left out: the data's). The transformer rung of the classic ladder, and the from-scratch baseline
    of a pretrained encoder of the same shape (give it the pretraining config's values). `word_vectors`: start
    the token embedding from a GloVe-format file (d_model wide), `freeze_embeddings` to keep it fixed."""

    def __init__(
        self,
        vocab_size: int,
        transformer: TransformerConfig = DEFAULT_TRANSFORMER,
        word_vectors: str | None = None,
        freeze_embeddings: bool = False,
    ) -> None:
        config = TransformerConfig.coerce(transformer).with_vocab_size(vocab_size)
        super().__init__(config)
        self.width, self.max_len = config.d_model, config.max_len
        self.start_from_word_vectors(word_vectors, freeze_embeddings)
