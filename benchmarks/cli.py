"""`lab-benchmark NAME [ARGS...]`: run the benchmark benchmarks/NAME.py with ARGS; alone or with --help, the list.

    lab-benchmark attention --device cuda --dtype bfloat16
    lab-benchmark lstm --help                       # a benchmark's own options
    lab-benchmark --help                            # the benchmarks, each with the first line of its docstring

The same as `python -m benchmarks.NAME ARGS` from the repository root. Every benchmark runs under the lab's
allocation policy (lightning_modules/allocator.py), as its `python -m` form sets it; configs_table's figures
come from the train.py processes it starts, which set their own, so for it the policy changes nothing measured.
An unknown NAME is one line on stderr, exit status 2.
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

from lightning_modules.allocator import tune_allocator

PACKAGE = Path(__file__).resolve().parent


def available() -> dict[str, str]:
    """The benchmarks by name, each with its docstring's first line: every module of this package with a
    top-level main() but this one (timing.py is what they share). Read from the sources, importing none."""
    benchmarks = {}
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        has_main = any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body)
        if has_main and path != Path(__file__).resolve():
            benchmarks[path.stem] = (ast.get_docstring(tree) or "").split("\n")[0]
    return benchmarks


def listing(benchmarks: dict[str, str]) -> str:
    width = max(map(len, benchmarks))
    lines = [
        "usage: lab-benchmark NAME [ARGS...]        (lab-benchmark NAME --help: that benchmark's options)",
        "",
        "benchmarks:",
        *(f"  {name:<{width}}  {summary}" for name, summary in benchmarks.items()),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    benchmarks = available()
    if not argv or argv[0] in ("-h", "--help"):
        asked = bool(argv)  # --help is an answer; no name at all is a command line that runs nothing
        (sys.stdout if asked else sys.stderr).write(listing(benchmarks))
        sys.exit(0 if asked else 2)
    name, args = argv[0], argv[1:]
    if name not in benchmarks:
        sys.stderr.write(f"error: no benchmark named {name!r}; the benchmarks are {', '.join(benchmarks)}\n")
        sys.exit(2)
    module = importlib.import_module(f"{__package__}.{name}")
    # sys.argv as the benchmark sees it when run on its own, so that its usage line reads `lab-benchmark NAME`.
    sys.argv = [f"{sys.argv[0]} {name}", *args]
    module.main(args)


def run() -> None:
    """The program behind the `lab-benchmark` command: the process's allocation policy first (a program's
    choice, so not in main(), which tests call in-process), then main()."""
    tune_allocator()
    main()


if __name__ == "__main__":
    run()
