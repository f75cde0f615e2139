"""How trained sentiment classifiers hold up when their input is perturbed: accuracy per model × perturbation.

    python -m programs.robustness --ckpt_path runs/yelp/baseline/version_0/checkpoints/last.ckpt \\
        runs/yelp/transformer/version_0/checkpoints/last.ckpt --out reports/robustness
    python -m programs.robustness --ckpt_path CKPT --out DIR --perturbations clean typos negation typos+word_dropout
    python -m programs.robustness --ckpt_path CKPT --out DIR --data my_reviews.jsonl --limit 200 --seed 1 --examples 5

Each checkpoint is a classifier that carries its text encoder (see sentiment.py); every text is perturbed
(datamodules/perturbations.py, seeded: the same run gives the same texts), cut to the model's max_len as
in training, and classified in batches. The labelled file (default: the Yelp test reviews) is read like the
data modules read it: `<label> <text>` lines, .json, .jsonl or .csv. DIR/robustness.md gets the accuracy of
each model under each perturbation and its drop against the clean text, whether each perturbation should
preserve the label, and examples (original text, perturbed text, each model's prediction);
DIR/robustness.png charts the drops. `clean` is always evaluated first: the drops are measured from it.
`pip install .` also installs this command as `lab-robustness`.
"""

from __future__ import annotations

import argparse
import html
import random
from dataclasses import dataclass
from pathlib import Path

from lightning import LightningModule

from datamodules.perturbations import PERTURBATIONS, Perturbation, compose
from datamodules.readers import read_labelled_file
from lab_errors import InputError, MissingInputError
from lightning_modules.checkpoints import run_folder_of
from lightning_modules.classifier import TextClassifier
from lightning_modules.one_line_errors import input_errors_in_one_line
from programs.sentiment import load_classifier, predict_sentiment

DEFAULT_DATA = Path("data/yelp_polarity/textfooler_1000.txt")
# Every single perturbation but the ones a lower-casing encoder cannot see, then two compositions.
DEFAULT_PERTURBATIONS = (
    "clean",
    "typos",
    "word_dropout",
    "synonyms",
    "negation",
    "sentence_shuffle",
    "random_case",
    "strip_punctuation",
    "truncate_first",
    "truncate_last",
    "filler_start",
    "typos+word_dropout",
    "synonyms+strip_punctuation+random_case",
)
LABEL_NAMES = ("negative", "positive")


@dataclass
class Result:
    """One model under one perturbation: P(positive) for every text, and the accuracy of p ≥ 0.5."""

    probabilities: list[float]
    accuracy: float


def load_sentiment_classifier(ckpt_path: str) -> TextClassifier:
    """sentiment.load_classifier (a checkpoint of another task is an InputError naming it), then a check that
    it classifies into two classes, negative and positive."""
    model = load_classifier(ckpt_path)
    if model.hparams.num_classes != 2:
        raise InputError(
            f"{ckpt_path} classifies into {model.hparams.num_classes} classes: the robustness probes need a "
            "two-class (negative/positive) sentiment classifier"
        )
    return model


def model_names(ckpt_paths: list[str]) -> list[str]:
    """Short names for the table: task/experiment/version_N for a checkpoint in a run folder, else the path;
    the full path wherever two short names collide."""
    names = []
    for path in ckpt_paths:
        run = run_folder_of(Path(path))
        names.append("/".join(run.parts[-3:]) if run is not None else path)
    return [name if names.count(name) == 1 else path for name, path in zip(names, ckpt_paths, strict=True)]


def read_data(path: Path, limit: int | None) -> tuple[list[str], list[int]]:
    if limit is not None and limit < 1:
        raise InputError(f"no text to evaluate with --limit {limit}: give at least 1")
    if not path.is_file():
        raise MissingInputError(f"{path}: no such labelled file (give --data <label> <text> lines, json or csv)")
    texts, labels = read_labelled_file(path)
    return (texts[:limit], labels[:limit]) if limit else (texts, labels)


def predict(model: LightningModule, texts: list[str], batch_size: int) -> list[float]:
    """P(positive) for every text, `batch_size` texts a forward pass (predict_sentiment cuts each to the
    model's max_len)."""
    return [
        p
        for start in range(0, len(texts), batch_size)
        for p in predict_sentiment(model, texts[start : start + batch_size])
    ]


def accuracy(probabilities: list[float], labels: list[int]) -> float:
    return sum((p >= 0.5) == bool(y) for p, y in zip(probabilities, labels, strict=True)) / len(labels)


def evaluate(
    models: dict[str, LightningModule],
    perturbations: list[Perturbation],
    texts: list[str],
    labels: list[int],
    seed: int,
    batch_size: int,
) -> tuple[dict[str, list[str]], dict[tuple[str, str], Result]]:
    """The perturbed texts of each perturbation, and each model's Result on them; one log line each."""
    perturbed, results = {}, {}
    for perturbation in perturbations:
        perturbed[perturbation.name] = [perturbation(text, seed) for text in texts]
        for name, model in models.items():
            probabilities = predict(model, perturbed[perturbation.name], batch_size)
            results[name, perturbation.name] = Result(probabilities, accuracy(probabilities, labels))
            clean = results[name, "clean"].accuracy
            print(
                f"{name} × {perturbation.name}: accuracy {results[name, perturbation.name].accuracy:.3f} "
                f"(clean {clean:.3f})",
                flush=True,
            )
    return perturbed, results


def pick_examples(
    perturbation: str, models: list[str], results: dict[tuple[str, str], Result], k: int, seed: int
) -> list[int]:
    """`k` texts to show for a perturbation: first those where some model changed its verdict, then others,
    each group in a seeded random order."""
    n = len(results[models[0], "clean"].probabilities)
    order = list(range(n))
    random.Random(seed).shuffle(order)

    def flipped(i: int) -> bool:
        return any(
            (results[m, "clean"].probabilities[i] >= 0.5) != (results[m, perturbation].probabilities[i] >= 0.5)
            for m in models
        )

    return sorted(order, key=lambda i: not flipped(i))[:k]


def markdown_text(text: str, max_chars: int = 600) -> str:
    """A text shown inside Markdown: on one line, HTML and emphasis characters escaped, long ones cut."""
    text = " ".join(text.split())
    if len(text) > max_chars:
        text = text[:max_chars] + "…"
    text = html.escape(text, quote=False)
    for ch in "\\`*_[]|#":
        text = text.replace(ch, "\\" + ch)
    return text


def verdict(p: float) -> str:
    return f"{LABEL_NAMES[p >= 0.5]} ({p:.2f})"


def write_report(
    out: Path,
    data: Path,
    seed: int,
    texts: list[str],
    labels: list[int],
    perturbations: list[Perturbation],
    perturbed: dict[str, list[str]],
    results: dict[tuple[str, str], Result],
    models: list[str],
    n_examples: int,
) -> Path:
    lines = [
        "# Robustness probes",
        "",
        f"{len(texts)} labelled texts from `{data}`, seed {seed}. Accuracy of each model under each perturbation, "
        "and its drop against the clean text (positive: the model got worse). A perturbation that should "
        "preserve the label is a test of robustness; one that flips it (negation) should make accuracy fall.",
        "",
        "| perturbation | preserves label | " + " | ".join(f"{m} accuracy | {m} drop" for m in models) + " |",
        "|---|---|" + "---:|---:|" * len(models),
    ]
    for p in perturbations:
        cells = []
        for m in models:
            acc = results[m, p.name].accuracy
            cells += [f"{acc:.3f}", f"{results[m, 'clean'].accuracy - acc:+.3f}"]
        lines.append(f"| {p.name} | {'yes' if p.preserves_label else 'no'} | " + " | ".join(cells) + " |")
    lines += ["", "![accuracy drop per perturbation](robustness.png)", "", "## Perturbations", ""]
    for p in perturbations:
        should = "should preserve the label" if p.preserves_label else "should flip the label"
        lines.append(f"- `{p.name}` ({should}): {p.description}")
    lines += ["", "## Examples", ""]
    for p in perturbations:
        if p.name == "clean" or not n_examples:
            continue
        lines += [f"### {p.name}", ""]
        for number, i in enumerate(pick_examples(p.name, models, results, n_examples, seed), start=1):
            lines += [
                f"{number}. label {LABEL_NAMES[labels[i]]}",
                f"   - original: {markdown_text(texts[i])}",
                f"   - perturbed: {markdown_text(perturbed[p.name][i])}",
            ]
            for m in models:
                before, after = results[m, "clean"].probabilities[i], results[m, p.name].probabilities[i]
                lines.append(f"   - {m}: {verdict(before)} → {verdict(after)}")
        lines.append("")
    report = out / "robustness.md"
    report.write_text("\n".join(lines).rstrip("\n") + "\n")
    return report


def plot_drops(out: Path, perturbations: list[Perturbation], results: dict[tuple[str, str], Result], models: list[str]):
    """A grouped bar chart: the accuracy drop of every model under every perturbation but clean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [p.name for p in perturbations if p.name != "clean"]
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(names) + 2), 4.2))
    for j, m in enumerate(models):
        drops = [results[m, "clean"].accuracy - results[m, n].accuracy for n in names]
        ax.bar([i + (j - (len(models) - 1) / 2) * width for i in range(len(names))], drops, width, label=m)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("accuracy drop vs clean")
    ax.set_title("Robustness: drop in accuracy under each perturbation")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "robustness.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt_path", nargs="+", required=True, help="one or more sentiment classifier checkpoints")
    p.add_argument("--out", type=Path, required=True, help="folder for robustness.md and robustness.png")
    p.add_argument(
        "--perturbations",
        nargs="+",
        default=list(DEFAULT_PERTURBATIONS),
        help=f"names, or names joined by + (composed left to right); known: {', '.join(PERTURBATIONS)}",
    )
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a labelled file (<label> <text>, json, csv)")
    p.add_argument("--limit", type=int, default=None, help="evaluate the first N texts only")
    p.add_argument("--seed", type=int, default=0, help="seeds the perturbations and the choice of examples")
    p.add_argument("--examples", type=int, default=3, help="examples shown per perturbation")
    p.add_argument("--batch_size", type=int, default=256, help="texts a forward pass")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with input_errors_in_one_line():
        if args.batch_size < 1 or args.examples < 0:
            raise InputError(f"give --batch_size ≥ 1 and --examples ≥ 0, got {args.batch_size} and {args.examples}")
        names = ["clean", *(n for n in args.perturbations if n != "clean")]  # the reference comes first
        perturbations = [compose(name) for name in dict.fromkeys(names)]
        texts, labels = read_data(args.data, args.limit)
        models = dict(zip(model_names(args.ckpt_path), map(load_sentiment_classifier, args.ckpt_path), strict=True))
    perturbed, results = evaluate(models, perturbations, texts, labels, args.seed, args.batch_size)
    args.out.mkdir(parents=True, exist_ok=True)
    report = write_report(
        args.out, args.data, args.seed, texts, labels, perturbations, perturbed, results, list(models), args.examples
    )
    chart = plot_drops(args.out, perturbations, results, list(models))
    print(f"{report} and {chart}: {len(models)} models × {len(perturbations)} perturbations on {len(texts)} texts")


if __name__ == "__main__":
    main()
