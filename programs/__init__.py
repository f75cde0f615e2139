"""The lab's programs besides training and tuning: each module is one command line with a `main(argv)`.

From the repository root each runs as `python -m programs.<module>`; `pip install .` also installs it as a
command of its own:

    generate     lab-generate     sample text from a CausalLM checkpoint or GPT-2 weights
    sentiment    lab-sentiment    classify your own text with a trained classifier checkpoint
    robustness   lab-robustness   accuracy of sentiment classifiers under perturbed input
    probe        lab-probe        linear-probe accuracy of a masked-LM pretraining run's checkpoints
    run_report   lab-report       a report of runs: a table of accuracy, time and memory, learning curves
    exercises    lab-exercises    student copies with the solutions cut out, and their autograder
    notebooks    lab-notebooks    the notebooks, built from their text sources and run as CI runs them
    export       lab-export       a trained model as a Hugging Face GPT-2 or BERT folder with its model card

Beside them: exercise_cells (what a notebook's show/check cells call) and model_card (export's README.md).

(run_report, not report: tuning/report.py is the report of an Optuna study.)

Training and tuning are `python train.py` (lab-train, lightning_modules/cli.py) and `python tune.py`
(lab-tune, tuning/cli.py); the benchmarks are `python -m benchmarks.<name>` (lab-benchmark NAME).
"""
