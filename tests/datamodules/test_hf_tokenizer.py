"""The lab's text encoders as Hugging Face tokenizers: saved, loaded by AutoTokenizer, the same ids on the
corpora's own text (toy grammar, IMDb reviews, Wikipedia bytes) and on awkward text."""

import random

import pytest
from transformers import AutoTokenizer

from datamodules.encoders import ByteEncoder, CharEncoder, SubwordEncoder, WordEncoder
from datamodules.hf_tokenizer import byte_symbols, to_pretrained_tokenizer
from datamodules.toy_grammar import generate_text
from datamodules.vocab import Vocabulary
from datamodules.yelp import pretrained_wordpiece, train_wordpiece
from lab_errors import InputError
from tests.fixtures import acl_imdb_files, review

INPUTS = ["input_ids", "attention_mask"]
AWKWARD = ["", "  two  spaces ", "tabs\tand\nnew lines", "[PAD] [CLS] [MASK] are text here", "Ünïcödé – café 日本"]


def reviews() -> list[str]:
    """The fixture IMDb reviews as text: HTML breaks, capitals, punctuation, one Latin-1 byte read as U+FFFD."""
    return [data.decode("utf-8", errors="replace") for data in acl_imdb_files(6).values()]


def saved(encoder, tmp_path, max_len=None):
    to_pretrained_tokenizer(encoder, max_len, INPUTS).save_pretrained(tmp_path)
    return AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)


def test_characters_give_the_lab_ids_on_toy_grammar_text(tmp_path):
    train, _ = generate_text(3000, seed=0)
    encoder = CharEncoder(Vocabulary(sorted(set(train))))
    tokenizer = saved(encoder, tmp_path, max_len=128)
    text, _ = generate_text(2000, seed=1)  # other sentences of the grammar
    assert tokenizer(text).input_ids == encoder.encode(text)
    assert tokenizer.decode(tokenizer(text).input_ids) == text
    odd = text[:50] + "#@" + "[PAD]"  # unknown characters: [UNK] each, as the corpus's rule
    assert tokenizer(odd).input_ids == encoder.encode_lenient(odd)
    assert tokenizer.pad_token_id == encoder.pad_id == 0 and tokenizer.model_max_length == 128


@pytest.mark.parametrize("add_cls", [False, True])
def test_whitespace_words_give_the_lab_ids_on_imdb_reviews(tmp_path, add_cls):
    texts = reviews()
    encoder = WordEncoder(Vocabulary(), tokenizer="whitespace", add_cls=add_cls)
    vocab = Vocabulary.build(encoder.tokens(texts[::2]))  # half of the reviews: the rest have unknown words
    encoder = WordEncoder(vocab, tokenizer="whitespace", add_cls=add_cls)
    tokenizer = saved(encoder, tmp_path)
    assert any("<br />" in t for t in texts) and any("\ufffd" in t for t in texts)
    for text in texts + AWKWARD + ["A<BR>b<br/>C<Br   />d"]:
        assert tokenizer(text).input_ids == encoder.encode(text), text
    assert any(encoder.vocab.unk_id in encoder.encode(t) for t in texts)  # unknown words were met


def test_a_case_keeping_word_vocabulary_without_cleaning(tmp_path):
    texts = [review(random.Random(i), i % 2 == 0) for i in range(20)]
    encoder = WordEncoder(
        Vocabulary.build(t.split() for t in texts), lower=False, strip_html=False, tokenizer="whitespace"
    )
    tokenizer = saved(encoder, tmp_path)
    for text in [*texts, "Good GOOD good <br /> x"]:
        assert tokenizer(text).input_ids == encoder.encode(text)


def test_a_spacy_word_vocabulary_is_refused_in_one_line():
    with pytest.raises(InputError, match=r"tokenised by spaCy .*tokenizer: 'auto'.*only a whitespace-split"):
        to_pretrained_tokenizer(WordEncoder(Vocabulary(["a"])), None, INPUTS)


def test_bytes_give_the_utf8_bytes(tmp_path):
    encoder = ByteEncoder()
    tokenizer = saved(encoder, tmp_path)
    page = "<page><title>Koala</title><text>The koala (Phascolarctos) eats eucalyptus – café. </text></page>\n"
    every_byte = bytes(range(1, 128)).decode("ascii")
    for text in [page * 3, every_byte, *AWKWARD]:
        assert tokenizer(text).input_ids == encoder.encode(text)
        assert tokenizer.decode(tokenizer(text).input_ids) == text
    assert len(set(byte_symbols())) == 256 and len(tokenizer) == 256


@pytest.mark.parametrize("source", ["trained", "minilm"])
def test_sub_words_are_the_lab_tokenizer_itself(tmp_path, source):
    texts = reviews()
    tok = train_wordpiece(texts, vocab_size=300) if source == "trained" else pretrained_wordpiece("minilm")
    # minilm's tokenizer.json pads and cuts every text to 128; transformers leaves both to each call (padding=,
    # truncation=), so the ids to compare are the unpadded ones.
    tok.no_padding()
    tok.no_truncation()
    encoder = SubwordEncoder(tok)
    tokenizer = saved(encoder, tmp_path, max_len=64)
    for text in texts + AWKWARD:
        assert tokenizer(text).input_ids == encoder.encode(text), text
    assert tokenizer.pad_token_id == encoder.pad_id and tokenizer.mask_token == "[MASK]"
