"""LightningDataModules, one per corpus family, meeting the models through the batch contract."""

from datamodules.base import ClassificationDataModule
from datamodules.collate import BucketBatchSampler, PadCollate, TokenDataset
from datamodules.synthetic import IMDbSynthDataModule, XORDataModule
from datamodules.vocab import SPECIAL_TOKENS, Vocabulary

__all__ = [
    "SPECIAL_TOKENS",
    "BucketBatchSampler",
    "ClassificationDataModule",
    "IMDbSynthDataModule",
    "PadCollate",
    "TokenDataset",
    "Vocabulary",
    "XORDataModule",
]
