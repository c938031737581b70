"""Does layer transfer pay, and does SAGE pay once the student learns the teacher's
layers? The pre-registered layer study.

Every student trains as the embedded default does (plain distillation, at most 6 epochs,
early stopping after 2 without a better primary dev score); its exported best epoch is
scored on a held-out slice nobody trained or selected on. Arms, paired by seed 0-4:

    logits       today's default: the teacher's logits only (KD + gold-label CE)
    layers       + layer transfer, loss.layers=1.0 with loss.layer_loss=pkd on the default
                 map (each student layer to the teacher's at the same relative depth),
                 pooled as the pilot decides
    layers_sage  layers + SAGE (augment.strategy=sage: synthetic points labelled with the
                 teacher's logits and its layers' states)

Tasks: SST-2 in the embedded default's regime (the teacher fine-tuned on 20,000 examples,
the student trained on 8,000), MRPC, CoLA and STS-B (regression) on their official files.
Settings, arms and rules below were fixed before any of the study's runs:

    PILOT RULE: SST-2 seeds 0, 1, 2 train `layers` pooled by [CLS] (`layers_cls`) and
    by the masked mean (`layers_mean`), beside `logits`; the study's `layers` is the
    pooling with the higher mean held-out score over those three seeds (under 0.1
    points apart: the one whose runs took fewer seconds). The pilot's runs of `logits`
    and of the chosen pooling are the study's runs of those seeds.

    RULE: `layers` becomes the default where its held-out gain over `logits`, pooled
    over the four tasks (seed-paired differences in points of each task's primary
    metric), is at least two standard errors and its median seconds per run at most
    1.3x `logits`'. `layers_sage` is recommended where it beats `layers` by two
    standard errors pooled. Reported per task and pooled: the ceiling, seconds per run,
    and seconds to reach `logits`' best dev score.

    ATTENTION TRANSFER is not in the study: it needs the teacher's attention maps per
    token (too large to cache, so the teacher would run in the loop) and is built only
    if a pilot says it pays its cost.

    ATTENTION PILOT RULE (fixed before its first run): SST-2 in the same regime, seeds
    0, 1, 2, one process on one thread: `layers_mean` (the study's `layers`) beside
    `tokens` (per-token MSE of the mapped layers, TinyBERT's hidden-state loss, teacher
    in the loop) and `attention` (`layers_mean` plus the KL of the mapped layers'
    attention distributions, weight 1, teacher in the loop). A teacher-in-the-loop
    arm pays its cost if its held-out gain over `layers_mean`, paired by seed, is at
    least 0.3 points and two standard errors; then it is recommended beside the study's
    verdict with its seconds. Otherwise it stays an option whose cost the docs state.

    python bench/layers.py pilot            # SST-2, seeds 0-2, both poolings; resumes
    python bench/layers.py run mrpc         # one task, all seeds and arms; resumes
    python bench/layers.py report           # per task and pooled, and the verdict
    python bench/layers.py attention        # the attention pilot (SST-2, seeds 0-2)
    python bench/layers.py run sst2 --quick # minutes: the machinery only

Runs go through `bench/accuracy.py` (one result file per task, `layers_<task>.json`, and
a per-run log that survives an interruption). STS-B's held-out slice is cut by score
quantile bin, and its primary metric is Pearson's r (points: r x 100).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import accuracy  # noqa: E402  (sibling scripts)
import compare  # noqa: E402
from compare import fmt  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SEEDS = "0,1,2,3,4"
PILOT_SEEDS = "0,1,2"
LAYERS = "loss.layers=1.0 loss.layer_loss=pkd"
ARMS = {"logits": "loss.layers=0"}
POOLINGS = {"layers_cls": f"{LAYERS} loss.layer_pool=cls",
            "layers_mean": f"{LAYERS} loss.layer_pool=mean"}
HOW = ("SST-2's runs (and the pooling pilot) used the machine's 2 threads; MRPC's, CoLA's, "
       "STS-B's and the attention pilot's one thread each, pinned to one core while other "
       "work ran on the other (bench/results/layers_beside.json): seconds compare within a "
       "task, not across tasks")
IN_LOOP = {"layers_mean": POOLINGS["layers_mean"],
           "tokens": "loss.layers=1.0 loss.layer_pool=tokens loss.layer_loss=mse",
           "attention": f"{POOLINGS['layers_mean']} loss.attention=1.0"}
# the embedded default's training, in place of the SAGE settings accuracy.py starts from
BASE = ["-o", "augment.strategy=none", "-o", "train.epochs=6", "-o", "train.early_stopping=2"]
TASKS = {
    "sst2": ["--teacher-train", "20000", "--train", "8000", "--held-out", "5000"],
    "mrpc": ["--teacher-train", "all", "--train", "all", "--held-out", "600",
             "-o", "data.max_length=128", "-o", "teacher.finetune_epochs=3",
             "-o", "eval.metrics=[f1,accuracy]"],
    "cola": ["--teacher-train", "all", "--train", "all", "--held-out", "1000",
             "-o", "teacher.finetune_epochs=3", "-o", "eval.metrics=[mcc,accuracy]"],
    # fixed before STS-B's first run, in the manner of MRPC's: its 5,749 training pairs
    # less a held-out slice stratified by score bin; Pearson picks the epoch
    "stsb": ["--teacher-train", "all", "--train", "all", "--held-out", "1000",
             "-o", "data.max_length=128", "-o", "teacher.finetune_epochs=3",
             "-o", "eval.metrics=[pearson,spearman]"],
}
MEASURES = {"heldout": (lambda r: r["heldout_primary"], 100.0),
            "seconds": (lambda r: r["run_seconds"], 1.0)}


def stem(task: str, quick: bool = False) -> str:
    return f"layers_{task}{'_quick' if quick else ''}"


def load(task: str, quick: bool = False) -> dict | None:
    """A task's result file with the runs its log holds beyond it, each run once."""
    path, log = RESULTS / f"{stem(task, quick)}.json", RESULTS / f"{stem(task, quick)}.runs.jsonl"
    d = json.loads(path.read_text()) if path.is_file() else {"runs": []}
    if log.is_file():
        more = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
        d = {**d, "runs": list({(r["variant"], r["seed"]): r for r in d["runs"] + more}
                               .values()), "partial": True}
    return d if d["runs"] else None


def run(task: str, seeds: str, arms: dict, quick: bool, name: str | None = None) -> int:
    argv = ["--task", task, "--name", name or stem(task, quick), "--seeds", seeds, "--resume",
            *TASKS[task], *BASE]
    if quick:
        argv += ["--quick", "--train", "300", "--teacher-train", "600", "--held-out", "300",
                 "-o", "train.epochs=2"]
    for name, overrides in arms.items():
        argv += ["--variant", f"{name}: {overrides}"]
    return accuracy.main(argv)


def pilot_choice(d: dict | None) -> str | None:
    """The pooling the pilot rule picks, or None until its six runs are in."""
    runs = [] if d is None else d["runs"]
    got = {name: [r for r in runs if r["variant"] == name and str(r["seed"]) in
                  PILOT_SEEDS.split(",")] for name in POOLINGS}
    if any(len(rs) < 3 for rs in got.values()):
        return None
    score = {n: float(np.mean([r["heldout_primary"] for r in rs])) for n, rs in got.items()}
    a, b = POOLINGS
    if abs(score[a] - score[b]) * 100 >= 0.1:
        return a if score[a] > score[b] else b
    seconds = {n: sum(r["run_seconds"] for r in rs) for n, rs in got.items()}
    return a if seconds[a] <= seconds[b] else b


def pilot_table(d: dict) -> dict:
    """The pilot's held-out means (points) over its seeds, per arm, and each pooling's
    gain over `logits`, paired by seed."""
    runs = [r for r in d["runs"] if str(r["seed"]) in PILOT_SEEDS.split(",")]
    out = {v: 100 * float(np.mean([r["heldout_primary"] for r in runs if r["variant"] == v]))
           for v in ("logits", *POOLINGS) if any(r["variant"] == v for r in runs)}
    return {"heldout_mean": out, "seeds": PILOT_SEEDS,
            "vs_logits": {v: compare.paired_runs(runs, v, "logits", MEASURES)
                          for v in POOLINGS}}


def study_arms(pooling: str) -> dict:
    """The study's arms under the names the pilot's runs carry, so those runs count."""
    return {**ARMS, pooling: POOLINGS[pooling],
            f"{pooling}_sage": f"{POOLINGS[pooling]} augment.strategy=sage"}


def as_study(runs: list[dict], pooling: str) -> list[dict]:
    """Runs under the study's arm names: `layers` and `layers_sage` are the pooling's."""
    names = {"logits": "logits", pooling: "layers", f"{pooling}_sage": "layers_sage"}
    return [dict(r, variant=names[r["variant"]]) for r in runs if r["variant"] in names]


def seconds_to_reach(run: dict, target: float) -> float | None:
    """Training seconds until a run's dev score first reaches `target` (None: never)."""
    total = 0.0
    for dev, seconds in zip(run["dev_by_epoch"], run["epoch_seconds"]):
        total += seconds
        if dev >= target - 1e-12:
            return total
    return None


def task_row(runs: list[dict]) -> dict:
    """One task's table: each arm's held-out ceiling, seconds, seconds to `logits`' best
    dev score (same seed), and the paired differences."""
    arms = [v for v in ("logits", "layers", "layers_sage") if any(r["variant"] == v
                                                                 for r in runs)]
    best = {r["seed"]: max(r["dev_by_epoch"]) for r in runs if r["variant"] == "logits"}
    row = {"primary": runs[0]["primary_metric"],
           "teacher": runs[0][f"teacher_dev_{runs[0]['primary_metric']}"], "arms": {}}
    for v in arms:
        rs = [r for r in runs if r["variant"] == v]
        reach = [seconds_to_reach(r, best[r["seed"]]) for r in rs if r["seed"] in best]
        row["arms"][v] = {
            "seeds": sorted(r["seed"] for r in rs),
            "heldout_mean": 100 * float(np.mean([r["heldout_primary"] for r in rs])),
            "heldout_sd": 100 * float(np.std([r["heldout_primary"] for r in rs], ddof=1))
            if len(rs) > 1 else 0.0,
            "seconds_median": float(np.median([r["run_seconds"] for r in rs])),
            "epoch_seconds_median": float(np.median([s for r in rs for s in r["epoch_seconds"]])),
            "reached_logits_best": sum(x is not None for x in reach),
            "seconds_to_logits_best_median": float(np.median([x for x in reach if x is not None]))
            if any(x is not None for x in reach) else None}
    row["layers_vs_logits"] = compare.paired_runs(runs, "layers", "logits", MEASURES)
    row["sage_vs_layers"] = compare.paired_runs(runs, "layers_sage", "layers", MEASURES)
    if "layers" in row["arms"] and "logits" in row["arms"]:
        row["seconds_ratio"] = (row["arms"]["layers"]["seconds_median"]
                                / row["arms"]["logits"]["seconds_median"])
    return row


def verdict(out: dict) -> dict:
    """The rule fixed before the runs, applied once every task has its five seeds."""
    complete = all(len(out["tasks"].get(t, {}).get("arms", {}).get(a, {}).get("seeds", []))
                   >= len(SEEDS.split(",")) for t in TASKS
                   for a in ("logits", "layers", "layers_sage"))
    pooled = out["pooled"]
    gain, sage = pooled["layers_vs_logits"], pooled["sage_vs_layers"]
    ratios = [r["seconds_ratio"] for r in out["tasks"].values() if "seconds_ratio" in r]
    layers_default = bool(gain and gain["heldout"]["mean"] >= 2 * gain["heldout"]["se"]
                          and ratios and float(np.median(ratios)) <= 1.3)
    return {"complete": complete, "layers_becomes_default": layers_default if complete else None,
            "sage_recommended": bool(sage and sage["heldout"]["mean"] >= 2 * sage["heldout"]["se"])
            if complete else None, "seconds_ratio_median": float(np.median(ratios))
            if ratios else None}


def report() -> dict:
    pooling = pilot_choice(load("sst2"))
    out = {"pooling": pooling, "tasks": {}, "settings": {t: TASKS[t] + BASE for t in TASKS},
           "how": HOW,
           "arms": {"logits": ARMS["logits"], "layers": POOLINGS.get(pooling),
                    "layers_sage": f"{POOLINGS.get(pooling)} augment.strategy=sage"}}
    if pooling is None:
        print("the pilot is not complete: python bench/layers.py pilot")
        return out
    out["pilot"] = pilot_table(load("sst2"))
    every = []
    for task in TASKS:
        d = load(task)
        if d is None:
            continue
        runs = as_study(d["runs"], pooling)
        every += [dict(r, seed=f"{task}-{r['seed']}") for r in runs]
        row = out["tasks"][task] = {**task_row(runs), "partial": bool(d.get("partial"))}
        print(f"{task}: layers - logits {fmt(row['layers_vs_logits'], 'heldout')}, "
              f"layers_sage - layers {fmt(row['sage_vs_layers'], 'heldout')}, median seconds "
              + ", ".join(f"{a} {x['seconds_median']:.0f}" for a, x in row["arms"].items()))
    out["pooled"] = {"layers_vs_logits": compare.paired_runs(every, "layers", "logits", MEASURES),
                     "sage_vs_layers": compare.paired_runs(every, "layers_sage", "layers",
                                                           MEASURES)}
    out["verdict"] = verdict(out)
    attention = load_attention()
    if attention is not None:
        out["attention_pilot"] = attention
    print(f"pooled: layers - logits {fmt(out['pooled']['layers_vs_logits'], 'heldout')}, "
          f"layers_sage - layers {fmt(out['pooled']['sage_vs_layers'], 'heldout')} "
          f"(pooling {pooling}); verdict {out['verdict']}")
    from sage_rapids.artifacts import write_json

    write_json(RESULTS / "layers.json", out)
    return out


def load_attention() -> dict | None:
    """The attention pilot's table: each teacher-in-the-loop arm against `layers_mean`,
    paired by seed, with its seconds, and whether it pays by its rule."""
    path = RESULTS / "layers_attention_sst2.json"
    log = RESULTS / "layers_attention_sst2.runs.jsonl"
    runs = json.loads(path.read_text())["runs"] if path.is_file() else []
    if log.is_file():
        runs += [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
    runs = list({(r["variant"], r["seed"]): r for r in runs}.values())
    if not runs:
        return None
    out = {"arms": {}, "partial": not path.is_file()}
    for v in IN_LOOP:
        rs = [r for r in runs if r["variant"] == v]
        if rs:
            out["arms"][v] = {"seeds": sorted(r["seed"] for r in rs),
                              "heldout_mean": 100 * float(np.mean([r["heldout_primary"]
                                                                   for r in rs])),
                              "seconds_median": float(np.median([r["run_seconds"] for r in rs])),
                              "epoch_seconds_median": float(np.median(
                                  [s for r in rs for s in r["epoch_seconds"]]))}
    for v in ("tokens", "attention"):
        d = compare.paired_runs(runs, v, "layers_mean", MEASURES)
        out[f"{v}_vs_layers"] = d
        out[f"{v}_pays"] = None if d is None or d["n"] < 3 else bool(
            d["heldout"]["mean"] >= 0.3 and d["heldout"]["mean"] >= 2 * d["heldout"]["se"])
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["pilot", "run", "report", "attention"])
    parser.add_argument("task", nargs="?", choices=sorted(TASKS))
    parser.add_argument("--seeds", default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.step == "pilot":
        return run("sst2", args.seeds or PILOT_SEEDS, {**ARMS, **POOLINGS}, args.quick)
    if args.step == "attention":
        return run("sst2", args.seeds or PILOT_SEEDS, IN_LOOP, args.quick,
                   f"layers_attention_sst2{'_quick' if args.quick else ''}")
    if args.step == "run":
        if args.task is None:
            parser.error("run needs a task")
        pooling = pilot_choice(load("sst2", args.quick))
        if pooling is None:
            raise SystemExit("the pilot decides the pooling first: python bench/layers.py "
                             f"pilot{' --quick' if args.quick else ''}")
        return run(args.task, args.seeds or SEEDS, study_arms(pooling), args.quick)
    report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
