"""Does the loss guidance earn its name? The pre-registered guidance study.

Variants of the round against `random` (uniform anchors, the same budget) and `none`,
in the strong-teacher scarce regime, on SST-2 and on QNLI (sentence pairs), paired by
seed. The variants, the settings and the decision rule below were fixed before any
of the study's runs:

    RULE: a variant becomes the default only if it beats `random` by at least two
    standard errors on held-out accuracy, paired by seed and pooled over both tasks.

    python bench/guidance.py run sst2      # bench/results/guidance_sst2.json
    python bench/guidance.py run qnli      # bench/results/guidance_qnli.json
    python bench/guidance.py report        # tables, verdicts, plot: guidance.json/.png
    python bench/guidance.py run sst2 --quick   # minutes: the machinery, not the answer
    python bench/guidance.py run qnli --only sage,random   # some variants now; reruns
                                                           # skip the pairs already done
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import accuracy  # noqa: E402  (sibling scripts)
import compare  # noqa: E402
from compare import fmt  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SEEDS = "0,1,2,3,4"
# What each variant changes; every other setting is the task's below.
VARIANTS = {
    "none": "augment.strategy=none",
    "none_time": "augment.strategy=none train.epochs=5",  # at least sage's wall time
    "random": "augment.strategy=random",
    "sage": "augment.strategy=sage",
    "region": "augment.anchor_score=region",
    "boundary": "augment.partner=other_class",
    "same_class": "augment.partner=same_class",
    "adaptive": "augment.budget=adaptive",
}
CANDIDATES = ("sage", "region", "boundary", "same_class", "adaptive")
# The study ran when `augment.partner` defaulted to `any`; the study's outcome made
# `other_class` the default, so the base settings now say `any` explicitly.
BASE = ["-o", "train.epochs=3", "-o", "augment.ratio=0.5", "-o", "augment.partner=any"]
TASKS = {
    "sst2": ["--teacher-train", "20000", "--train", "2000", "--held-out", "5000", *BASE],
    "qnli": ["--teacher-train", "3000", "--train", "1000", "--dev", "1000", "--held-out", "1400",
             "-o", "data.max_length=128", "-o", "teacher.finetune_epochs=3", *BASE],
}


def run(task: str, quick: bool, seeds: str | None, only: str | None, part: str | None,
        fresh: bool = False) -> int:
    """Run one task's study through `bench/accuracy.py`, resuming what already ran.
    A `part` writes its own file (`guidance_<task>.<part>.json`), so several processes
    can share a task's seeds; `report` merges the parts."""
    stem = f"guidance_{task}{'_quick' if quick else ''}{f'.{part}' if part else ''}"
    args = ["--task", task, "--name", stem,
            "--seeds", seeds or ("0" if quick else SEEDS), *TASKS[task]]
    args += [] if fresh else ["--resume"]
    if only:
        args += ["--only", only]
    if quick:
        args += ["--quick", "--train", "200", "--teacher-train", "400", "--held-out", "200"]
        args += ["--dev", "200"] if task != "sst2" else []
    for name, overrides in VARIANTS.items():
        args += ["--variant", f"{name}: {overrides}"]
    return accuracy.main(args)


def merged(files: list[Path]) -> dict | None:
    """One task's result files (its parts) as one: the first file's settings, every
    run once, and the summary recomputed over all of them."""
    if not files:
        return None
    parts = [json.loads(f.read_text()) for f in files]
    base = dict(parts[0])
    runs = {(r["variant"], r["seed"]): r for d in parts for r in d["runs"]}
    order = list(VARIANTS)
    base["runs"] = sorted(runs.values(), key=lambda r: (r["seed"], order.index(r["variant"])))
    base["seeds"] = sorted({r["seed"] for r in base["runs"]})
    base["summary"] = {v: s for v, s in accuracy.summarise(
        sorted(base["runs"], key=lambda r: order.index(r["variant"]))).items()}
    return base


MEASURES = {**compare.MEASURES, "seconds": (lambda r: r["run_seconds"], 1.0)}


def paired(runs: list[dict], a: str, b: str) -> dict | None:
    """`a - b` over the seeds where both ran: accuracy points and seconds per run."""
    return compare.paired_runs(runs, a, b, MEASURES)


def verdict(row: dict | None) -> str:
    if row is None:
        return "not run"
    h = row["heldout"]
    return "beats random" if h["mean"] >= 2 * h["se"] and h["mean"] > 0 else "does not beat random"


def looks(runs: list[dict], variant: str) -> dict:
    """Mean of each round diagnostic over the variant's rounds."""
    rounds = [x for r in runs if r["variant"] == variant for x in r.get("rounds", []) if x]
    keys = dict.fromkeys(k for x in rounds for k in x)
    return {k: float(np.nanmean([x[k] if x.get(k) is not None else np.nan for x in rounds]))
            for k in keys}


def curve(runs: list[dict], variant: str) -> dict:
    """Mean dev accuracy after each epoch against mean seconds since the run started."""
    rs = [r for r in runs if r["variant"] == variant]
    seconds = [r["run_seconds"] - sum(r["epoch_seconds"]) + np.cumsum(r["epoch_seconds"])
               for r in rs]
    return {"seconds": np.mean(seconds, 0).tolist(),
            "dev": np.mean([r["dev_by_epoch"] for r in rs], 0).tolist()}


def report(out: Path) -> int:
    data = {t: merged(sorted(out.glob(f"guidance_{t}.json")) +
                      sorted(out.glob(f"guidance_{t}.*.json"))) for t in TASKS}
    data = {t: d for t, d in data.items() if d is not None}
    if not data:
        print(f"error: no study results in {out}: run `python bench/guidance.py run sst2` "
              "first", file=sys.stderr)
        return 2
    tasks = {}
    for task, d in data.items():
        runs = d["runs"]
        tasks[task] = {
            "teacher_dev_accuracy": d["teacher_dev_accuracy"], "train": d["train"],
            "teacher_train": d["teacher_train"], "dev": d.get("dev"), "held_out": d["held_out"],
            "seeds": d["seeds"], "summary": d["summary"],
            "vs_random": {v: paired(runs, v, "random") for v in CANDIDATES},
            "vs_none": {v: paired(runs, v, "none") for v in d["summary"] if v != "none"},
            "vs_none_time": {v: paired(runs, v, "none_time")
                             for v in ("sage", "random", "boundary")},
            "looks": {v: looks(runs, v) for v in d["summary"]},
            "curves": {v: curve(runs, v) for v in d["summary"]}}
    pooled_runs = [dict(r, seed=f"{t}-{r['seed']}") for t, d in data.items() for r in d["runs"]]
    pooled = {v: paired(pooled_runs, v, "random") for v in CANDIDATES}
    result = {"date": time.strftime("%Y-%m-%d"), "rule": __doc__.split("RULE: ")[1].split("\n\n")[0],
              "variants": VARIANTS, "task_args": TASKS, "tasks": tasks,
              "pooled_vs_random": pooled,
              "pooled_vs_none": {v: paired(pooled_runs, v, "none") for v in VARIANTS if v != "none"},
              "verdicts": {v: verdict(pooled[v]) for v in CANDIDATES},
              "complete": sorted(data) == sorted(TASKS)}
    print_report(result)
    plot(result, out / "guidance.png")
    from sage_rapids import artifacts

    artifacts.write_json(out / "guidance.json", result)
    print(f"\nwrote {out / 'guidance.json'} and {out / 'guidance.png'}")
    return 0


def print_report(result: dict) -> None:
    for task, t in result["tasks"].items():
        print(f"\n{task}: teacher dev {t['teacher_dev_accuracy']:.4f}, {t['train']:,} train, "
              f"seeds {t['seeds']}")
        print(f"{'variant':<12}{'dev':>9}{'held-out':>10}{'s/run':>8}"
              f"{'held-out vs random':>22}{'held-out vs none':>20}")
        for v, s in t["summary"].items():
            print(f"{v:<12}{s['dev_final_mean']:>9.4f}{s['heldout_mean']:>10.4f}"
                  f"{s['run_seconds_median']:>8.0f}{fmt(t['vs_random'].get(v), 'heldout'):>22}"
                  f"{fmt(t['vs_none'].get(v), 'heldout'):>20}")
    print(f"\npooled over {', '.join(result['tasks'])}: held-out points against random")
    for v in CANDIDATES:
        row = result["pooled_vs_random"][v]
        print(f"{v:<12}{fmt(row, 'heldout'):>16}  (dev {fmt(row, 'dev')})  -> {result['verdicts'][v]}")


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = result["tasks"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.5 * len(tasks), 4), squeeze=False)
    for ax, (task, t) in zip(axes[0], tasks.items()):
        for v in ("none", "none_time", "random", "sage", *CANDIDATES[1:]):
            if v in t["curves"]:
                c = t["curves"][v]
                ax.plot(c["seconds"], c["dev"], marker="o", label=v,
                        linestyle="--" if v.startswith("none") else "-")
        ax.set(title=f"{task}: mean dev accuracy over seeds", xlabel="seconds since the run "
               "started", ylabel="dev accuracy")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="run one task's study")
    p_run.add_argument("task", choices=sorted(TASKS))
    p_run.add_argument("--quick", action="store_true")
    p_run.add_argument("--seeds", default=None, help=f"comma-separated (default {SEEDS})")
    p_run.add_argument("--only", default=None, help="comma-separated variants to run now")
    p_run.add_argument("--part", default=None, help="write guidance_<task>.<part>.json")
    p_run.add_argument("--fresh", action="store_true",
                       help="start over instead of keeping the runs already made")
    p_report = sub.add_parser("report", help="tables, verdicts and plot from the results")
    p_report.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.task, args.quick, args.seeds, args.only, args.part, args.fresh)
    return report(args.out)


if __name__ == "__main__":
    sys.exit(main())
