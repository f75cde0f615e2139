"""The journal file after a crash: a torn last line is cut (a copy kept), a line damaged elsewhere is named."""

import logging

import optuna
import pytest
from optuna.trial import TrialState

from tuning.settings import StudyError
from tuning.storage import cut_torn_tail, open_storage


def square(trial: optuna.Trial) -> float:
    return trial.suggest_float("x", -1.0, 1.0) ** 2


def journal_study(path, n_trials: int) -> optuna.Study:
    study = optuna.create_study(storage=open_storage(f"journal:{path}"), study_name="s", load_if_exists=True)
    study.optimize(square, n_trials=n_trials)
    return study


def values(study: optuna.Study) -> list[tuple[int, TrialState, float | None]]:
    return [(t.number, t.state, t.value) for t in study.get_trials()]


def test_a_torn_last_line_is_cut_and_the_study_goes_on(tmp_path, caplog):
    path = tmp_path / "s.log"
    before = values(journal_study(path, 2))
    whole = path.read_bytes()
    torn = whole + b'{"op_code":4,"worker_id":"a-worker-killed-mid-wr'  # no newline: the crash came mid-write
    path.write_bytes(torn)

    with caplog.at_level(logging.WARNING, logger="tune"):
        study = optuna.load_study(study_name="s", storage=open_storage(f"journal:{path}"))
    assert values(study) == before  # the two trials, intact
    assert path.read_bytes() == whole  # only the fragment is gone
    copies = list(tmp_path.glob("s.log.torn-*"))
    assert len(copies) == 1 and copies[0].read_bytes() == torn  # the file as it was, beside it
    [warning] = [r.getMessage() for r in caplog.records]
    assert str(path) in warning and str(copies[0]) in warning and "\n" not in warning

    study.optimize(square, n_trials=2)  # appends after a whole line, not onto the fragment
    again = optuna.load_study(study_name="s", storage=open_storage(f"journal:{path}"))
    assert values(again)[:2] == before and len(again.trials) == 4
    assert [t.state for t in again.trials] == [TrialState.COMPLETE] * 4
    assert len(list(tmp_path.glob("s.log.torn-*"))) == 1  # a whole journal is left as it is


def test_a_last_line_finished_meanwhile_is_not_cut(tmp_path):
    """Two workers may both see a line without its newline: the one another worker was still writing. Under
    the journal's lock the tail is looked at again, and a line that has its newline by then is kept."""
    path = tmp_path / "s.log"
    journal_study(path, 1)
    whole = path.read_bytes()
    record = b'{"op_code":4,"worker_id":"w","study_id":0,"datetime_start":"2026-12-03T00:00:00"}\n'
    path.write_bytes(whole + record[:20])
    seen_at = len(whole)  # where the unfinished line started when it was seen
    path.write_bytes(whole + record)  # ... and its writer finished it before the lock was taken
    assert cut_torn_tail(path, seen_at) is None
    assert path.read_bytes() == whole + record and not list(tmp_path.glob("s.log.torn-*"))


def test_a_line_damaged_before_the_end_is_named_with_its_number(tmp_path):
    path = tmp_path / "s.log"
    journal_study(path, 2)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = b'{"op_code": 5, "trial_id": 0, "par\x00\x00\n'  # a whole line, with its newline, but not a record
    path.write_bytes(b"".join(lines))
    with pytest.raises(StudyError) as info:
        open_storage(f"journal:{path}")
    message = str(info.value)
    assert message.startswith(f"journal {path}: line 3 ") and "\n" not in message
    assert path.read_bytes() == b"".join(lines)  # left as it is: only the user can say what line 3 was
