"""Small corpora in the real layouts, written by the tests themselves (no download, no shared data).

Reviews are built from sentiment words so a model can learn them, and include the awkward cases real
files have: `<br />` breaks, mixed case, a stray non-UTF-8 byte, an empty review, a very long review.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import tarfile
from pathlib import Path

POSITIVE = ["great", "wonderful", "superb", "moving", "brilliant", "delightful", "masterpiece", "touching"]
NEGATIVE = ["awful", "boring", "terrible", "dull", "tedious", "horrible", "mess", "pointless"]
FILLER = ["the", "film", "plot", "actor", "scene", "story", "and", "was", "a", "it", "movie", "this"]
TEST_ONLY_WORD = "zyzzyva"  # appears in test reviews only: must not enter the vocabulary
VAL_TRAIN_WORD = "quokka"  # appears in training reviews only


def review(rng: random.Random, positive: bool, length: int = 20) -> str:
    words = [rng.choice(FILLER) for _ in range(length)]
    for _ in range(3):
        words[rng.randrange(length)] = rng.choice(POSITIVE if positive else NEGATIVE)
    text = " ".join(words).capitalize() + "."
    return text.replace(" and ", " and<br /><br />", 1)


def acl_imdb_files(per_label: int = 12, seed: int = 0) -> dict[str, bytes]:
    """aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt → content, with the awkward cases in train."""
    rng = random.Random(seed)
    files = {}
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            for i in range(per_label):
                text = review(rng, label == "pos")
                if split == "test" and i == 0:
                    text += f" {TEST_ONLY_WORD}"
                if split == "train" and i == 1:
                    text += f" {VAL_TRAIN_WORD}"
                data = text.encode()
                if split == "train" and label == "neg" and i == 2:
                    data = b"Caf\xe9 " + data  # latin-1, not UTF-8
                if split == "train" and label == "pos" and i == 3:
                    data = b""  # an empty review
                if split == "train" and label == "pos" and i == 4:
                    data = (text + " ").encode() * 40  # far longer than max_len
                rating = 8 if label == "pos" else 2
                files[f"aclImdb/{split}/{label}/{i}_{rating}.txt"] = data
    files["aclImdb/imdb.vocab"] = b"the\nfilm\n"
    return files


def write_acl_imdb(root: Path, as_tar: bool = False, per_label: int = 12) -> Path:
    """The standard distribution's layout, as a folder (returns root/aclImdb) or a .tar.gz."""
    files = acl_imdb_files(per_label)
    root.mkdir(parents=True, exist_ok=True)
    if as_tar:
        path = root / "aclImdb_v1.tar.gz"
        with tarfile.open(path, "w:gz") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return path
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root / "aclImdb"


def write_glove(path: Path, words: list[str], dim: int = 50, seed: int = 0) -> Path:
    """A GloVe-format file (`word v1 … vD` per line) for `words`; gzipped if the name ends in .gz."""
    rng = random.Random(seed)
    lines = [f"{w} " + " ".join(f"{rng.gauss(0, 0.4):.5f}" for _ in range(dim)) for w in words]
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def write_reviews_tsv(path: Path, n: int = 40, seed: int = 0, offset: int = 0) -> Path:
    """`id<TAB>pos|neg<TAB>text` lines, one with a \\x85 inside its text as real IMDb reviews have."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        positive = i % 2 == 0
        text = review(rng, positive)
        if i == 3:
            text = text.replace(" ", " \x85 ", 1)
        lines.append(f"{offset + i}\t{'pos' if positive else 'neg'}\t{text}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_yelp(folder: Path, n_train: int = 60, n_test: int = 20, seed: int = 0) -> tuple[Path, Path]:
    """The shared slices' two formats: a JSON list of {text, label} and `<label> <text>` lines."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    train = [{"text": review(rng, i % 2 == 0), "label": int(i % 2 == 0)} for i in range(n_train)]
    (folder / "train.json").write_text(json.dumps(train))
    test_lines = [f"{int(i % 2 == 0)} {review(rng, i % 2 == 0).lower()}" for i in range(n_test)]
    (folder / "test.txt").write_text("\n".join(test_lines) + "\n")
    return folder / "train.json", folder / "test.txt"


def write_enwik8(path: Path, n_bytes: int = 20_000) -> Path:
    """Wikipedia-like XML bytes (with some multi-byte UTF-8), gzipped like the shared prefix."""
    page = "<page><title>Koala</title><text>The koala (Phascolarctos) eats eucalyptus – café. </text></page>\n"
    data = (page * (n_bytes // len(page) + 1)).encode()[:n_bytes]
    path.write_bytes(gzip.compress(data))
    return path


def vocabulary_words() -> list[str]:
    """The words the fixture reviews use, for GloVe fixtures that cover most of them."""
    return FILLER + POSITIVE + NEGATIVE + [".", "<", ">", "br", "/"]


def _config_files() -> list[Path]:
    configs = Path(__file__).resolve().parents[1] / "configs"
    return sorted(p for p in configs.rglob("*.yaml") if p.relative_to(configs).parts[0] != "search_spaces")


def _is_complete(path: Path) -> bool:
    import yaml

    return "data" in (yaml.safe_load(path.read_text()) or {})


def experiment_configs() -> list[Path]:
    """Every complete train.py config of configs/ (model and data): its YAML files but those of
    configs/search_spaces/, which are tune.py's Optuna search spaces, and the compositions (composed_configs)."""
    return [p for p in _config_files() if _is_complete(p)]


def composed_configs() -> list[tuple[Path, Path]]:
    """(base, composition) for every file of configs/ that changes a complete config rather than being one
    (configs/ablations/no_residual.yaml on configs/ablations/lm.yaml): its folder's one complete config is the base."""
    pairs = []
    for path in _config_files():
        if _is_complete(path):
            continue
        bases = [p for p in path.parent.glob("*.yaml") if _is_complete(p)]
        if len(bases) != 1:
            raise AssertionError(
                f"{path} has no data section, so it composes on its folder's one complete config; found {bases}"
            )
        pairs.append((bases[0], path))
    return pairs


def config_overrides(config: Path, corpora: dict) -> list[str]:
    """Arguments that point a config of configs/ at the fixture corpora and keep its run small."""
    import yaml

    settings = yaml.safe_load(config.read_text())
    data_class = settings["data"]["class_path"].rsplit(".", 1)[-1]
    small_lm = {"seq_len": 32, "batch_size": 4, "batches_per_epoch": 2, "last_token_batches": 2}
    data = {
        "XORDataModule": {"train_size": 512, "val_size": 256, "test_size": 128},
        "IMDbSynthDataModule": {"train_size": 512, "val_size": 256, "test_size": 128},
        "IMDbDataModule": {"data_dir": corpora["imdb_tar"], "val_size": 4, "cache_dir": corpora["cache"]},
        "ReviewsDataModule": {
            "train_path": corpora["reviews_train"],
            "val_path": corpora["reviews_dev"],
            "cache_dir": corpora["cache"],
        },
        "YelpPolarityDataModule": {
            "train_path": corpora["yelp_train"],
            "test_path": corpora["yelp_test"],
            "val_size": 8,
            "wordpiece_vocab_size": 200,
            "cache_dir": corpora["cache"],
        },
        "ToyGrammarDataModule": {"train_chars": 3000, "val_chars": 600, **small_lm},
        "Enwik8DataModule": {"path": corpora["enwik8"], **small_lm},
        "IMDbTextDataModule": {
            "data_dir": corpora["imdb_tar"],
            "cache_dir": corpora["cache"],
            "bpe_vocab_size": 300,
            "eval_reviews": 6,
            **small_lm,
        },
    }[data_class]
    args = ["--trainer.enable_progress_bar", "false"]
    for key, value in data.items():
        args += [f"--data.init_args.{key}", str(value)]
    backbone = settings["model"]["init_args"].get("backbone") or {}
    encoder = (backbone.get("init_args") or {}).get("encoder") or {}
    if (encoder.get("init_args") or {}).get("word_vectors"):
        args += ["--model.init_args.backbone.init_args.encoder.init_args.word_vectors", str(corpora["glove"])]
    from tests.pretrained_fixtures import encoder_overrides

    return args + encoder_overrides(settings, corpora, data)
