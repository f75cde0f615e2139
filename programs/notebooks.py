"""lab-notebooks: the lab's notebooks, kept as text and built into .ipynb files, and run as CI runs them.

    lab-notebooks list                          the notebooks and their sources
    lab-notebooks build [NAME ...] [--check]    notebooks/NAME.ipynb from its source; --check: fail if one is stale
    lab-notebooks run [NAME ...] [--out DIR]    execute each in a fresh kernel, offline, on the CPU

The sources are text so that they diff and review like code: each course's notebook is `notebooks/NAME.py` in
jupytext's py:percent format, and the walkthrough's is the documentation page `docs/walkthrough.md` itself (its
Python blocks become the code cells, so the page and the notebook cannot drift apart). Every built notebook
starts with the same setup cell, which makes the lab importable whether Jupyter starts it in notebooks/ or at
the repository's root. The .ipynb files are committed without outputs, for those who open them in Jupyter or
on a forge; `build --check` (a test) keeps them current.

A student copy (`lab-exercises copy`) holds the same notebooks: their `show`/`check` cells
(programs/exercise_cells.py) then show the student's stubs and fail until each region is written, so each
notebook's student twin comes from the same solution regions as the lab's own code.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from lab_errors import InputError, first_line

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
CELL_TIMEOUT = 600  # seconds; a cell that trains runs for well under a minute here
# Each course of programs/exercises.toml and its notebook, which shows and checks every exercise of the course.
COURSE_NOTEBOOKS = {
    "dlvu-a3b": "dlvu_a3b",
    "ift6135-a2": "ift6135_a2",
    "ml-methods-ex5": "ml_methods_ex5",
    "mlm-bert-notebook": "mlm_bert",
    "nlp-hw2": "nlp_hw2",
}

SETUP_CELL = """\
# Setup: the lab's packages and configs/ live at the repository's root; Jupyter starts a kernel in the
# notebook's own folder (notebooks/), so move up when started there.
import os
import sys
from pathlib import Path

if not Path("configs").is_dir() and Path("../configs").is_dir():
    os.chdir("..")
if os.getcwd() not in sys.path:
    sys.path.insert(0, os.getcwd())"""


@dataclass(frozen=True)
class Notebook:
    name: str
    source: Path

    @property
    def target(self) -> Path:
        return NOTEBOOKS / f"{self.name}.ipynb"


def notebooks() -> list[Notebook]:
    found = [Notebook("walkthrough", ROOT / "docs" / "walkthrough.md")]
    found += [Notebook(path.stem, path) for path in sorted(NOTEBOOKS.glob("*.py"))]
    return found


def chosen(names: list[str]) -> list[Notebook]:
    known = {nb.name: nb for nb in notebooks()}
    for name in names:
        if name not in known:
            raise InputError(f"unknown notebook {name!r}: choose among {', '.join(known)} (lab-notebooks list)")
    return [known[n] for n in names] if names else list(known.values())


def as_notebook(notebook: Notebook):
    """The source as an nbformat notebook: the setup cell first; shell blocks shown, not run (a server such as
    `tensorboard --logdir runs` would never return)."""
    import jupytext
    import nbformat

    nb = jupytext.read(notebook.source)
    cells = [nbformat.v4.new_code_cell(SETUP_CELL)]
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith(("%%bash", "%%sh")):
            command = cell.source.split("\n", 1)[1] if "\n" in cell.source else ""
            cells.append(nbformat.v4.new_markdown_cell(f"```bash\n{command}\n```"))
        else:
            cells.append(cell)
    built = nbformat.v4.new_notebook(cells=cells)
    built.metadata = {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "lab": {"source": shown(notebook.source), "built_by": "lab-notebooks build"},
    }
    for number, cell in enumerate(built.cells):
        cell.metadata = {}
        cell["id"] = f"cell-{number}"  # stable ids: a rebuild of an unchanged source is byte-identical
    return built


def rendered(notebook: Notebook) -> str:
    import nbformat

    return nbformat.writes(as_notebook(notebook)) + "\n"


def stale(selection: list[Notebook]) -> list[Notebook]:
    return [nb for nb in selection if not nb.target.is_file() or nb.target.read_text(encoding="utf-8") != rendered(nb)]


def build(selection: list[Notebook]) -> None:
    NOTEBOOKS.mkdir(exist_ok=True)
    for nb in selection:
        nb.target.write_text(rendered(nb), encoding="utf-8")
        print(f"wrote {nb.target.relative_to(ROOT)} from {nb.source.relative_to(ROOT)}")


class NotebookFailed(InputError):
    """A cell raised: the notebook, the cell and the error, in one line."""


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def execute(notebook: Notebook, out: Path | None) -> float:
    """Run every cell in a fresh kernel, in a scratch folder beside the lab (runs/ and caches go there); write the
    executed notebook into `out`. Returns the seconds it took."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = as_notebook(notebook)
    with tempfile.TemporaryDirectory(prefix=f"lab-notebook-{notebook.name}-") as scratch:
        (Path(scratch) / "configs").symlink_to(ROOT / "configs")
        resources = {"metadata": {"path": scratch}}  # the kernel's working folder
        client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", resources=resources)
        # The kernel imports the lab from a scratch folder: it finds it on its PYTHONPATH.
        kernel_path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        started = time.monotonic()
        try:
            client.execute(env={**os.environ, "PYTHONPATH": kernel_path})
        except CellExecutionError as err:
            failing = next(
                (i for i, c in enumerate(nb.cells) if c.get("outputs") and c.outputs[-1].get("output_type") == "error"),
                None,
            )
            where = "a cell" if failing is None else f"cell {failing} ({nb.cells[failing].source.splitlines()[0]!r})"
            raise NotebookFailed(
                f"{shown(notebook.source)}: {where} failed: {err.ename}: {first_line(err.evalue)}"
            ) from None
        finally:
            if out is not None:
                out.mkdir(parents=True, exist_ok=True)
                nbformat.write(nb, out / f"{notebook.name}.ipynb")
        return time.monotonic() - started


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lab-notebooks",
        description="The lab's notebooks: built from text, and run as CI runs them (docs/teaching.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the notebooks and their sources")
    p = commands.add_parser("build", help="write notebooks/NAME.ipynb from its text source")
    p.add_argument("names", nargs="*", help="notebooks to build (default: all)")
    p.add_argument("--check", action="store_true", help="write nothing; fail if a committed .ipynb is stale")
    p = commands.add_parser("run", help="execute notebooks in a fresh kernel each; fail on the first error")
    p.add_argument("names", nargs="*", help="notebooks to run (default: all)")
    p.add_argument("--out", type=Path, default=None, help="write the executed notebooks (with outputs) here")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "list":
            for nb in notebooks():
                print(f"{nb.name:<16} {nb.source.relative_to(ROOT)} → {nb.target.relative_to(ROOT)}")
            return
        selection = chosen(args.names)
        if args.command == "build" and args.check:
            outdated = stale(selection)
            if outdated:
                names = " ".join(nb.name for nb in outdated)
                raise InputError(f"stale notebook(s) {names}: run lab-notebooks build {names} and commit the .ipynb")
            print(f"{len(selection)} notebook(s) current")
        elif args.command == "build":
            build(selection)
        else:
            total = 0.0
            for nb in selection:
                seconds = execute(nb, args.out)
                total += seconds
                print(f"{nb.name}: every cell ran, {seconds:.1f} s", flush=True)
            print(f"{len(selection)} notebook(s) in {total:.1f} s")
    except InputError as err:
        sys.stderr.write(f"error: {first_line(err)}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
