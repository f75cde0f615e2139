"""One trial whose trainer runs several processes: `python -m tuning.distributed_trial JOB`.

tuning.study writes JOB (the study settings, the trial's id and sampled values, where to write the result)
and runs this module. Lightning's DDP launcher starts the other ranks by running the same command line, so
every rank reads the same job, opens the study and trains; rank 0 reports to Optuna, the pruning callback
broadcasts its decision, check_pruned() raises it on every rank, and rank 0 alone writes the result (the
objective is computed once, by the parent, from that file).
"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import optuna
from lightning.pytorch.utilities import rank_zero_only

from tuning.study import fit_trial


def main(job_path: str) -> None:
    job = pickle.loads(Path(job_path).read_bytes())  # the trial pickles with its study and RDB storage
    try:
        outcome = {"pruned": False, "value": fit_trial(job["settings"], job["trial"], job["values"])}
    except optuna.TrialPruned as pruned:
        outcome = {"pruned": True, "message": str(pruned)}
    if rank_zero_only.rank == 0:
        Path(job["result"]).write_text(json.dumps(outcome))


if __name__ == "__main__":
    main(sys.argv[1])
