"""LightningDataModules, one per corpus family, meeting the models through the contract of contract.py.

Where to read: a corpus's own file (imdb.py, reviews.py, yelp.py, xor.py, imdb_synth.py, toy_grammar.py,
lm_corpora.py for enwik8 and text files), then the one base it names (classification.py or lm.py).
preparation.py turns labelled text into ids on `datasets`; encoders.py turns raw text into ids;
batching.py pads and samples; readers.py parses the raw formats; vocab.py holds the vocabularies.
"""

import importlib

# Names resolve on first use (PEP 562), so that a program imports only the corpora it reads: the toy language
# models' start-up would otherwise pay about 0.5 s for `datasets`, which only the classification corpora use.
_HOMES = {
    "BucketBatchSampler": "batching",
    "ClassificationDataModule": "classification",
    "Enwik8DataModule": "lm_corpora",
    "IMDbDataModule": "imdb",
    "IMDbSynthDataModule": "imdb_synth",
    "LanguageModelDataModule": "lm",
    "PadCollate": "batching",
    "ReviewsDataModule": "reviews",
    "SPECIAL_TOKENS": "vocab",
    "SubwordEncoder": "encoders",
    "TextData": "contract",
    "TextEncoder": "encoders",
    "TextFileDataModule": "lm_corpora",
    "TokenDataset": "batching",
    "ToyGrammarDataModule": "toy_grammar",
    "Vocabulary": "vocab",
    "WordEncoder": "encoders",
    "XORDataModule": "xor",
    "YelpPolarityDataModule": "yelp",
}


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'datamodules' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"datamodules.{_HOMES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))


__all__ = [
    "SPECIAL_TOKENS",
    "BucketBatchSampler",
    "ClassificationDataModule",
    "Enwik8DataModule",
    "IMDbDataModule",
    "IMDbSynthDataModule",
    "LanguageModelDataModule",
    "PadCollate",
    "ReviewsDataModule",
    "SubwordEncoder",
    "TextData",
    "TextEncoder",
    "TextFileDataModule",
    "TokenDataset",
    "ToyGrammarDataModule",
    "Vocabulary",
    "WordEncoder",
    "XORDataModule",
    "YelpPolarityDataModule",
]
