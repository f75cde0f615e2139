"""lab-exercises: student copies of the lab with the solutions cut out, and their autograder.

    lab-exercises list                                   the exercises of programs/exercises.toml
    lab-exercises copy OUT [--course C] [--exercise E]   the lab's tracked files, each selected region stubbed
    lab-exercises grade COPY [--results results.json]    the lab's parity tests against the copy, per exercise
    lab-exercises restore COPY [--exercise E]            put the reference back into a copy's regions

A region is the part of a function body between `### BEGIN SOLUTION` and `### END SOLUTION` (nbgrader's and
otter-grader's markers); its first line, `### HINT: ...`, says what to return and its shapes. A student copy
keeps the markers and the hint and replaces the rest by `raise NotImplementedError("<hint>")`, so every module
still imports. Grading an exercise runs its tests (pytest node ids of the registry) in a fresh copy of the
reference tree into which only that exercise's functions are taken from the student's copy: an exercise scores
on its own code alone, never through another exercise's stub. Each exercise runs in a process of its own, forked
from one that has imported torch and pytest already, and is killed at its time limit.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from lab_errors import InputError, MissingInputError, first_line

REGISTRY = Path(__file__).with_name("exercises.toml")
MARKER = ".lab-exercises.json"  # written into every copy: what it is and which exercises it stubs
BEGIN, END, HINT = "### BEGIN SOLUTION", "### END SOLUTION", "### HINT:"
OUTPUT_LIMIT = 4000  # characters of pytest's output kept per exercise in results.json


@dataclass(frozen=True)
class Exercise:
    name: str
    courses: tuple[str, ...]
    file: str
    functions: tuple[str, ...]
    tests: tuple[str, ...]
    points: float = 1.0
    timeout: float = 120.0


@dataclass
class Outcome:
    exercise: Exercise
    score: float
    status: str  # "passed", "failed", "timed out", "crashed"
    seconds: float
    output: str = ""
    failed: list[str] = field(default_factory=list)


def load_registry(path: Path = REGISTRY) -> list[Exercise]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return [
        Exercise(
            name=e["name"],
            courses=tuple(e["courses"]),
            file=e["file"],
            functions=tuple(e["functions"]),
            tests=tuple(e["tests"]),
            points=float(e.get("points", 1.0)),
            timeout=float(e.get("timeout", 120.0)),
        )
        for e in data["exercise"]
    ]


def select(registry: list[Exercise], courses: list[str] | None, names: list[str] | None) -> list[Exercise]:
    """The exercises named (all if none), of the courses named (all if none), in the registry's order."""
    known_names = [e.name for e in registry]
    known_courses = sorted({c for e in registry for c in e.courses})
    for name in names or []:
        if name not in known_names:
            raise InputError(f"unknown exercise {name!r}: choose among {', '.join(known_names)} (lab-exercises list)")
    for course in courses or []:
        if course not in known_courses:
            raise InputError(f"unknown course {course!r}: choose among {', '.join(known_courses)}")
    chosen = [
        e for e in registry if (not names or e.name in names) and (not courses or any(c in e.courses for c in courses))
    ]
    if not chosen:
        raise InputError(f"no exercise is both of course(s) {courses} and named {names}: lab-exercises list")
    return chosen


# ---- finding functions and regions in source text ----


def function_span(text: str, qualname: str) -> tuple[int, int] | None:
    """0-based [start, end) line span of `name` or `Class.name` in a module's text (decorators included)."""
    parts = qualname.split(".")
    body = ast.parse(text).body
    node = None
    for i, part in enumerate(parts):
        kinds = (ast.FunctionDef, ast.AsyncFunctionDef) if i == len(parts) - 1 else (ast.ClassDef,)
        node = next((n for n in body if isinstance(n, kinds) and n.name == part), None)
        if node is None:
            return None
        body = node.body
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
    # The AST ends a function at its last statement; the comments right after it that are indented deeper than
    # its `def` (the END marker of a region that closes the body) belong to it too.
    lines, end = text.splitlines(), node.end_lineno
    while end < len(lines) and lines[end].lstrip().startswith("#") and indent_of(lines[end]) > node.col_offset:
        end += 1
    return start, end


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip())


def region_span(lines: list[str], start: int, end: int, where: str) -> tuple[int, int]:
    """Line indices of the BEGIN and END markers inside lines[start:end]."""
    begins = [i for i in range(start, end) if lines[i].strip() == BEGIN]
    ends = [i for i in range(start, end) if lines[i].strip() == END]
    if len(begins) != 1 or len(ends) != 1 or ends[0] < begins[0]:
        raise InputError(f"{where}: needs exactly one '{BEGIN}' … '{END}' region; restore the markers")
    return begins[0], ends[0]


def stub_functions(text: str, functions: tuple[str, ...], where: str) -> str:
    """The module's text with each function's region replaced by its hint and a raise."""
    lines = text.splitlines(keepends=True)
    spans = []
    for qualname in functions:
        span = function_span(text, qualname)
        if span is None:
            raise InputError(f"{where} has no function {qualname}")
        spans.append(region_span(lines, *span, f"{where}:{qualname}"))
    for begin, end in sorted(spans, reverse=True):
        indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
        hint_line = (
            lines[begin + 1] if lines[begin + 1].strip().startswith(HINT) else f"{indent}{HINT} see the docstring\n"
        )
        hint = hint_line.strip()[len(HINT) :].strip()
        lines[begin + 1 : end] = [
            hint_line,
            f"{indent}raise NotImplementedError({json.dumps(hint, ensure_ascii=False)})\n",
        ]
    return "".join(lines)


def splice_functions(into: str, source: str, functions: tuple[str, ...], where: str) -> str:
    """`into` with each of `functions` replaced by its definition in `source` (a student's or the reference)."""
    source_lines = source.splitlines(keepends=True)
    replacements = []
    for qualname in functions:
        span = function_span(source, qualname)
        if span is None:
            raise InputError(
                f"{where} no longer has the function {qualname} that the grader needs: "
                "put it back under that name (a fresh lab-exercises copy shows it)"
            )
        replacements.append((qualname, source_lines[span[0] : span[1]]))
    lines = into.splitlines(keepends=True)
    targets = []
    for qualname, new in replacements:
        span = function_span(into, qualname)
        if span is None:
            raise InputError(f"the reference tree has no function {qualname}: programs/exercises.toml is out of date")
        targets.append((span, new))
    for (start, end), new in sorted(targets, key=lambda t: t[0], reverse=True):
        lines[start:end] = new
    return "".join(lines)


def read_module(tree: Path, relative: str, what: str) -> str:
    path = tree / relative
    if not path.is_file():
        raise MissingInputError(f"{what} {tree} has no {relative}: grade a folder made by lab-exercises copy")
    try:
        text = path.read_text(encoding="utf-8")
        ast.parse(text)
    except SyntaxError as err:
        raise InputError(f"{path}:{err.lineno}: {err.msg}; fix the syntax so the file parses") from None
    return text


# ---- the reference tree ----


def default_source() -> Path:
    return Path(__file__).resolve().parents[1]


def tracked_files(source: Path) -> list[str]:
    """The files git tracks in the lab's tree (as they are on disk), relative to it."""
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z"], cwd=source, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        raise InputError(f"{source} is not a git checkout of the lab: pass --source a clone of it") from None
    return [f for f in listing.split("\0") if f and (source / f).is_file()]


def copy_tree(source: Path, out: Path) -> None:
    for relative in tracked_files(source):
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / relative, target)


def is_previous_copy(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def make_copy(source: Path, out: Path, exercises: list[Exercise]) -> None:
    if out.exists():
        if not out.is_dir() or (any(out.iterdir()) and not is_previous_copy(out)):
            raise InputError(
                f"{out} exists and is not a previous student copy (no {MARKER}): name a new folder or remove it"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True)
    try:
        copy_tree(source, out)
        for relative in sorted({e.file for e in exercises}):
            functions = tuple(f for e in exercises if e.file == relative for f in e.functions)
            path = out / relative
            if not path.is_file():
                raise MissingInputError(f"{relative} of programs/exercises.toml is not a file git tracks in {source}")
            path.write_text(stub_functions(path.read_text(encoding="utf-8"), functions, relative), encoding="utf-8")
        (out / MARKER).write_text(json.dumps({"exercises": [e.name for e in exercises]}, indent=2) + "\n")
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # no half-written copy under its final name
        raise


def restore(source: Path, copy: Path, exercises: list[Exercise]) -> None:
    """Put the reference functions of `exercises` back into a copy."""
    for e in exercises:
        path = copy / e.file
        text = read_module(copy, e.file, "the copy")
        reference = read_module(source, e.file, "the reference tree")
        path.write_text(splice_functions(text, reference, e.functions, f"{path}:"), encoding="utf-8")


# ---- grading ----


def graded_module(source: Path, copy: Path, exercise: Exercise) -> str:
    """The reference module with the exercise's functions taken from the student's copy."""
    student = read_module(copy, exercise.file, "the copy")
    reference = read_module(source, exercise.file, "the reference tree")
    return splice_functions(reference, student, exercise.functions, f"{copy / exercise.file}")


class _Collector:
    """A pytest plugin counting each test's outcome (setup and teardown errors count as failures)."""

    def __init__(self) -> None:
        self.passed: list[str] = []
        self.failed: list[str] = []
        self.collection_errors = 0

    def pytest_runtest_logreport(self, report) -> None:
        if report.when == "call" and report.passed:
            self.passed.append(report.nodeid)
        elif report.failed and report.nodeid not in self.failed:
            self.failed.append(report.nodeid)

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self.collection_errors += 1


def _run_child(tree: Path, exercise: Exercise, log: Path, result: Path) -> None:
    """In the forked child: pytest on the exercise's tests inside `tree`; never returns."""
    status = 1
    try:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 (the child's whole life)
        sys.stderr = sys.stdout
        os.chdir(tree)
        sys.dont_write_bytecode = True  # one tree serves every exercise: a stale .pyc must never be read
        sys.path[:] = [str(tree), *(p for p in sys.path if p not in ("", ".", str(default_source())))]
        import pytest

        collector = _Collector()
        args = [*exercise.tests, "-q", "-p", "no:cacheprovider", "-o", "addopts=--strict-markers", "-x"]
        pytest.main(args, plugins=[collector])
        result.write_text(
            json.dumps(
                {
                    "passed": collector.passed,
                    "failed": collector.failed,
                    "collection_errors": collector.collection_errors,
                }
            )
        )
        status = 0
    finally:
        sys.stdout.flush()
        os._exit(status)


def _tail(path: Path) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return text[-OUTPUT_LIMIT:]


def grade_one(tree: Path, exercise: Exercise, module: str, reference: str, timeout: float, work: Path) -> Outcome:
    target = tree / exercise.file
    target.write_text(module, encoding="utf-8")
    log, result = work / f"{exercise.name}.log", work / f"{exercise.name}.json"
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)
        _run_child(tree, exercise, log, result)
    status = "crashed"
    try:
        deadline = started + timeout
        while True:
            done, code = os.waitpid(pid, os.WNOHANG)
            if done:
                status = "finished" if os.WIFEXITED(code) and os.WEXITSTATUS(code) == 0 else "crashed"
                break
            if time.monotonic() > deadline:
                status = "timed out"
                break
            time.sleep(0.05)
    finally:
        if status != "finished":
            for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    kill()
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        target.write_text(reference, encoding="utf-8")
    seconds = time.monotonic() - started
    output = _tail(log)
    if status == "finished" and result.exists():
        counts = json.loads(result.read_text())
        expected_ok = not counts["failed"] and not counts["collection_errors"] and counts["passed"]
        status = "passed" if expected_ok else "failed"
        failed = counts["failed"]
    else:
        failed = list(exercise.tests)
        limit = f" after the {timeout:g} s limit" if status == "timed out" else ""
        output = f"{output}\n[lab-exercises] the tests {status}{limit}; the exercise scores 0".lstrip()
    score = exercise.points if status == "passed" else 0.0
    return Outcome(exercise, score, status, seconds, output, failed)


def preload() -> None:
    """Import once, before forking, what every exercise's tests import: each child starts warm."""
    import pytest  # noqa: F401
    import torch  # noqa: F401

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):  # as tests/conftest.py sets
        os.environ.setdefault(name, "1")
    for module in ("lightning.pytorch", "torchmetrics", "transformers", "datasets"):  # third-party only
        with contextlib.suppress(ImportError):  # dependencies; without one the children import it themselves
            importlib.import_module(module)


def grade(source: Path, copy: Path, exercises: list[Exercise], timeout: float | None) -> list[Outcome]:
    if not copy.is_dir():
        raise MissingInputError(f"{copy} is not a folder: grade a folder made by lab-exercises copy")
    modules = {e.name: graded_module(source, copy, e) for e in exercises}  # every bad input before any test runs
    preload()
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="lab-grade-") as tmp:
        tree, work = Path(tmp) / "tree", Path(tmp) / "work"
        work.mkdir()
        copy_tree(source, tree)
        for e in exercises:
            reference = (tree / e.file).read_text(encoding="utf-8")
            outcome = grade_one(tree, e, modules[e.name], reference, timeout or e.timeout, work)
            print(
                f"{e.name:<30} {outcome.score:g}/{e.points:g}  {outcome.status} ({outcome.seconds:.1f} s)", flush=True
            )
            outcomes.append(outcome)
    return outcomes


def results_json(outcomes: list[Outcome], seconds: float) -> dict:
    """Gradescope's autograder results format (score, execution_time, output, tests with per-test fields)."""
    total = sum(o.score for o in outcomes)
    most = sum(o.exercise.points for o in outcomes)
    return {
        "score": total,
        "execution_time": round(seconds, 3),
        "output": f"{total:g} of {most:g} points",
        "visibility": "visible",
        "stdout_visibility": "visible",
        "tests": [
            {
                "name": o.exercise.name,
                "number": str(i),
                "score": o.score,
                "max_score": o.exercise.points,
                "status": "passed" if o.status == "passed" else "failed",
                "output": o.output,
                "tags": list(o.exercise.courses),
                "visibility": "visible",
            }
            for i, o in enumerate(outcomes, start=1)
        ],
    }


def copy_exercises(copy: Path, registry: list[Exercise]) -> list[str] | None:
    marker = copy / MARKER
    if marker.is_file():
        return [n for n in json.loads(marker.read_text())["exercises"] if n in {e.name for e in registry}]
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lab-exercises",
        description="Student copies of the lab with the solutions cut out, and the autograder (docs/teaching.md).",
    )
    parser.add_argument("--source", type=Path, default=None, help="the lab's reference tree (default: this one)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the exercises: name, courses, file, functions, tests")

    def selection(p: argparse.ArgumentParser) -> None:
        p.add_argument("--course", action="append", help="only this course's exercises (repeatable)")
        p.add_argument("--exercise", action="append", help="only this exercise (repeatable)")

    p = commands.add_parser("copy", help="write a student copy: the tracked files, each selected region stubbed")
    p.add_argument("out", type=Path, help="a new folder, an empty one or a previous copy (replaced)")
    selection(p)
    p = commands.add_parser("grade", help="grade a copy: the lab's tests per exercise, each in its own process")
    p.add_argument("copy", type=Path, help="the student's copy")
    p.add_argument("--results", type=Path, default=Path("results.json"), help="Gradescope's results.json to write")
    p.add_argument("--timeout", type=float, default=None, help="seconds per exercise (default: the registry's)")
    selection(p)
    p = commands.add_parser("restore", help="put the reference back into a copy's regions (a solution copy)")
    p.add_argument("copy", type=Path)
    selection(p)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        source = (args.source or default_source()).resolve()
        registry = load_registry()
        if args.command == "list":
            for e in registry:
                print(f"{e.name:<30} {', '.join(e.courses)}")
                print(f"    {e.file}: {', '.join(e.functions)}")
                for t in e.tests:
                    print(f"    {t}")
            return
        names = args.exercise
        if args.command == "grade" and not names and not args.course:
            names = copy_exercises(args.copy, registry)
        chosen = select(registry, args.course, names)
        if args.command == "copy":
            make_copy(source, args.out, chosen)
            print(f"wrote a student copy to {args.out}: {len(chosen)} exercise(s), {', '.join(e.name for e in chosen)}")
        elif args.command == "restore":
            restore(source, args.copy, chosen)
            print(f"restored {', '.join(e.name for e in chosen)} in {args.copy}")
        else:
            started = time.monotonic()
            outcomes = grade(source, args.copy, chosen, args.timeout)
            seconds = time.monotonic() - started
            results = results_json(outcomes, seconds)
            args.results.parent.mkdir(parents=True, exist_ok=True)
            args.results.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            most = sum(e.points for e in chosen)
            print(f"score: {results['score']:g} of {most:g} in {seconds:.1f} s; wrote {args.results}")
    except InputError as err:
        # Not lightning_modules.one_line_errors: importing that package would import the reference layers into
        # the process the graded children fork from. The same one line and exit status.
        sys.stderr.write(f"error: {first_line(err)}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
