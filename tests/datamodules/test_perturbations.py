"""Text perturbations: each does what its docstring says, the same way for the same seed in any process."""

import json
import os
import random
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from datamodules.perturbations import (
    FILLER_SENTENCES,
    PERTURBATIONS,
    CharacterTypos,
    Composed,
    WordDropout,
    adjacent_keys,
    compose,
    read_lexicon,
    sentences_and_gaps,
)
from lab_errors import InputError

ROOT = Path(__file__).resolve().parents[2]
WORDS = [
    "the",
    "staff",
    "movie",
    "food",
    "was",
    "is",
    "good",
    "place",
    "price",
    "table",
    "friendly",
    "we",
    "will",
    "return",
    "cheap",
    "and",
]
SENTENCES = [
    "The staff is friendly.",
    "The food was good!",
    "We will return?",
    "Our waiter brought the bill quickly.",
    "Parking can be hard at night.",
    "The movie starts at nine.",
    "I think the price is fair.",
    "My friends loved the place.",
]


def long_text(n_words: int = 3000, seed: int = 0) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n_words))


def letters(text: str) -> int:
    return sum(ch.isascii() and ch.isalpha() for ch in text)


@pytest.mark.slow  # suite time: long; CI runs the default suite
def test_every_perturbation_is_the_same_for_the_same_seed_and_text_in_another_process():
    text = " ".join(SENTENCES) + " Nothing else, really."
    here = {name: compose(name)(text, seed=3) for name in PERTURBATIONS}
    assert here == {name: compose(name)(text, seed=3) for name in PERTURBATIONS}  # the same call again
    script = (
        "import json, sys; from datamodules.perturbations import PERTURBATIONS, compose; "
        "print(json.dumps({n: compose(n)(sys.argv[1], seed=3) for n in PERTURBATIONS}))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # another hash() salt: the output must not depend on it
    done = subprocess.run(
        [sys.executable, "-c", script, text], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == here


def test_the_seed_changes_what_random_perturbations_do_and_the_order_of_texts_does_not():
    text = " ".join(SENTENCES)
    for name in ("typos", "word_dropout", "synonyms", "sentence_shuffle", "random_case", "filler_start"):
        outputs = {compose(name)(text, seed) for seed in range(5)}
        assert len(outputs) > 1, name
    perturb = compose("typos")
    forward = [perturb(s, 1) for s in SENTENCES]
    assert [perturb(s, 1) for s in reversed(SENTENCES)] == forward[::-1]  # no state carried between texts


@pytest.mark.parametrize("rate", [0.05, 0.2])
def test_substitution_typos_change_about_rate_of_the_letters_to_adjacent_keys(rate):
    text = long_text()
    out = CharacterTypos(rate, kinds=["substitute"])(text, seed=0)
    assert len(out) == len(text)
    changed = [(a, b) for a, b in zip(text, out, strict=True) if a != b]
    assert all(a.isalpha() and b.lower() in adjacent_keys()[a.lower()] for a, b in changed)
    assert len(changed) / letters(text) == pytest.approx(rate, abs=0.015)  # binomial sd ≤ 0.004 at n ≈ 15k


def test_drop_insert_and_swap_typos_do_what_they_say_at_the_rate():
    text, rate = long_text(), 0.1
    dropped = CharacterTypos(rate, kinds=["drop"])(text, seed=0)
    assert (len(text) - len(dropped)) / letters(text) == pytest.approx(rate, abs=0.015)
    assert [c for c in dropped if not c.isalpha()] == [c for c in text if not c.isalpha()]  # spaces untouched
    inserted = CharacterTypos(rate, kinds=["insert"])(text, seed=0)
    assert (len(inserted) - len(text)) / letters(text) == pytest.approx(rate, abs=0.015)
    swapped = CharacterTypos(rate, kinds=["swap"])(text, seed=0)
    assert sorted(swapped) == sorted(text) and swapped != text  # the same letters, some in another order
    words = list(zip(text.split(), swapped.split(), strict=True))
    assert all(sorted(a) == sorted(b) for a, b in words)  # a swap never crosses a space
    changed_words = sum(a != b for a, b in words) / len(words)
    assert 0.1 < changed_words < 0.6  # ~4-letter words at 10% a letter


def test_typos_keep_case_and_leave_other_characters_alone():
    text = "ABC def 123 ... ÉÈ!"
    assert CharacterTypos(0.0)(text) == text
    out = CharacterTypos(1.0, kinds=["substitute"])(text)
    assert out[:3].isupper() and out[4:7].islower() and out[7:] == text[7:]  # digits, dots, é untouched
    assert all(a != b for a, b in zip(text[:7], out[:7], strict=True) if a.isalpha())
    with pytest.raises(InputError, match="typo kinds"):
        CharacterTypos(0.1, kinds=["teleport"])
    with pytest.raises(InputError, match=r"typos: rate is a probability in \[0, 1\], got 1.5"):
        CharacterTypos(1.5)


def test_word_dropout_keeps_the_order_and_drops_about_rate_of_the_words():
    text = long_text(2000)
    out = compose("word_dropout")(text, seed=0).split()
    remaining = iter(text.split())
    assert all(word in remaining for word in out)  # a subsequence: order kept, nothing added
    assert 1 - len(out) / 2000 == pytest.approx(0.1, abs=0.025)
    assert all(compose("word_dropout")("one", seed) == "one" for seed in range(20))
    assert len(WordDropout(1.0)("never leaves an empty text", seed=0).split()) == 1


def test_the_shipped_lexicon_is_neutral_and_each_word_in_one_group():
    synonyms = read_lexicon()
    assert len(synonyms) >= 300
    polar = {"good", "bad", "great", "terrible", "love", "hate", "best", "worst", "excellent", "awful", "rude"}
    polar |= {"delicious", "amazing", "horrible", "nice", "poor", "friendly", "fresh", "dirty", "slow", "kind"}
    assert not polar & (set(synonyms) | {w for group in synonyms.values() for w in group})
    assert all(word not in group for word, group in synonyms.items())
    for word, group in synonyms.items():  # symmetric: every single-word synonym leads back
        assert all(word in synonyms[other] for other in group if " " not in other), word


def test_synonym_swap_replaces_lexicon_words_by_their_synonyms_at_the_rate_keeping_case():
    synonyms = read_lexicon()
    text = " ".join(["Movie", "STAFF", "restaurant", "zyzzyva", "good"] * 400)
    out = compose("synonyms")(text, seed=0).split()
    assert out[3::5] == ["zyzzyva"] * 400 and out[4::5] == ["good"] * 400  # words outside the lexicon stay
    originals = text.split()
    changed = [(a, b) for a, b in zip(originals, out, strict=True) if a != b]
    assert all(b.lower() in synonyms[a.lower()] for a, b in changed)
    assert all(b[0].isupper() and b[1:].islower() for a, b in changed if a == "Movie")
    assert all(b.isupper() for a, b in changed if a == "STAFF")
    assert len(changed) / 1200 == pytest.approx(0.5, abs=0.05)


def test_negation_inserts_not_after_the_first_auxiliary_of_each_sentence():
    negate = compose("negation")
    assert negate("The food is good.") == "The food is not good."
    assert negate("It was great! We will return. Nice place") == "It was not great! We will not return. Nice place"
    assert negate("It isn't good. It is not bad. i do n't know .") == "It isn't good. It is not bad. i do n't know ."
    assert negate("Tasty food, friendly staff.") == "Tasty food, friendly staff."  # no auxiliary: unchanged
    assert negate("THE FOOD WAS GOOD") == "THE FOOD WAS NOT GOOD"
    assert negate("") == ""
    assert negate.preserves_label is False
    assert all(compose(n).preserves_label for n in PERTURBATIONS if n != "negation")


def test_sentence_shuffle_is_a_permutation_of_the_sentences():
    text = "  ".join(SENTENCES)
    outs = [compose("sentence_shuffle")(text, seed) for seed in range(4)]
    for out in outs:
        assert sorted(sentences_and_gaps(out)[::2]) == sorted(SENTENCES)
    assert any(out.split(". ")[0] != text.split(". ")[0] for out in outs)  # the order changes


def test_casing_changes_only_the_case():
    text = "The Food was GOOD, 10/10!"
    assert compose("upper_case")(text) == text.upper()
    assert compose("lower_case")(text) == text.lower()
    mixed = compose("random_case")(long_text(200), seed=0)
    assert mixed.lower() == long_text(200).lower()
    upper = sum(c.isupper() for c in mixed) / letters(mixed)
    assert upper == pytest.approx(0.5, abs=0.05)


def test_punctuation_stripping_removes_punctuation_and_keeps_the_words():
    text = "Well... it's \u201cfine\u201d, I guess -- 5/5? (No!)"
    out = compose("strip_punctuation")(text)
    assert not any(unicodedata.category(ch).startswith("P") for ch in out)
    assert out == "Well its fine I guess 55 No"


def test_truncation_keeps_the_first_or_last_words_and_filler_adds_neutral_sentences():
    text = " ".join(f"w{i}" for i in range(100))
    assert compose("truncate_first")(text).split() == [f"w{i}" for i in range(32)]
    assert compose("truncate_last")(text).split() == [f"w{i}" for i in range(68, 100)]
    assert compose("truncate_first")("short text") == "short text"
    review = "The food was good."
    start, end = compose("filler_start")(review, seed=0), compose("filler_end")(review, seed=0)
    assert start.endswith(" " + review) and end.startswith(review + " ")
    added = sentences_and_gaps(start.removesuffix(" " + review))[::2]
    assert len(added) == len(set(added)) == 4 and set(added) <= set(FILLER_SENTENCES)


def test_compose_applies_the_named_perturbations_left_to_right():
    text = " ".join(SENTENCES)
    both = compose("typos+word_dropout")
    assert isinstance(both, Composed) and both.name == "typos+word_dropout"
    assert both(text, 7) == compose("word_dropout")(compose("typos")(text, 7), 7)
    assert compose(["typos", "word_dropout"])(text, 7) == both(text, 7)
    assert compose("typos+negation").preserves_label is False and both.preserves_label
    assert "Keyboard typos" in both.description and "Then: Drops" in both.description


@pytest.mark.parametrize("name", ["nope", "typos+nope", "typos+", ""])
def test_an_unknown_perturbation_name_is_one_line_listing_the_known_ones(name):
    with pytest.raises(InputError) as error:
        compose(name)
    message = str(error.value)
    assert "\n" not in message and all(known in message for known in PERTURBATIONS)
