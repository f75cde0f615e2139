"""The lab's text encoders as Hugging Face tokenizers: a `tokenizers.Tokenizer` (tokenizer.json) and the
`PreTrainedTokenizerFast` around it, giving the ids the lab's encoder gives (tests/datamodules/
test_hf_tokenizer.py compares them on the corpora's own text).

- words (WordEncoder, whitespace-split): the cleaning as normalizers (`<br />` → space, lower-casing), a
  whitespace split, a word-level model over the vocabulary ([UNK] for the rest), [CLS] first when the lab adds
  it. A spaCy-tokenised vocabulary is refused: spaCy's rules (prefixes, suffixes, exceptions) have no
  counterpart among Hugging Face's pre-tokenizers, so the ids would differ.
- sub-words (SubwordEncoder): already a `tokenizers.Tokenizer`, written as it is.
- characters (CharEncoder): a BPE model without merges over the whole text, which leaves one token per
  character; the special tokens keep their ids, unknown characters become [UNK] (the corpus's rule).
- bytes (ByteEncoder): GPT-2's byte-level mapping with the 256 byte symbols numbered by their byte value,
  again without merges: id = the UTF-8 byte, as in the lab.

Characters, bytes and whitespace words read "[PAD]" in a text as its five characters or one unknown word, as
the lab does (`split_special_tokens`): only a sub-word tokenizer matches special tokens in text, its own rule.
"""

from __future__ import annotations

from typing import Any

from datamodules.encoders import HTML_BREAK, ByteEncoder, CharEncoder, SubwordEncoder, TextEncoder, WordEncoder
from lab_errors import InputError

# Hugging Face's names of the lab's special tokens (PreTrainedTokenizerFast keyword → token).
SPECIAL_ROLES = {"pad_token": "[PAD]", "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]"}
SPECIAL_ROLES["mask_token"] = "[MASK]"


def byte_symbols() -> list[str]:
    """GPT-2's printable stand-in for each byte value 0…255 (what the ByteLevel pre-tokenizer emits): the
    printable Latin-1 bytes stand for themselves, the others for the code points from 256 on, in order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    symbols, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            symbols[byte] = chr(byte)
        else:
            symbols[byte] = chr(256 + extra)
            extra += 1
    return [symbols[b] for b in range(256)]


def word_tokenizer(encoder: WordEncoder) -> Any:
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors

    if encoder.tokenizer_name != "whitespace":
        raise InputError(
            f"the word vocabulary was tokenised by spaCy (tokenizer: {encoder.tokenizer_name!r}), whose rules no "
            "Hugging Face tokenizer reproduces: only a whitespace-split word vocabulary (tokenizer: whitespace) exports"
        )
    vocab = {w: i for i, w in enumerate(encoder.i2w)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    steps = []
    if encoder.strip_html:  # datamodules/encoders.py's clean(): the same pattern, case-insensitive
        steps.append(normalizers.Replace(Regex(f"(?i){HTML_BREAK.pattern}"), " "))
    if encoder.lower:
        steps.append(normalizers.Lowercase())
    if steps:
        tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    if encoder.add_cls:
        cls = encoder.vocab.cls_id
        tokenizer.post_processor = processors.TemplateProcessing(single="[CLS] $A", special_tokens=[("[CLS]", cls)])
    return tokenizer


def char_tokenizer(encoder: CharEncoder) -> Any:
    from tokenizers import Tokenizer, decoders, models

    vocab = {w: i for i, w in enumerate(encoder.i2w)}
    tokenizer = Tokenizer(models.BPE(vocab, merges=[], unk_token="[UNK]"))
    tokenizer.decoder = decoders.Fuse()  # characters join without spaces
    return tokenizer


def byte_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {symbol: byte for byte, symbol in enumerate(byte_symbols())}
    tokenizer = Tokenizer(models.BPE(vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def to_tokenizers(encoder: TextEncoder) -> Any:
    """The `tokenizers.Tokenizer` that turns text into the ids `encoder` gives; an InputError for a word
    vocabulary tokenised by spaCy."""
    from tokenizers import Tokenizer

    if isinstance(encoder, SubwordEncoder):
        return Tokenizer.from_str(encoder.tokenizer.to_str())  # a copy: the encoder's own stays as it is
    if isinstance(encoder, WordEncoder):
        return word_tokenizer(encoder)
    if isinstance(encoder, CharEncoder):
        return char_tokenizer(encoder)
    if isinstance(encoder, ByteEncoder):
        return byte_tokenizer()
    raise TypeError(f"no Hugging Face tokenizer for a {type(encoder).__name__}")


def to_pretrained_tokenizer(encoder: TextEncoder, max_len: int | None, model_input_names: list[str]) -> Any:
    """A transformers.PreTrainedTokenizerFast of `encoder` (save_pretrained writes tokenizer.json and its
    config); max_len: the data's, as model_max_length; model_input_names: what the model's forward takes."""
    from transformers import PreTrainedTokenizerFast

    tokenizer = to_tokenizers(encoder)
    vocab = tokenizer.get_vocab()
    special = {role: token for role, token in SPECIAL_ROLES.items() if token in vocab}
    if isinstance(encoder, ByteEncoder):  # padding is byte 0 (datamodules/encoders.py), no special token
        special = {"pad_token": byte_symbols()[encoder.pad_id]}
    options: dict[str, Any] = {"model_input_names": model_input_names}
    if max_len is not None:
        options["model_max_length"] = max_len
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        split_special_tokens=not isinstance(encoder, SubwordEncoder),
        **special,
        **options,
    )
