"""When does SAGE pay? The pre-registered convergence study.

Every student trains until early stopping ends it (`train.epochs=20` the cap,
`train.early_stopping=3` on the task's primary dev metric); its exported best epoch is
scored on a held-out slice nobody trained or selected on. Four tasks, strategies
`none`, `random` and the default (`sage`: loss-ranked anchors, boundary partners, ratio
0.2), seeds 0-4, paired by seed. Settings, variants and rules below were fixed before
any of the study's runs:

    SCHEDULE RULE: the pilot trains SST-2's `none` and `sage` on seeds 0, 1, 2 with the
    learning rate planned for the cap (`linear`) and constant after warmup
    (`constant`); the study uses the schedule with the higher mean held-out ceiling over
    those six runs (a difference under 0.1 points: the one whose runs took fewer
    seconds). The pilot's runs of the chosen schedule are the study's runs of those
    seeds: same settings, same files.

    RULE: SAGE is the default where its pooled held-out ceiling beats `none` by at least
    two standard errors (seed-paired differences in points of each task's primary
    metric, pooled over the four tasks); it is recommended per second where it reaches
    `none`'s best dev score in less wall time (median over seeds) on at least three of
    the four tasks.

    LARGER BUDGET: only if `sage`'s pooled ceiling gain over `none` is positive but
    under two standard errors, `sage_large` (ratio 1.0, pool accumulate up to twice the
    training set) runs too and is judged by the same rule, both reported.

    python bench/convergence.py pilot                 # the schedule pilot (SST-2)
    python bench/convergence.py run sst2              # one task; reruns resume
    python bench/convergence.py run cola --seeds 0,1  # some seeds now, the rest later
    python bench/convergence.py all                   # pilot, then every task: two seeds
                                                      # each first, then the rest, then
                                                      # sage_large if LARGER BUDGET says so;
                                                      # resumes
    python bench/convergence.py report                # tables, verdict, plot
    python bench/convergence.py rerun mrpc none 2     # one run again, for clean seconds
    python bench/convergence.py run sst2 --quick      # minutes: the machinery only
"""

from __future__ import annotations

import argparse
import json
import math
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
PILOT_SEEDS = "0,1,2"
SCHEDULES = ("linear", "constant")
VARIANTS = {
    "none": "augment.strategy=none",
    "random": "augment.strategy=random",
    "sage": "augment.strategy=sage",
}
LARGE = "augment.strategy=sage augment.ratio=1.0 augment.pool=accumulate"
BASE = ["-o", "train.epochs=20", "-o", "train.early_stopping=3", "-o", "augment.ratio=0.2",
        "-o", "augment.partner=other_class"]
TASKS = {  # (accuracy.py arguments, training examples for the larger budget's pool cap)
    "sst2": (["--teacher-train", "20000", "--train", "2000", "--held-out", "5000"], 2000),
    "qnli": (["--teacher-train", "3000", "--train", "1000", "--dev", "1000", "--held-out",
              "1400", "-o", "data.max_length=128", "-o", "teacher.finetune_epochs=3"], 1000),
    "cola": (["--teacher-train", "all", "--train", "all", "--held-out", "1000",
              "-o", "teacher.finetune_epochs=3", "-o", "eval.metrics=[mcc,accuracy]"], 7551),
    "mrpc": (["--teacher-train", "all", "--train", "all", "--held-out", "600",
              "-o", "data.max_length=128", "-o", "teacher.finetune_epochs=3",
              "-o", "eval.metrics=[f1,accuracy]"], 3068),
}


def stem(task: str, schedule: str, quick: bool = False) -> str:
    return f"convergence_{task}_{schedule}{'_quick' if quick else ''}"


def load(out: Path, name: str) -> dict | None:
    """A result file with the runs its log holds beyond it (the log of an invocation
    still under way, or stopped part-way), each (variant, seed) once."""
    path, log = out / f"{name}.json", out / f"{name}.runs.jsonl"
    d = json.loads(path.read_text()) if path.is_file() else {"runs": []}
    if log.is_file():
        runs = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
        d = {**d, "runs": list({(r["variant"], r["seed"]): r for r in d["runs"] + runs}.values()),
             "partial": True}
    return d if d["runs"] else None


def run_task(task: str, schedule: str, seeds: str, only: str | None, quick: bool,
             variants: dict) -> int:
    """One task's runs through `bench/accuracy.py`, keeping those already made."""
    args, _ = TASKS[task]
    argv = ["--task", task, "--name", stem(task, schedule, quick), "--seeds", seeds,
            "--resume", *args, *BASE, "-o", f"train.schedule={schedule}"]
    if quick:
        argv += ["--quick", "--train", "200", "--teacher-train", "400", "--held-out", "200",
                 "-o", "train.epochs=4", "-o", "train.early_stopping=1"]
        argv += ["--dev", "200"] if task == "qnli" else []
    if only:
        argv += ["--only", only]
    for name, overrides in variants.items():
        argv += ["--variant", f"{name}: {overrides}"]
    return accuracy.main(argv)


def ceiling(run: dict) -> float:
    return run["heldout_primary"]


def pilot_choice(out: Path) -> dict:
    """The schedule the pilot's rule picks, with the figures it decided on."""
    figures = {}
    for schedule in SCHEDULES:
        d = load(out, stem("sst2", schedule)) or {"runs": []}
        runs = [r for r in d["runs"] if r["variant"] in ("none", "sage")
                and str(r["seed"]) in PILOT_SEEDS.split(",")]
        figures[schedule] = {"runs": len(runs),
                             "heldout_mean": float(np.mean([ceiling(r) for r in runs]))
                             if runs else None,
                             "seconds_total": float(sum(r["run_seconds"] for r in runs))}
    if any(f["runs"] < 6 for f in figures.values()):
        return {"figures": figures, "schedule": None}
    a, b = (figures[s] for s in SCHEDULES)
    if abs(a["heldout_mean"] - b["heldout_mean"]) * 100 >= 0.1:
        pick = SCHEDULES[0] if a["heldout_mean"] > b["heldout_mean"] else SCHEDULES[1]
    else:
        pick = SCHEDULES[0] if a["seconds_total"] <= b["seconds_total"] else SCHEDULES[1]
    return {"figures": figures, "schedule": pick}


def elapsed(run: dict) -> np.ndarray:
    """Seconds since the run started at the end of each epoch."""
    epochs = np.asarray(run["epoch_seconds"])
    return run["run_seconds"] - epochs.sum() + np.cumsum(epochs)


def time_to_target(run: dict, target: float) -> tuple[int | None, float]:
    """The first epoch whose dev score reaches `target`, and the seconds it took
    (None and infinity when no epoch does)."""
    hits = [e for e, v in enumerate(run["dev_by_epoch"]) if v >= target]
    return (hits[0] + 1, float(elapsed(run)[hits[0]])) if hits else (None, math.inf)


def race(runs: list[dict], variant: str) -> dict | None:
    """Per seed: epochs and seconds `variant` takes to reach `none`'s best dev score,
    against the epochs and seconds `none` took to reach it."""
    by = {(r["variant"], r["seed"]): r for r in runs}
    rows = []
    for (name, seed), base in sorted(by.items(), key=lambda kv: str(kv[0][1])):
        if name != "none" or (variant, seed) not in by:
            continue
        target = max(base["dev_by_epoch"])
        epoch, seconds = time_to_target(by[(variant, seed)], target)
        none_epoch, none_seconds = time_to_target(base, target)
        rows.append({"seed": seed, "epoch": epoch, "seconds": seconds,
                     "none_epoch": none_epoch, "none_seconds": none_seconds})
    if not rows:
        return None
    median = float(np.median([r["seconds"] for r in rows]))
    none_median = float(np.median([r["none_seconds"] for r in rows]))
    return {"per_seed": rows, "reached": sum(r["epoch"] is not None for r in rows),
            "median_seconds": median, "none_median_seconds": none_median,
            "faster": median < none_median}


MEASURES = {"heldout": (ceiling, 100.0),
            "dev_best": (lambda r: max(r["dev_by_epoch"]), 100.0),
            "epochs": (lambda r: r["stopped_epoch"], 1.0),
            "seconds": (lambda r: r["run_seconds"], 1.0)}


def paired(runs: list[dict], a: str, b: str) -> dict | None:
    return compare.paired_runs(runs, a, b, MEASURES)


def beats(row: dict | None) -> bool:
    return row is not None and row["heldout"]["mean"] > 0 and \
        row["heldout"]["mean"] >= 2 * row["heldout"]["se"]


def task_summary(d: dict) -> dict:
    runs = d["runs"]
    names = list(dict.fromkeys(r["variant"] for r in runs))
    summary = {}
    for v in names:
        rs = [r for r in runs if r["variant"] == v]
        summary[v] = {"seeds": sorted(r["seed"] for r in rs),
                      "heldout_mean": float(np.mean([ceiling(r) for r in rs])),
                      "heldout_std": float(np.std([ceiling(r) for r in rs])),
                      "dev_best_mean": float(np.mean([max(r["dev_by_epoch"]) for r in rs])),
                      "best_epoch_mean": float(np.mean([r["best_epoch"] for r in rs])),
                      "stopped_epoch_mean": float(np.mean([r["stopped_epoch"] for r in rs])),
                      "run_seconds_median": float(np.median([r["run_seconds"] for r in rs]))}
    return {"metric": runs[0].get("primary_metric", "accuracy"),
            "teacher_dev": d.get("teacher_dev_accuracy"), "partial": d.get("partial", False),
            "train": runs[0].get("train_examples"), "summary": summary,
            "vs_none": {v: paired(runs, v, "none") for v in names if v != "none"},
            "sage_vs_random": paired(runs, "sage", "random"),
            "race": {v: race(runs, v) for v in names if v != "none"},
            "curves": {v: [{"seconds": elapsed(r).tolist(), "dev": r["dev_by_epoch"]}
                           for r in runs if r["variant"] == v] for v in names}}


def beside(out: Path) -> dict:
    """How the runs shared the machine, and the runs that had other work beside them
    (`convergence_beside.json`, written by hand as runs are made: `{"how": text,
    "runs": [{"task", "variant", "seed", "beside"}]}`)."""
    path = out / "convergence_beside.json"
    return json.loads(path.read_text()) if path.is_file() else {"how": None, "runs": []}


def undisturbed(runs: list[dict], task: str, disturbed: list[dict]) -> list[dict]:
    """`runs` without every seed one of whose runs had other work beside it: the
    per-second comparison again on seconds nothing else took from."""
    seeds = {str(r["seed"]) for r in disturbed if r["task"] == task}
    return [r for r in runs if str(r["seed"]) not in seeds]


def across_tasks(data: dict) -> list[dict]:
    """Every task's runs in one list, each seed named by its task (pairs stay in a task)."""
    return [dict(r, seed=f"{t}-{r['seed']}") for t, d in data.items() for r in d["runs"]]


def larger_budget_due(out: Path) -> bool:
    """The LARGER BUDGET rule, once every task has its five seeds of the three
    variants: `sage`'s pooled ceiling gain over `none` positive but under two SE."""
    schedule = pilot_choice(out)["schedule"]
    data = {t: load(out, stem(t, schedule)) for t in TASKS} if schedule else {}
    runs_each = 3 * len(SEEDS.split(","))
    if not data or not all(d and len(d["runs"]) >= runs_each for d in data.values()):
        return False
    row = paired(across_tasks(data), "sage", "none")
    return row is not None and row["heldout"]["mean"] > 0 and not beats(row)


def rerun(out: Path, task: str, variant: str, seed: int) -> int:
    """Run one (variant, seed) of a task again, for seconds nothing else took from: its
    first record leaves the result file; the new run must give the same scores (one
    seed, one machine); `convergence_beside.json` drops it from the disturbed runs and
    keeps both timings under `reruns`."""
    schedule = pilot_choice(out)["schedule"]
    name = stem(task, schedule or "linear")
    path, log = out / f"{name}.json", out / f"{name}.runs.jsonl"
    if log.is_file():
        print(f"error: {log} exists: a run of {task} is under way or stopped part-way; let it "
              f"finish (or `python bench/convergence.py run {task}` to end it) first",
              file=sys.stderr)
        return 2
    d = json.loads(path.read_text()) if path.is_file() else {"runs": []}
    first = next((r for r in d["runs"] if (r["variant"], r["seed"]) == (variant, seed)), None)
    if first is None:
        print(f"error: {path} holds no {variant} run of seed {seed}", file=sys.stderr)
        return 2
    from sage_rapids import artifacts

    artifacts.write_json(path, {**d, "runs": [r for r in d["runs"] if r is not first]})
    code = run_task(task, schedule, str(seed), variant, False, VARIANTS)
    again = next((r for r in (load(out, name) or {"runs": []})["runs"]
                  if (r["variant"], r["seed"]) == (variant, seed)), None)
    if code or again is None:
        return code or 1
    same = (again["dev_by_epoch"], again["heldout_primary"]) == \
        (first["dev_by_epoch"], first["heldout_primary"])
    shared = beside(out)
    key = {"task": task, "variant": variant, "seed": seed}
    was = [r for r in shared["runs"] if {k: r[k] for k in key} == key]
    shared["runs"] = [r for r in shared["runs"] if r not in was]
    shared.setdefault("reruns", []).append({
        **key, "first_seconds": first["run_seconds"], "seconds": again["run_seconds"],
        "first_beside": was[0]["beside"] if was else None, "same_scores": same})
    artifacts.write_json(out / "convergence_beside.json", shared)
    print(f"{task} {variant} seed {seed}: {first['run_seconds']:.0f} s first, "
          f"{again['run_seconds']:.0f} s now; scores {'the same' if same else 'DIFFERENT'}")
    return 0 if same else 1


def report(out: Path) -> int:
    choice = pilot_choice(out)
    schedule = choice["schedule"]
    if schedule is None:
        print(f"the schedule pilot is not complete: {choice['figures']}; run "
              "`python bench/convergence.py pilot`", file=sys.stderr)
        return 2
    data = {t: load(out, stem(t, schedule)) for t in TASKS}
    data = {t: d for t, d in data.items() if d and d["runs"]}
    tasks = {t: task_summary(d) for t, d in data.items()}
    pooled_runs = across_tasks(data)
    variants = [v for v in ("random", "sage", "sage_large")
                if any(r["variant"] == v for r in pooled_runs)]
    pooled = {v: paired(pooled_runs, v, "none") for v in variants}
    faster = {v: sum(bool(t["race"].get(v) and t["race"][v]["faster"]) for t in tasks.values())
              for v in variants}
    shared = beside(out)
    clean_races = {t: {v: race(undisturbed(d["runs"], t, shared["runs"]), v) for v in variants}
                   for t, d in data.items()}
    faster_clean = {v: sum(bool(r.get(v) and r[v]["faster"]) for r in clean_races.values())
                    for v in variants}
    complete = sorted(data) == sorted(TASKS) and all(
        not t["partial"] and all(len(s["seeds"]) >= 5 for s in t["summary"].values())
        for t in tasks.values())
    result = {
        "date": time.strftime("%Y-%m-%d"), "schedule_pilot": choice, "schedule": schedule,
        "rules": {k: __doc__.split(f"\n    {k}: ")[1].split("\n\n")[0]
                  for k in ("SCHEDULE RULE", "RULE", "LARGER BUDGET")},
        "variants": VARIANTS, "base": BASE, "task_args": {t: a for t, (a, _) in TASKS.items()},
        "tasks": tasks, "pooled_vs_none": pooled,
        "pooled_sage_vs_random": paired(pooled_runs, "sage", "random"),
        "faster_tasks": faster, "complete": complete,
        "beside": shared, "faster_tasks_undisturbed": faster_clean,
        "verdict": {v: {"default": beats(pooled[v]), "per_second": faster[v] >= 3}
                    for v in variants}}
    print_report(result)
    plot(result, out / "convergence.png")
    from sage_rapids import artifacts

    artifacts.write_json(out / "convergence.json", result)
    print(f"\nwrote {out / 'convergence.json'} and {out / 'convergence.png'}")
    return 0


def print_report(result: dict) -> None:
    print(f"schedule: {result['schedule']} (pilot: {result['schedule_pilot']['figures']})")
    for task, t in result["tasks"].items():
        print(f"\n{task}: primary metric {t['metric']}, {t['train']} train"
              f"{' (partial)' if t['partial'] else ''}")
        print(f"{'variant':<11}{'seeds':>6}{'held-out':>10}{'best dev':>10}{'best ep':>9}"
              f"{'stop ep':>9}{'s/run':>7}{'vs none':>16}{'to none best':>16}")
        for v, s in t["summary"].items():
            r = t["race"].get(v)
            to = "-" if r is None else f"{r['median_seconds']:.0f}/{r['none_median_seconds']:.0f} s"
            print(f"{v:<11}{len(s['seeds']):>6}{s['heldout_mean']:>10.4f}"
                  f"{s['dev_best_mean']:>10.4f}{s['best_epoch_mean']:>9.1f}"
                  f"{s['stopped_epoch_mean']:>9.1f}{s['run_seconds_median']:>7.0f}"
                  f"{fmt(t['vs_none'].get(v), 'heldout'):>16}{to:>16}")
    print("\npooled held-out ceiling against none (points):")
    for v, row in result["pooled_vs_none"].items():
        print(f"{v:<11}{fmt(row, 'heldout'):>16}  faster on {result['faster_tasks'][v]} of "
              f"{len(result['tasks'])} tasks  -> {result['verdict'][v]}")
    print(f"sage - random (pooled): {fmt(result['pooled_sage_vs_random'], 'heldout')}")
    if result["beside"]["runs"]:
        print(f"{len(result['beside']['runs'])} runs had other work beside them; without "
              f"their seeds, faster on: {result['faster_tasks_undisturbed']}")
    if not result["complete"]:
        print("the study is not complete: this is an interim report")


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = result["tasks"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.8 * len(tasks), 3.8), squeeze=False)
    colours = {"none": "tab:gray", "random": "tab:blue", "sage": "tab:red",
               "sage_large": "tab:purple"}
    for ax, (task, t) in zip(axes[0], tasks.items()):
        for v, curves in t["curves"].items():
            for i, c in enumerate(curves):
                ax.plot(c["seconds"], c["dev"], color=colours.get(v), alpha=0.55, lw=1,
                        label=v if i == 0 else None)
        ax.set(title=f"{task}: dev {t['metric']}, one line per seed", xlabel="seconds since "
               "the run started", ylabel=f"dev {t['metric']}")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_pilot = sub.add_parser("pilot", help="the schedule pilot on SST-2")
    p_pilot.add_argument("--schedule", choices=SCHEDULES, default=None,
                         help="one schedule's half now (default: both)")
    p_pilot.add_argument("--quick", action="store_true")
    p_run = sub.add_parser("run", help="one task's study, with the pilot's schedule")
    p_run.add_argument("task", choices=sorted(TASKS))
    p_run.add_argument("--seeds", default=SEEDS)
    p_run.add_argument("--only", default=None, help="comma-separated variants to run now")
    p_run.add_argument("--large", action="store_true",
                       help="add sage_large (only under the LARGER BUDGET rule)")
    p_run.add_argument("--quick", action="store_true")
    sub.add_parser("all", help="the pilot, then every task (seeds 0-1 first); resumes")
    p_rerun = sub.add_parser("rerun", help="one run again, for seconds nothing else took")
    p_rerun.add_argument("task", choices=sorted(TASKS))
    p_rerun.add_argument("variant", choices=sorted(VARIANTS))
    p_rerun.add_argument("seed", type=int)
    p_report = sub.add_parser("report", help="tables, verdict and plot from the results")
    p_report.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.command == "pilot":
        pilot = {v: VARIANTS[v] for v in ("none", "sage")}
        for schedule in [args.schedule] if args.schedule else SCHEDULES:
            code = run_task("sst2", schedule, "0" if args.quick else PILOT_SEEDS, None,
                            args.quick, pilot)
            if code:
                return code
        return 0
    if args.command == "report":
        return report(args.out)
    if args.command == "rerun":
        return rerun(RESULTS, args.task, args.variant, args.seed)
    if args.command == "all":
        steps = [["pilot"]] + [["run", t, "--seeds", seeds] for seeds in ("0,1", SEEDS)
                               for t in TASKS]
        code = next((code for step in steps if (code := main(step))), 0)
        if code or not larger_budget_due(RESULTS):
            return code
        print("LARGER BUDGET: sage's pooled gain over none is positive but under two "
              "standard errors; running sage_large", flush=True)
        steps = [["run", t, "--large", "--only", "sage_large"] for t in TASKS]
        return next((code for step in steps if (code := main(step))), 0)
    schedule = "linear" if args.quick else pilot_choice(RESULTS)["schedule"]
    if schedule is None:
        print("error: run the schedule pilot first (`python bench/convergence.py pilot`)",
              file=sys.stderr)
        return 2
    variants = dict(VARIANTS)
    if args.large:
        variants["sage_large"] = f"{LARGE} augment.pool_max={2 * TASKS[args.task][1]}"
    return run_task(args.task, schedule, "0" if args.quick else args.seeds, args.only,
                    args.quick, variants)


if __name__ == "__main__":
    sys.exit(main())
