"""LightningDataModules, one per corpus family, meeting the models through the batch contract."""

from datamodules.base import ClassificationDataModule
from datamodules.collate import BucketBatchSampler, PadCollate, TokenDataset
from datamodules.corpus import TextCorpusDataModule, WordCorpusDataModule
from datamodules.encoders import SubwordEncoder, TextEncoder, WordEncoder
from datamodules.imdb import IMDbDataModule
from datamodules.reviews import ReviewsDataModule
from datamodules.synthetic import IMDbSynthDataModule, XORDataModule
from datamodules.vocab import SPECIAL_TOKENS, Vocabulary
from datamodules.yelp import YelpPolarityDataModule

__all__ = [
    "SPECIAL_TOKENS",
    "BucketBatchSampler",
    "ClassificationDataModule",
    "IMDbDataModule",
    "IMDbSynthDataModule",
    "PadCollate",
    "ReviewsDataModule",
    "SubwordEncoder",
    "TextCorpusDataModule",
    "TextEncoder",
    "TokenDataset",
    "Vocabulary",
    "WordCorpusDataModule",
    "WordEncoder",
    "XORDataModule",
    "YelpPolarityDataModule",
]
