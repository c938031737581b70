"""The task shapes beyond SST-2 on their official files, through the real command line.

STS-B (regression: a 0-5 similarity score) and WNLI (small, adversarial) with the
MiniLM teacher, `none` against `sage` (`measured_default.SAGE_DEFAULT`, the default
these runs were measured with), paired by seed. For STS-B a third
variant measures what `augment.partner` should mean for a regression teacher: the
default `other_class` (a partner whose teacher score is `augment.partner_margin`
standard deviations away) against `any` neighbour.

Each task's teacher is fine-tuned once (`sage-rapids teacher`, seed 0, cached) and
every student distils that same teacher, so seeds vary the student alone. Students
train 3 epochs on the whole training file; dev picks the epoch,
as in every run. Runs append to `bench/results/tasks.runs.jsonl` and are skipped when
already there, so an interrupted study resumes.

    python bench/tasks.py                  # stsb and wnli, seeds 0,1,2
    python bench/tasks.py --task wnli --seeds 0
    python bench/tasks.py --report         # bench/results/tasks.json from the runs
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
RUNS = RESULTS / "tasks.runs.jsonl"
BIN = Path(sys.executable).parent / "sage-rapids"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measured_default import SAGE_DEFAULT  # noqa: E402  (a sibling script)

# Settings, fixed before the first run. MiniLM reads pairs of up to 128 tokens.
COMMON = ["data.max_length=128", "data.train_limit=null", "teacher.finetune_limit=null",
          "teacher.finetune_epochs=3.0", "augment.plots=false"]
TASKS = {
    "stsb": {"metric": "pearson", "variants": {
        "none": ["augment.strategy=none"],
        "sage": [],
        "sage_any": ["augment.partner=any"]}},
    "wnli": {"metric": "accuracy", "variants": {
        "none": ["augment.strategy=none"],
        "sage": []}},
}
SEEDS = "0,1,2"


def cli(*args: str) -> str:
    """Run `sage-rapids`; its stdout, or exit with its stderr."""
    proc = subprocess.run([str(BIN), *args], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if proc.returncode != 0:
        raise SystemExit(f"sage-rapids {' '.join(args)} failed ({proc.returncode}):\n"
                         f"{proc.stderr[-3000:]}")
    return proc.stdout


def task_overrides(task: str) -> list[str]:
    data = os.environ.get("SAGE_DATA_DIR")
    if not data:
        raise SystemExit("set SAGE_DATA_DIR to the folder holding glue/<task>/train.tsv")
    return [*SAGE_DEFAULT, f"data.name=glue/{task}", f"data.path={Path(data) / 'glue' / task}",
            *COMMON]


def teacher(task: str) -> tuple[str, dict, float]:
    """(folder, dev metrics, seconds) of the task's fine-tuned teacher (cached)."""
    start = time.perf_counter()
    out = cli("teacher", "--quiet", *sum((["-o", o] for o in task_overrides(task)), []))
    seconds = time.perf_counter() - start
    folder = next(line.split(": ", 1)[1] for line in out.splitlines()
                  if line.startswith("teacher: "))
    scores = {line[4:].split(":")[0]: float(line.split(": ")[1]) for line in out.splitlines()
              if line.startswith("dev ")}
    return folder, scores, seconds


def done_runs() -> list[dict]:
    if not RUNS.is_file():
        return []
    return [json.loads(line) for line in RUNS.read_text().splitlines() if line.strip()]


def run_student(task: str, variant: str, seed: int, teacher_dir: str, work: Path) -> dict:
    out = work / f"{task}_{variant}_{seed}"
    overrides = [*task_overrides(task), f"teacher.model={teacher_dir}", "teacher.finetune=false",
                 f"seed={seed}", *TASKS[task]["variants"][variant]]
    start = time.perf_counter()
    cli("run", "--quiet", "--out", str(out), *sum((["-o", o] for o in overrides), []))
    seconds = time.perf_counter() - start
    summary = json.loads((out / "summary.json").read_text())
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    key = summary["selected_by"]
    return {"task": task, "variant": variant, "seed": seed, "seconds": seconds,
            "metric": summary["primary_metric"],
            "teacher": {k[len("teacher_dev_"):]: v for k, v in summary.items()
                        if k.startswith("teacher_dev_")},
            "student": {k[len("student_dev_"):]: v for k, v in summary.items()
                        if k.startswith("student_dev_")},
            "best_epoch": summary["best_epoch"], "dev_by_epoch": [r[key] for r in rows],
            "n_synthetic_total": summary["n_synthetic_total"],
            "train_examples": summary["train_examples"],
            "dev_examples": summary["dev_examples"]}


def paired(runs: list[dict], task: str, a: str, b: str, metric: str) -> dict | None:
    """`a - b` in points of the task's primary metric over the seeds where both ran."""
    by = {(r["variant"], r["seed"]): r for r in runs if r["task"] == task}
    diffs = [100 * (by[(a, s)]["student"][metric] - by[(b, s)]["student"][metric])
             for (v, s) in by if v == a and (b, s) in by]
    if len(diffs) < 2:
        return None
    x = np.array(diffs)
    return {"n": len(x), "mean": float(x.mean()), "se": float(x.std(ddof=1) / math.sqrt(len(x)))}


def baseline(task: str) -> dict:
    """What a constant predictor scores on dev: the majority class's accuracy, or the
    MSE of always predicting the training mean (the teacher-learnt-nothing baselines)."""
    from sage_rapids.config import load_config
    from sage_rapids.data.tasks import load_task

    data = load_task(load_config(None, task_overrides(task)).data, 0)
    dev, train = data.dev.labels, data.train.labels
    if data.regression:
        return {"mean_mse": float(np.mean((dev - train.mean()) ** 2))}
    return {"majority_accuracy": float(np.bincount(dev).max() / len(dev))}


def report(teachers: dict) -> dict:
    runs = done_runs()
    out = {"settings": {"common": COMMON, "tasks": TASKS}, "teachers": teachers, "tasks": {}}
    for task, spec in TASKS.items():
        mine = [r for r in runs if r["task"] == task]
        if not mine:
            continue
        metric = spec["metric"]
        variants = {}
        for variant in spec["variants"]:
            vals = [r for r in mine if r["variant"] == variant]
            if not vals:
                continue
            variants[variant] = {
                "seeds": [r["seed"] for r in vals],
                "student": {m: [r["student"][m] for r in vals] for m in vals[0]["student"]},
                "seconds": [r["seconds"] for r in vals],
                "best_epoch": [r["best_epoch"] for r in vals]}
        out["tasks"][task] = {
            "metric": metric, "teacher": mine[0]["teacher"], "variants": variants,
            "constant_baseline": baseline(task),
            "train_examples": mine[0]["train_examples"], "dev_examples": mine[0]["dev_examples"],
            "paired": {f"{v}-none": paired(mine, task, v, "none", metric)
                       for v in spec["variants"] if v != "none"}}
    if "stsb" in out["tasks"]:
        out["tasks"]["stsb"]["paired"]["sage-sage_any"] = paired(
            runs, "stsb", "sage", "sage_any", "pearson")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(TASKS), action="append", default=None)
    parser.add_argument("--seeds", default=SEEDS)
    parser.add_argument("--report", action="store_true", help="only write tasks.json")
    parser.add_argument("--work", type=Path, default=Path("/tmp") / "sage-bench-tasks")
    args = parser.parse_args(argv)
    teachers_path = RESULTS / "tasks_teachers.json"
    teachers = json.loads(teachers_path.read_text()) if teachers_path.is_file() else {}
    if not args.report:
        for task in args.task or list(TASKS):
            folder, scores, seconds = teacher(task)
            teachers[task] = {"dev": scores, "seconds": seconds}
            teachers_path.write_text(json.dumps(teachers, indent=2) + "\n")
            print(f"{task}: teacher {scores} ({seconds:.0f} s)", flush=True)
            seen = {(r["task"], r["variant"], r["seed"]) for r in done_runs()}
            for seed in [int(s) for s in args.seeds.split(",")]:
                for variant in TASKS[task]["variants"]:
                    if (task, variant, seed) in seen:
                        continue
                    row = run_student(task, variant, seed, folder, args.work)
                    with RUNS.open("a") as handle:
                        handle.write(json.dumps(row) + "\n")
                    print(f"{task} {variant} seed {seed}: {row['metric']} "
                          f"{row['student'][row['metric']]:.4f} ({row['seconds']:.0f} s)",
                          flush=True)
    result = report(teachers)
    (RESULTS / "tasks.json").write_text(json.dumps(result, indent=2) + "\n")
    for task, t in result["tasks"].items():
        for pair, row in t["paired"].items():
            if row:
                print(f"{task} {pair}: {row['mean']:+.2f} ± {row['se']:.2f} points "
                      f"({row['n']} seeds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
