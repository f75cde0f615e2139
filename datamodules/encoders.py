"""From raw text to token ids: cleaning, word or sub-word tokenisation, and a TextEncoder that a checkpoint
can carry, so that a trained model can classify new text later (see sentiment.py).

A TextEncoder's state is plain data (strings, lists, numbers), so checkpoints holding it still load with
torch.load(weights_only=True).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import cached_property
from typing import Any

from torch import Tensor

from datamodules.batching import PadCollate
from datamodules.vocab import SPECIAL_TOKENS, Vocabulary
from lab_errors import InputError

HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def clean(text: str, lower: bool = True, strip_html: bool = True) -> str:
    """IMDb reviews carry `<br />` line breaks; lower-casing halves the vocabulary."""
    if strip_html:
        text = HTML_BREAK.sub(" ", text)
    return text.lower() if lower else text


class WordTokenizer:
    """spaCy's rule-based English tokenizer: `en_core_web_sm`'s when that model is installed, else
    `spacy.blank("en")`'s (the same rules, nothing to download)."""

    def __init__(self, model: str = "auto") -> None:
        if model not in ("auto", "blank", "en_core_web_sm"):
            raise ValueError(f"tokenizer must be auto, blank or en_core_web_sm, got {model!r}")
        self.requested = model

    @cached_property
    def nlp(self) -> Any:
        import spacy

        if self.requested in ("auto", "en_core_web_sm"):
            try:
                return spacy.load("en_core_web_sm", exclude=["tagger", "parser", "ner", "lemmatizer"])
            except OSError as err:
                if self.requested == "en_core_web_sm":
                    message = "en_core_web_sm is not installed: python -m spacy download en_core_web_sm"
                    raise ValueError(message) from err
        return spacy.blank("en")

    @property
    def name(self) -> str:
        """Which tokenizer runs (part of every cache key), read from the installed packages' versions
        without loading spaCy: a warm start then never pays for it."""
        from importlib.metadata import version
        from importlib.util import find_spec

        model = "blank"
        if self.requested != "blank" and find_spec("en_core_web_sm") is not None:
            model = f"en_core_web_sm-{version('en_core_web_sm')}"
        return f"spacy-{version('spacy')}-{model}"

    def tokenize(self, texts: Iterable[str], batch_size: int = 1000) -> Iterator[list[str]]:
        for doc in self.nlp.tokenizer.pipe(texts, batch_size=batch_size):
            yield [token.text for token in doc if not token.is_space]


class TextEncoder:
    """Raw text → token ids, the way a data module prepared its corpus."""

    kind = ""
    pad_id = 0
    ends_with_sep = False  # every encoded text ends in [SEP] (sub-word encoders in BERT's style)

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    @property
    def i2w(self) -> list[str]:
        """Every id's token string."""
        raise NotImplementedError

    @property
    def vocab_size(self) -> int:
        return len(self.i2w)

    @property
    def special_ids(self) -> set[int]:
        return {i for i, w in enumerate(self.i2w) if w in SPECIAL_TOKENS}

    def decode(self, ids: Iterable[int], skip_special: bool = False) -> list[str]:
        i2w, special = self.i2w, self.special_ids if skip_special else set()
        return [i2w[int(i)] for i in ids if int(i) not in special]

    def state_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    @staticmethod
    def from_state(state: dict[str, Any]) -> TextEncoder:
        kinds = {cls.kind: cls for cls in (WordEncoder, SubwordEncoder, CharEncoder, ByteEncoder)}
        if state.get("kind") not in kinds:
            raise ValueError(f"unknown text encoder {state.get('kind')!r}")
        return kinds[state["kind"]].load_state(state)

    def batch(self, texts: list[str], max_len: int | None = None, keep_tail: int = 0) -> dict[str, Tensor]:
        """A batch in the project's contract: input_ids (B, T) and attention_mask (B, T), True = real."""
        return self.collate(max_len, keep_tail=keep_tail)([{"input_ids": self.encode(t)} for t in texts])

    def collate(self, max_len: int | None = None, fixed_length: bool = False, keep_tail: int = 0) -> PadCollate:
        """The padding collate for this encoder's ids: truncation keeps a closing [SEP] where one is added,
        and a text's last `keep_tail` tokens after its first `max_len - keep_tail` (PadCollate)."""
        return PadCollate(self.pad_id, max_len, self.ends_with_sep, fixed_length, keep_tail)


class WordEncoder(TextEncoder):
    """clean → word tokens (spaCy or whitespace) → vocabulary ids, optionally after a [CLS] token."""

    kind = "words"

    def __init__(
        self,
        vocab: Vocabulary,
        lower: bool = True,
        strip_html: bool = True,
        tokenizer: str = "auto",
        add_cls: bool = False,
    ) -> None:
        self.vocab, self.lower, self.strip_html, self.add_cls = vocab, lower, strip_html, add_cls
        self.tokenizer_name = tokenizer
        self.pad_id = vocab.pad_id

    @cached_property
    def tokenizer(self) -> WordTokenizer | None:
        return None if self.tokenizer_name == "whitespace" else WordTokenizer(self.tokenizer_name)

    def tokens(self, texts: Iterable[str]) -> Iterator[list[str]]:
        cleaned = (clean(t, self.lower, self.strip_html) for t in texts)
        if self.tokenizer is None:
            yield from (t.split() for t in cleaned)
        else:
            yield from self.tokenizer.tokenize(cleaned)

    @property
    def i2w(self) -> list[str]:
        return self.vocab.i2w

    def encode_tokens(self, tokens: list[str]) -> list[int]:
        return ([self.vocab.cls_id] if self.add_cls else []) + self.vocab.encode(tokens)

    def encode(self, text: str) -> list[int]:
        return self.encode_tokens(next(self.tokens([text])))

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "vocab": self.vocab.i2w,
            "lower": self.lower,
            "strip_html": self.strip_html,
            "tokenizer": self.tokenizer_name,
            "add_cls": self.add_cls,
        }

    @classmethod
    def load_state(cls, state: dict[str, Any]) -> WordEncoder:
        vocab = Vocabulary(state["vocab"][len(Vocabulary().i2w) :])
        return cls(vocab, state["lower"], state["strip_html"], state["tokenizer"], state["add_cls"])


class SubwordEncoder(TextEncoder):
    """A Hugging Face `tokenizers` tokenizer (WordPiece, BPE…) with its own special tokens and ids;
    [CLS] … [SEP] are added as BERT does."""

    kind = "subwords"

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.pad_id = tokenizer.token_to_id("[PAD]")
        if self.pad_id is None:
            raise ValueError("the tokenizer has no [PAD] token")
        empty = tokenizer.encode("").ids  # what the post-processor adds around every text
        self.ends_with_sep = bool(empty) and empty[-1] == tokenizer.token_to_id("[SEP]")

    @cached_property
    def i2w(self) -> list[str]:
        return [self.tokenizer.id_to_token(i) for i in range(self.tokenizer.get_vocab_size())]

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text).ids

    def encode_many(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(texts)]

    def text(self, ids: Iterable[int]) -> str:
        """The text of `ids` as the tokenizer's decoder writes it (byte-level BPE: the bytes themselves)."""
        return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=True)

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "tokenizer_json": self.tokenizer.to_str()}

    @classmethod
    def load_state(cls, state: dict[str, Any]) -> SubwordEncoder:
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_str(state["tokenizer_json"]))


class CharEncoder(TextEncoder):
    """One id per character: the special tokens, then every character of the training text."""

    kind = "chars"

    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab, self.pad_id = vocab, vocab.pad_id

    @property
    def i2w(self) -> list[str]:
        return self.vocab.i2w

    def encode(self, text: str) -> list[int]:
        """Characters the vocabulary lacks are an error, not silently [UNK]: for a prompt, that is almost
        always a typo or the wrong model."""
        unknown = sorted({c for c in text if c not in self.vocab})
        if unknown:
            raise InputError(
                f"characters outside the model's vocabulary: {''.join(unknown)!r} "
                f"(it knows {''.join(self.i2w[len(SPECIAL_TOKENS) :])!r})"
            )
        return [self.vocab.w2i[c] for c in text]

    def encode_lenient(self, text: str) -> list[int]:
        """Unknown characters become [UNK] (for corpora, whose validation text may hold rare ones)."""
        return self.vocab.encode(text)

    def text(self, ids: Iterable[int]) -> str:
        return "".join(w if len(w) == 1 else "" for w in self.decode(ids))

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "vocab": self.vocab.i2w}

    @classmethod
    def load_state(cls, state: dict[str, Any]) -> CharEncoder:
        return cls(Vocabulary(state["vocab"][len(SPECIAL_TOKENS) :]))


class ByteEncoder(TextEncoder):
    """The 256 byte values of UTF-8 text (enwik8): no special tokens, nothing unknown."""

    kind = "bytes"
    pad_id = 0

    @cached_property
    def i2w(self) -> list[str]:
        return [bytes([b]).decode("latin-1") for b in range(256)]

    @property
    def special_ids(self) -> set[int]:
        return set()

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def text(self, ids: Iterable[int]) -> str:
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}

    @classmethod
    def load_state(cls, state: dict[str, Any]) -> ByteEncoder:
        return cls()
