"""Seeded, composable perturbations of raw text, for probing how robust a trained classifier is.

    from datamodules.perturbations import compose
    perturb = compose("typos+word_dropout")          # or compose(["typos", "word_dropout"])
    perturb("The staff is friendly.", seed=0)         # 'The staf is friendyl.' (the same every time)

Each perturbation is a small class whose docstring says what it does and whether it should preserve the
label (`preserves_label`): a label-preserving perturbation that changes a prediction shows a weakness of the
model; a label-flipping one (negation) should change it. `PERTURBATIONS` holds every one by name, with the
settings robustness.py uses; `compose` joins names with `+` and applies them left to right.

Determinism: a perturbation draws its random numbers from a generator seeded by sha256(seed, its name, the
text), never by Python's per-process hash(): the same seed and text give the same output in any process and
in any order the texts come.
"""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import cache
from importlib.resources import files

from lab_errors import InputError

WORD = re.compile(r"[A-Za-z]+")  # the alphabetic runs that word-level perturbations act on
SENTENCE_GAP = re.compile(r"((?<=[.!?])\s+)")  # a sentence ends at . ! or ? followed by white space
SPACES = re.compile(r"\s+")
FIRST_SENTENCE = re.compile(r"(?<=\.)\s")  # the end of a docstring's first sentence


def seeded_rng(seed: int, name: str, text: str) -> random.Random:
    """A generator that depends on the seed, the perturbation and the text only (sha256: the same in every
    process, unlike hash(), which Python salts per process)."""
    digest = hashlib.sha256(f"{seed}\0{name}\0{text}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def is_letter(ch: str) -> bool:
    """An ASCII letter: the characters typos act on (digits, punctuation and accented letters stay)."""
    return len(ch) == 1 and ch.isascii() and ch.isalpha()


def check_rate(rate: float, name: str) -> float:
    if not 0.0 <= rate <= 1.0:
        raise InputError(f"{name}: rate is a probability in [0, 1], got {rate}")
    return rate


def same_case(word: str, like: str) -> str:
    """`word` in the case pattern of `like`: UPPER, Capitalised or as it is."""
    if like.isupper() and len(like) > 1:
        return word.upper()
    if like[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def sentences_and_gaps(text: str) -> list[str]:
    """[sentence, gap, sentence, gap, …, sentence]: joined again they give `text` back."""
    return SENTENCE_GAP.split(text)


class Perturbation:
    """A text → text change, random but seeded. Subclasses set `name` and `preserves_label`, and implement
    `apply(text, rng)`."""

    name: str = ""
    preserves_label: bool = True

    def __call__(self, text: str, seed: int = 0) -> str:
        return self.apply(text, seeded_rng(seed, self.name, text))

    def apply(self, text: str, rng: random.Random) -> str:
        raise NotImplementedError

    @property
    def description(self) -> str:
        """What the perturbation does: the first sentence of its docstring, and its settings."""
        first = FIRST_SENTENCE.split(" ".join((self.__doc__ or "").split()), maxsplit=1)[0]
        settings = ", ".join(f"{key}={value!r}" for key, value in vars(self).items() if key != "name")
        return f"{first} ({settings})" if settings else first

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class Clean(Perturbation):
    """The text unchanged (the reference every other perturbation is compared with). Preserves the label."""

    name = "clean"

    def apply(self, text: str, rng: random.Random) -> str:
        return text


# QWERTY neighbours: a typo replaces or adds a key next to the intended one.
KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


@cache
def adjacent_keys() -> dict[str, str]:
    """Each letter → the letters around it on a QWERTY keyboard (same row ±1, the rows above and below)."""
    where = {ch: (r, c) for r, row in enumerate(KEYBOARD_ROWS) for c, ch in enumerate(row)}
    return {
        ch: "".join(other for other, (r2, c2) in where.items() if other != ch and abs(r2 - r) <= 1 and abs(c2 - c) <= 1)
        for ch, (r, c) in where.items()
    }


class CharacterTypos(Perturbation):
    """Keyboard typos: each ASCII letter, with probability `rate`, is swapped with the next letter (the last
    letter of a word with the one before), dropped, followed by an adjacent key, or replaced by an adjacent key
    (QWERTY), the kind drawn from `kinds`. Should preserve the label."""

    KINDS = ("swap", "drop", "insert", "substitute")

    def __init__(self, rate: float = 0.05, kinds: Sequence[str] = KINDS, name: str = "typos") -> None:
        if unknown := set(kinds) - set(self.KINDS):
            raise InputError(f"typo kinds must be among {', '.join(self.KINDS)}, got {sorted(unknown)}")
        self.rate, self.kinds, self.name = check_rate(rate, name), tuple(kinds), name

    def apply(self, text: str, rng: random.Random) -> str:
        out, i, neighbours = [], 0, adjacent_keys()
        while i < len(text):
            ch = text[i]
            if not is_letter(ch) or rng.random() >= self.rate:
                out.append(ch)
                i += 1
                continue
            kind = rng.choice(self.kinds)
            if kind == "swap" and is_letter(nxt := text[i + 1 : i + 2]):
                out += [nxt, ch]
                i += 2  # the swapped letter is not typed twice
                continue
            if kind == "swap" and out and is_letter(out[-1]):  # the word's last letter: swap with the one before
                out[-1:] = [ch, out[-1]]
            elif kind == "swap":  # a one-letter word: nothing to swap with
                out.append(ch)
            elif kind == "insert":
                out += [ch, same_case(rng.choice(neighbours[ch.lower()]), ch)]
            elif kind == "substitute":
                out.append(same_case(rng.choice(neighbours[ch.lower()]), ch))
            i += 1  # drop: nothing typed
        return "".join(out)


class WordDropout(Perturbation):
    """Drops each white-space separated word with probability `rate`, keeping the others in their order (and
    at least one), joined by single spaces. Should preserve the label."""

    def __init__(self, rate: float = 0.1, name: str = "word_dropout") -> None:
        self.rate, self.name = check_rate(rate, name), name

    def apply(self, text: str, rng: random.Random) -> str:
        words = text.split()
        kept = [w for w in words if rng.random() >= self.rate]
        if words and not kept:
            kept = [words[rng.randrange(len(words))]]
        return " ".join(kept)


@cache
def read_lexicon(resource: str = "synonyms.tsv") -> dict[str, tuple[str, ...]]:
    """The shipped lexicon datamodules/lexicon/`resource`: one group of interchangeable words a line,
    tab-separated; each single word → the other members of its group."""
    content = files("datamodules").joinpath("lexicon", resource).read_text(encoding="utf-8")
    synonyms = {}
    for line in content.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        group = [w.strip() for w in line.split("\t") if w.strip()]
        for word in group:
            if " " not in word:
                synonyms[word] = tuple(w for w in group if w != word)
    return synonyms


class SynonymSwap(Perturbation):
    """Replaces each word found in the shipped lexicon (datamodules/lexicon/synonyms.tsv: a few hundred
    common English words, none of them saying whether something is good or bad) with one of its synonyms,
    with probability `rate`, keeping its case. Should preserve the label."""

    def __init__(self, rate: float = 0.5, lexicon: str = "synonyms.tsv", name: str = "synonyms") -> None:
        self.rate, self.lexicon, self.name = check_rate(rate, name), lexicon, name

    def apply(self, text: str, rng: random.Random) -> str:
        synonyms = read_lexicon(self.lexicon)

        def swap(match: re.Match) -> str:
            word = match.group()
            options = synonyms.get(word.lower())
            if not options or rng.random() >= self.rate:
                return word
            return same_case(rng.choice(options), word)

        return WORD.sub(swap, text)


# Auxiliaries and copulas after which "not" negates the clause: "is good" → "is not good".
AUXILIARIES = frozenset(
    {"is", "are", "was", "were", "am", "has", "have", "had", "do", "does", "did"}
    | {"can", "could", "will", "would", "should", "must", "may", "might"}
)
NEGATORS = frozenset({"not", "never", "no", "n", "t"})  # n, t: "does n't" (tokenised text), "isn't", "can't"


class NegationInsertion(Perturbation):
    """Inserts "not" after the first auxiliary or copula of each sentence that is not already negated ("the
    food was good." → "the food was not good."); sentences without one are left as they are. Label-flipping:
    a model that reads the text should change its verdict (in a long review, more the more sentences carry
    an auxiliary)."""

    preserves_label = False

    def __init__(self, name: str = "negation") -> None:
        self.name = name

    def apply(self, text: str, rng: random.Random) -> str:
        parts = sentences_and_gaps(text)
        return "".join(self.negate(part) if i % 2 == 0 else part for i, part in enumerate(parts))

    @staticmethod
    def negate(sentence: str) -> str:
        tokens = list(WORD.finditer(sentence))
        for here, after in zip(tokens, [*tokens[1:], None], strict=False):  # after: None for the last word
            word, negated = here.group(), after is not None and after.group().lower() in NEGATORS
            if word.lower().endswith("n") and after is not None and after.group().lower() == "t":
                return sentence  # isn't, don't, won't: the clause is negated already
            if word.lower() not in AUXILIARIES:
                continue
            if negated:
                return sentence
            negator = "NOT" if word.isupper() and len(word) > 1 else "not"
            return f"{sentence[: here.end()]} {negator}{sentence[here.end() :]}"
        return sentence


class SentenceShuffle(Perturbation):
    """Puts the sentences (each ended by a full stop, ! or ? and white space) in a random order, each one
    unchanged; the white space between them becomes one space. Should preserve the label."""

    def __init__(self, name: str = "sentence_shuffle") -> None:
        self.name = name

    def apply(self, text: str, rng: random.Random) -> str:
        sentences = [s for s in sentences_and_gaps(text.strip())[::2] if s]
        rng.shuffle(sentences)
        return " ".join(sentences)


class Casing(Perturbation):
    """Changes the case of every letter: `mode` upper, lower, or random (each letter upper or lower with
    probability ½). Should preserve the label (a model that lower-cases its input does not see it at all)."""

    MODES = ("upper", "lower", "random")

    def __init__(self, mode: str = "random", name: str | None = None) -> None:
        if mode not in self.MODES:
            raise InputError(f"casing mode must be one of {', '.join(self.MODES)}, got {mode!r}")
        self.mode, self.name = mode, name or f"{mode}_case"

    def apply(self, text: str, rng: random.Random) -> str:
        if self.mode == "upper":
            return text.upper()
        if self.mode == "lower":
            return text.lower()
        return "".join(ch.upper() if rng.random() < 0.5 else ch.lower() for ch in text)


class StripPunctuation(Perturbation):
    """Removes every punctuation character (Unicode category P*: full stops, commas, quotes, dashes and the
    like) and closes the white space left behind. Should preserve the label."""

    def __init__(self, name: str = "strip_punctuation") -> None:
        self.name = name

    def apply(self, text: str, rng: random.Random) -> str:
        kept = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
        return SPACES.sub(" ", kept).strip()


class Truncate(Perturbation):
    """Keeps only the first (`keep="first"`) or the last (`keep="last"`) `n_words` white-space separated
    words, joined by single spaces. Should preserve the label (a review's verdict is usually in its opening
    or closing words)."""

    def __init__(self, n_words: int = 32, keep: str = "first", name: str | None = None) -> None:
        if keep not in ("first", "last"):
            raise InputError(f"truncation keeps the first or the last words, got keep={keep!r}")
        if n_words < 1:
            raise InputError(f"truncation must keep at least one word, got n_words={n_words}")
        self.n_words, self.keep, self.name = n_words, keep, name or f"truncate_{keep}"

    def apply(self, text: str, rng: random.Random) -> str:
        words = text.split()
        return " ".join(words[: self.n_words] if self.keep == "first" else words[-self.n_words :])


# Neutral sentences: they describe a visit without judging it, so appending them changes only the length.
FILLER_SENTENCES = (
    "We went there on a Tuesday evening.",
    "The parking lot is across the street.",
    "I had read about the place online before the visit.",
    "There were four of us at the table.",
    "The menu has a page of drinks and two pages of dishes.",
    "We ordered at the counter and sat by the window.",
    "It is about ten minutes from the station by car.",
    "My friend had been there once last year.",
    "They open at eleven and close at nine on weekdays.",
    "The room has a dozen tables and a small bar.",
)


class Filler(Perturbation):
    """Adds `n_sentences` neutral sentences (a visit described without judging it) at the `where` end of the
    text, drawn without repetition: a longer text with the same verdict. Added at the start, they push the
    review's own words towards the end that a model cut to max_len loses. Should preserve the label."""

    def __init__(self, n_sentences: int = 4, where: str = "start", name: str | None = None) -> None:
        if where not in ("start", "end"):
            raise InputError(f"filler goes at the start or the end of a text, got where={where!r}")
        if not 1 <= n_sentences <= len(FILLER_SENTENCES):
            raise InputError(f"filler takes 1 to {len(FILLER_SENTENCES)} sentences, got n_sentences={n_sentences}")
        self.n_sentences, self.where, self.name = n_sentences, where, name or f"filler_{where}"

    def apply(self, text: str, rng: random.Random) -> str:
        filler = " ".join(rng.sample(FILLER_SENTENCES, self.n_sentences))
        parts = [filler, text.strip()] if self.where == "start" else [text.strip(), filler]
        return " ".join(p for p in parts if p)


class Composed(Perturbation):
    """Several perturbations applied left to right, each seeded by its own name: `typos+word_dropout`.
    Preserves the label when every part does."""

    def __init__(self, parts: Sequence[Perturbation]) -> None:
        self.parts = tuple(parts)
        self.name = "+".join(p.name for p in self.parts)
        self.preserves_label = all(p.preserves_label for p in self.parts)

    def __call__(self, text: str, seed: int = 0) -> str:
        for part in self.parts:
            text = part(text, seed)
        return text

    @property
    def description(self) -> str:
        return " Then: ".join(p.description for p in self.parts)


PERTURBATIONS: dict[str, Callable[[], Perturbation]] = {
    "clean": Clean,
    "typos": lambda: CharacterTypos(rate=0.05),
    "word_dropout": lambda: WordDropout(rate=0.1),
    "synonyms": lambda: SynonymSwap(rate=0.5),
    "negation": NegationInsertion,
    "sentence_shuffle": SentenceShuffle,
    "upper_case": lambda: Casing("upper"),
    "lower_case": lambda: Casing("lower"),
    "random_case": lambda: Casing("random"),
    "strip_punctuation": StripPunctuation,
    "truncate_first": lambda: Truncate(32, keep="first"),
    "truncate_last": lambda: Truncate(32, keep="last"),
    "filler_start": lambda: Filler(4, where="start"),
    "filler_end": lambda: Filler(4, where="end"),
}


def get_perturbation(name: str) -> Perturbation:
    """The registered perturbation `name`; an InputError listing the known names for any other."""
    if name not in PERTURBATIONS:
        raise InputError(f"unknown perturbation {name!r}: known perturbations are {', '.join(PERTURBATIONS)}")
    return PERTURBATIONS[name]()


def compose(names: str | Sequence[str]) -> Perturbation:
    """A perturbation from registered names: one name, names joined by `+` ("typos+word_dropout"), or a list
    of them (["typos", "word_dropout"]), applied left to right."""
    parts = [part.strip() for item in ([names] if isinstance(names, str) else names) for part in item.split("+")]
    if not parts or not all(parts):
        raise InputError(f"empty perturbation name in {names!r}: known perturbations are {', '.join(PERTURBATIONS)}")
    perturbations = [get_perturbation(part) for part in parts]
    return perturbations[0] if len(perturbations) == 1 else Composed(perturbations)
