"""IMDb (Maas et al., 2011): 25k training and 25k test movie reviews, word-level."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch.utilities import rank_zero_warn

from datamodules.corpus import RawSplits, WordCorpusDataModule
from datamodules.readers import read_acl_imdb, read_hub


class IMDbDataModule(WordCorpusDataModule):
    """Reads `data_dir` (the aclImdb folder, its parent, or aclImdb_v1.tar.gz) when it exists, else the hub
    dataset `hub_name`. Validation is carved from train (`val_size`, `split_seed`); the 25k test reviews
    are only for `test`. spaCy tokens, lower-cased, `<br />` removed; vocabulary from the training split;
    reviews truncated to `max_len` tokens when batched."""

    name = "imdb"

    def __init__(self, data_dir: str | None = None, hub_name: str = "stanfordnlp/imdb", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_dir, self.hub_name = data_dir, hub_name

    def local_path(self) -> Path | None:
        if self.data_dir is None:
            return None
        path = Path(self.data_dir).expanduser()
        if not path.exists():
            rank_zero_warn(f"IMDb: {path} does not exist; trying the hub dataset {self.hub_name}")
            return None
        return path

    def source(self) -> dict[str, Any]:
        from datamodules.cache import fingerprint

        path = self.local_path()
        return fingerprint(path) if path else {"hub": self.hub_name}

    def read(self) -> RawSplits:
        path = self.local_path()
        if path is not None:
            return read_acl_imdb(path)
        try:
            return read_hub(self.hub_name)
        except FileNotFoundError as err:
            where = f"{self.data_dir} does not exist, and " if self.data_dir else "no data_dir was given, and "
            raise FileNotFoundError(
                f"IMDb not found: {where}{err}. Download "
                "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz and pass "
                "--data.init_args.data_dir PATH"
            ) from err
