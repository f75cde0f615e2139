"""LightningDataModules, one per corpus family, meeting the models through the contract of contract.py.

Where to read: a corpus's own file (imdb.py, reviews.py, yelp.py, xor.py, imdb_synth.py, toy_grammar.py,
lm_corpora.py for enwik8 and text files), then the one base it names (classification.py or lm.py).
preparation.py turns labelled text into ids on `datasets`; encoders.py turns raw text into ids;
batching.py pads and samples; readers.py parses the raw formats; vocab.py holds the vocabularies.
"""

from datamodules.batching import BucketBatchSampler, PadCollate, TokenDataset
from datamodules.classification import ClassificationDataModule
from datamodules.contract import TextData
from datamodules.encoders import SubwordEncoder, TextEncoder, WordEncoder
from datamodules.imdb import IMDbDataModule
from datamodules.imdb_synth import IMDbSynthDataModule
from datamodules.lm import LanguageModelDataModule
from datamodules.lm_corpora import Enwik8DataModule, TextFileDataModule
from datamodules.reviews import ReviewsDataModule
from datamodules.toy_grammar import ToyGrammarDataModule
from datamodules.vocab import SPECIAL_TOKENS, Vocabulary
from datamodules.xor import XORDataModule
from datamodules.yelp import YelpPolarityDataModule

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
