"""The model ↔ data contract: everything a model or the CLI reads from its data module, declared once.

Every data module of the project derives from `TextData` (beside LightningDataModule). The CLI links
`vocab_size`, `pad_id`, `special_ids` and `num_classes` into the model, checkpoints keep `text_encoder`,
`max_len` and `keep_tail` (so sentiment.py and generate.py can encode raw text later), and models decode ids
with `decode`/`i2w` for figures and word vectors. A data module that is not a `TextData` is refused when the
CLI links it (see `require_text_data`), instead of silently losing a feature; language models that sample
text also need a `LanguageModelDataModule` (its `sample_prompt`), checked when the model is set up.
"""

from __future__ import annotations

from typing import Any

from datamodules.encoders import TextEncoder
from datamodules.vocab import Vocabulary


class TextData:
    """What a model may read from its data module. A subclass builds `text_encoder` (`build_encoder`, called
    the first time anything asks for the vocabulary: the CLI does before it builds the model)."""

    num_classes: int | None = None  # a classification corpus's number of labels; None for language models
    max_len: int | None = None  # texts are cut to this many tokens when batched (None: not cut)
    keep_tail: int = 0  # a text cut to max_len keeps its last keep_tail tokens (head + tail truncation)
    _encoder: TextEncoder | None = None

    def build_encoder(self) -> TextEncoder:
        """The encoder of this corpus. May build the vocabulary; must not tokenise the whole corpus."""
        raise NotImplementedError(f"{type(self).__name__} must define build_encoder()")

    @property
    def text_encoder(self) -> TextEncoder:
        """Raw text → ids, exactly as this corpus was prepared; checkpoints keep it (see sentiment.py)."""
        if self._encoder is None:
            self._encoder = self.build_encoder()
        return self._encoder

    @property
    def vocab_size(self) -> int:
        return self.text_encoder.vocab_size

    @property
    def pad_id(self) -> int:
        return self.text_encoder.pad_id

    @property
    def special_ids(self) -> list[int]:
        """Ids of [PAD], [UNK], [CLS], [SEP], [MASK] (whichever the encoder has)."""
        return sorted(self.text_encoder.special_ids)

    @property
    def vocab(self) -> Vocabulary:
        """The word or character vocabulary (not for sub-word and byte encoders)."""
        return self.text_encoder.vocab

    @property
    def i2w(self) -> list[str]:
        """Every id's token string."""
        return self.text_encoder.i2w

    @property
    def w2i(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.i2w)}

    def decode(self, ids, skip_special: bool = False) -> list[str]:
        """Token strings of a sequence of ids (e.g. a row of batch["input_ids"])."""
        return self.text_encoder.decode(ids, skip_special)


def require_text_data(datamodule: Any, needed_for: str) -> TextData:
    """`datamodule` as a TextData, or an error that says which data module lacks the contract and why it matters."""
    if not isinstance(datamodule, TextData):
        raise TypeError(
            f"{needed_for} needs a data module that implements datamodules.contract.TextData, "
            f"got {type(datamodule).__name__}"
        )
    return datamodule
