"""What a notebook's exercise cells call: `show` an exercise's functions as this tree has them, and
`check` them with the lab's own tests for that exercise (programs/exercises.toml).

In the lab itself they show the reference and pass; in a student copy (`lab-exercises copy`) the same notebook
shows the stub and its hint, and the check fails until the student has written the function. The check runs the
exercise's tests on the files as they are now, in the notebook's own process: the lab's modules are imported
anew for the check (torch is not), and the notebook's later cells keep the modules it had imported, so restart
the kernel to train with a region just written. Unlike `lab-exercises grade`, a check has no time limit
(interrupt the kernel) and does not isolate one exercise from another: a test that also calls another
exercise's stub fails too, and its message says so.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from programs.exercises import Exercise, function_span, load_registry

ROOT = Path(__file__).resolve().parents[1]  # the tree whose layers/ this process imports


class ExerciseNotPassed(AssertionError):
    """An exercise's tests do not all pass yet: the notebook stops at its check cell."""


@dataclass(frozen=True)
class CheckResult:
    exercise: str
    passed: tuple[str, ...]
    failed: dict[str, str]  # test id → the first line of its failure

    @property
    def total(self) -> int:
        return len(self.passed) + len(self.failed)


def exercise(name: str) -> Exercise:
    registry = {e.name: e for e in load_registry()}
    if name not in registry:
        raise KeyError(f"unknown exercise {name!r}: choose among {', '.join(registry)} (lab-exercises list)")
    return registry[name]


def source_of(name: str, root: Path = ROOT) -> str:
    """The exercise's functions as they stand in `root`'s file, each headed by its file and first line."""
    chosen = exercise(name)
    text = (root / chosen.file).read_text(encoding="utf-8")
    lines = text.splitlines()
    parts = []
    for qualname in chosen.functions:
        span = function_span(text, qualname)
        if span is None:
            parts.append(f"# {chosen.file}: no function {qualname} (put it back under that name)")
            continue
        start, end = span
        body = "\n".join(lines[start:end])
        parts.append(f"# {chosen.file}, line {start + 1}: {qualname}\n{_dedent(body)}")
    return "\n\n".join(parts)


def _dedent(body: str) -> str:
    """A method shown at the margin, as it would be read on its own."""
    lines = body.splitlines()
    indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
    return "\n".join(line[indent:] for line in lines)


def show(name: str) -> None:
    print(source_of(name))


LAB_PACKAGES = ("layers", "networks", "datamodules", "lightning_modules", "tuning", "benchmarks", "tests", "lab_errors")


def lab_modules() -> dict[str, object]:
    return {name: module for name, module in sys.modules.items() if name.split(".")[0] in LAB_PACKAGES}


@contextlib.contextmanager
def fresh_lab_modules():
    """The lab's modules imported anew inside (the tests read the files as they are now: a student edits a
    region and checks again), and the notebook's own ones back afterwards, so that the classes its later cells
    hold stay the ones its configs resolve to. torch, Lightning and pytest stay imported throughout: a check
    takes seconds, not the quarter of a minute a fresh process spends importing them."""
    saved = lab_modules()
    for name in saved:
        del sys.modules[name]
    try:
        yield
    finally:
        for name in lab_modules():
            del sys.modules[name]
        sys.modules.update(saved)


def run_tests(name: str, root: Path = ROOT) -> CheckResult:
    """The exercise's tests, run by pytest in this process on the files as they are now."""
    import pytest

    chosen = exercise(name)
    with tempfile.TemporaryDirectory() as work, fresh_lab_modules():
        report = Path(work) / "report.xml"
        arguments = ["-q", "-p", "no:cacheprovider", f"--rootdir={root}", f"--junitxml={report}"]
        output = io.StringIO()
        previous = Path.cwd()
        try:
            os.chdir(root)  # the registry's test ids are relative to the tree
            with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
                pytest.main([*arguments, *(str(root / t) for t in chosen.tests)])
        finally:
            os.chdir(previous)
        if not report.is_file():
            why = f"pytest wrote no report: {_first_line(output.getvalue())}"
            return CheckResult(name, (), dict.fromkeys(chosen.tests, why))
        return _read_report(name, chosen.tests, ElementTree.parse(report).getroot())


def _read_report(name: str, tests: tuple[str, ...], root: ElementTree.Element) -> CheckResult:
    """A registry test passes when every case of it ran and passed (a parametrized test has several)."""
    cases: dict[str, list[str | None]] = {test: [] for test in tests}
    for case in root.iter("testcase"):
        case_id = f"{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}"
        test = next((t for t in tests if case_id == t or case_id.startswith(f"{t}[")), None)
        if test is None:
            continue
        problem = next((child for child in case if child.tag in ("failure", "error", "skipped")), None)
        cases[test].append(None if problem is None else _first_line(problem.get("message") or problem.tag))
    passed, failed = [], {}
    for test, outcomes in cases.items():
        problems = [why for why in outcomes if why is not None]
        if outcomes and not problems:
            passed.append(test)
        elif problems:
            failed[test] = f"{len(problems)} of {len(outcomes)} cases fail; the first: {problems[0]}"
        else:
            failed[test] = "not run (a collection error: import its module by hand to see it)"
    return CheckResult(name, tuple(passed), failed)


def _first_line(message: str) -> str:
    return next((line for line in message.splitlines() if line.strip()), message)[:300]


def check(name: str) -> CheckResult:
    """Run the exercise's tests; print one line per test; raise ExerciseNotPassed unless all pass."""
    result = run_tests(name)
    for test in result.passed:
        print(f"  pass  {test.split('::')[-1]}")
    for test, why in result.failed.items():
        print(f"  FAIL  {test.split('::')[-1]}: {why}")
    summary = f"{name}: {len(result.passed)} of {result.total} tests pass"
    if result.failed:
        raise ExerciseNotPassed(f"{summary}; write {exercise(name).file}'s region, then run this cell again")
    print(summary)
    return result
