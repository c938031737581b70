"""The paper's configuration: a 110M teacher into a 66M student on SST-2 (pre-registered).

all-mpnet-base-v2 (12 layers, width 768, 109.5M parameters) is the one BERT-base-size
encoder at hand offline; its 6 even layers make a 67.0M student, the paper's size. The
plan below was sized from `measure` (seconds per 1,000 examples on this machine's
cores, bench/results/paper_measure.json) and written into bench/results/paper.json
before the first run:

    TEACHER: mpnet-base fine-tuned once (seed 0) on every SST-2 training sentence outside
    the held-out slice (62,349 of 67,349), the project's fine-tuning recipe (1 epoch, lr
    1e-4, batch 32, max_length 64): at the measured 61 s per 1,000 on one thread, about
    an hour, which the study can afford.

    STUDENTS: layers 0, 2, 4, 6, 8, 10 of the fine-tuned teacher, distilled on cached
    targets over a stratified 20,000 of the teacher's sentences (seed 0; the minimum the
    study allows: the full set would take about three times the study's 6.6 hours), the
    default's loss and optimiser (lr 1e-4, batch 32, schedule planned for the cap),
    `train.epochs` 10 as the cap and early stopping with patience 2 on dev accuracy (872
    sentences). Arms `none` (plain distillation) and `sage` (the default's SAGE
    settings: ratio 0.2, q 0.9, partners of the other class, the input-space map), student
    seeds 0, 1, 2 (`train.seed`; `seed` 0 picks the data and the teacher), run in the
    order none-0, sage-0, none-1, sage-1, none-2, sage-2 so that a study cut short stays
    paired. One thread each (`torch.set_num_threads(1)`), the same on every run.

    HELD OUT: 5,000 sentences drawn first (stratified, seed 12345) from SST-2's 67,349
    training sentences, a sentence whose text also occurs outside them left out; neither
    model trained on them and no epoch was picked on them.

    RULE: SAGE pays at this scale where the mean over seeds of the paired held-out
    accuracy difference (sage - none, in points) exceeds two standard errors of those
    differences (their sample sd / sqrt(seeds)). It is recommended per second where the
    median over seeds of its seconds (training, rounds and labelling) to reach within
    0.5 points of the paired `none` run's best dev accuracy is below `none`'s own
    seconds to get there. A third arm (layer transfer) is not part of this study.

    HEADLINE: the README reports the arm the rule recommends (`none` unless SAGE pays):
    best-epoch dev accuracy, mean and sd over the three seeds, beside its held-out
    accuracy and the teacher's.

    ONLINE KD: one seed, 2 epochs on a stratified 2,000 of the training sentences: the
    same student trained with the teacher in the loop and on cached vectors, alternated
    epoch by epoch in one process (bench/vs_online_kd.py); the median epoch-time ratio
    beside its ideal, 1 + teacher forward / student step.

    EXPORT: the seed-0 student of the headline's arm, its efficiency report (the run's
    own, `eval.efficiency`) and its ONNX and int8 copies re-scored on dev.

    QNLI: non-standard, as there is no QNLI train split here; the convergence study's split
    of the official dev set (teacher 3,000 pairs for 3 epochs, students 1,000, dev 1,000,
    held out 1,400, max_length 128), the same arms, seeds and rule, after SST-2.

    python bench/paper.py measure     # seconds per 1,000 examples (paper_measure.json)
    python bench/paper.py plan        # the plan and its projected hours into paper.json
    python bench/paper.py run         # the teacher, then the SST-2 students; resumes mid-run
    python bench/paper.py teacher     # the fine-tuned teacher's dev and held-out accuracy
    python bench/paper.py online      # online KD against the vector interface
    python bench/paper.py export      # the headline student's ONNX and int8 copies
    python bench/paper.py qnli        # the QNLI arms (bench/accuracy.py, --resume)
    python bench/paper.py schedule    # why epoch 1 differs between the arms of one seed
    python bench/paper.py all         # every step not done yet, then report: resumes
    python bench/paper.py report      # tables and the rule's verdict into paper.json

Every step resumes: run directories live under `--work` (default
`~/.cache/sage-rapids/bench/paper`) and a run stopped part-way continues from its last
epoch's checkpoint. Seconds are measurements on the machine as it was: `--beside` says
what else ran, and each run records when it finished.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
WORK = Path.home() / ".cache/sage-rapids/bench/paper"
TEACHER = "mpnet-base"
TRAIN = 20000
FULL_TRAIN = 67349
HELD_OUT = 5000
SEEDS = (0, 1, 2)
THREADS = 1
LAYERS = [0, 2, 4, 6, 8, 10]
WITHIN = 0.005  # "within 0.5 points of the best"
TEACHER_TRAIN = FULL_TRAIN - HELD_OUT
BASE = [f"teacher.model={TEACHER}", f"teacher.finetune_limit={TEACHER_TRAIN}",
        f"data.train_limit={TRAIN}", f"student.layers={LAYERS}", "train.epochs=10",
        "train.early_stopping=2", "augment.plots=false", "seed=0"]
ARMS = {"none": ["augment.strategy=none"], "sage": ["augment.strategy=sage"]}
ONLINE = ["data.train_limit=2000", "train.epochs=2"]
QNLI = ["--task", "qnli", "--teacher-train", "3000", "--train", "1000", "--dev", "1000",
        "--held-out", "1400", "-o", "data.max_length=128", "-o", "teacher.finetune_epochs=3",
        "-o", f"teacher.model={TEACHER}", "-o", f"student.layers={LAYERS}",
        "-o", "train.epochs=10", "-o", "train.early_stopping=2", "--seeds", "0,1,2",
        *[x for name, o in ARMS.items() for x in ("--variant", f"{name}: {' '.join(o)}")]]
# the plan's paragraphs (`NAME: text`), as written into paper.json
RULES = {part.split(":", 1)[0].strip(): " ".join(part.split(":", 1)[1].split())
         for part in __doc__.split("\n\n") if re.match(r"\s*[A-Z][A-Z ]+:", part)}


def threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def stamp(args) -> dict:
    import torch

    return {"date": time.strftime("%Y-%m-%d"), "threads": torch.get_num_threads(),
            "beside": args.beside}


def data_overrides(work: Path) -> list[str]:
    """The study's files: SST-2 train less the held-out slice, and the official dev."""
    folder = work / "data"
    return ["data.name=local", f"data.train_file={folder / 'train.tsv'}",
            f"data.dev_file={folder / 'dev.tsv'}", "data.text_column=sentence",
            "data.label_column=label", 'data.label_names=["0","1"]']


def write_splits(work: Path):
    """Cut the held-out slice from SST-2 train and write the study's files (once; the
    same on every machine); returns the held-out `TextDataset`."""
    from accuracy import write_tsv
    from sage_rapids.config import load_config
    from sage_rapids.data.tasks import load_split, stratified_subset

    glue = load_config(None, ["data.name=glue/sst2"]).data
    full = load_split(glue, "train")
    held = stratified_subset(full.labels, HELD_OUT, 12345)
    rest = np.setdiff1d(np.arange(len(full)), held)
    outside = set(full.texts[i] for i in rest)
    held = np.array([i for i in held if full.texts[i] not in outside])
    folder = work / "data"
    if not (folder / "train.tsv").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        write_tsv(folder / "dev.tsv", load_split(glue, "dev"))
        write_tsv(folder / "train.tsv", full.subset(rest))
    return full.subset(held)


def config(work: Path, extra=()):
    from sage_rapids.config import load_config

    return load_config(None, [*BASE, *data_overrides(work), *extra])


# ---------------------------------------------------------------------------- measure
def measure(args) -> int:
    """Seconds per 1,000 examples: fine-tuning steps, the teacher's forward (targets) and
    a 6-layer student's epoch on cached targets, with the real weights and data."""
    import sage_rapids
    from sage_rapids.backend import resolve_backend
    from sage_rapids.data.tasks import load_task, stratified_subset
    from sage_rapids.distillation.teacher import finetune_teacher

    write_splits(Path(args.work))
    cfg = config(Path(args.work))
    backend = resolve_backend("cpu")
    task = load_task(cfg.data, 0)
    n = args.examples
    sample = task.full_train.subset(stratified_subset(task.full_train.labels, n, 99))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        finetune_teacher(replace(cfg.teacher, finetune_limit=None, cache_dir=tmp), cfg.data,
                         sample, backend, 0, True, lambda m: None)
        finetune = time.perf_counter() - t0  # load and save included
        run = Path(tmp) / "run"  # speed does not depend on the weights: MPNet as it is
        sage_rapids.distill(overrides=[*BASE, *data_overrides(Path(args.work)),
                                       f"teacher.model={TEACHER}",
                                       "teacher.finetune=false", f"data.train_limit={n}",
                                       "train.epochs=1", "eval.efficiency=false",
                                       "augment.strategy=none"], out=run, quiet=True)
        prof = json.loads((run / "profile.json").read_text())
        dev = json.loads((run / "summary.json").read_text())["dev_examples"]
    per = 1000 / n
    result = {**stamp(args), "examples": n, "dev_examples": dev,
              "finetune_seconds_per_1000": finetune * per,
              "teacher_forward_seconds_per_1000": prof["total"]["teacher_targets"] * per,
              "student_epoch_seconds_per_1000": prof["epochs"]["1"]["train"] * per,
              "dev_evaluate_seconds": prof["epochs"]["1"]["evaluate"],
              "note": f"{n} stratified SST-2 training sentences; the fine-tuning figure "
                      "includes loading and saving the model; the forward covers the "
                      "training sentences only (dev is scored in `evaluate`)"}
    from sage_rapids.artifacts import write_json

    write_json(RESULTS / "paper_measure.json", result)
    print(json.dumps(result, indent=1))
    return 0


def projection(m: dict) -> dict:
    """Hours the study's parts cost at the measured rates (one process, `threads`)."""
    ft, fw, st = (m[k] / 3600 for k in ("finetune_seconds_per_1000",
                                        "teacher_forward_seconds_per_1000",
                                        "student_epoch_seconds_per_1000"))
    full = TEACHER_TRAIN / 1000
    epochs = 6  # expected to stopping (8,000-example runs peaked at 4 of 6)
    sage = 1.2  # ratio 0.2 more examples per epoch after the first
    return {
        "teacher_full_set_hours": full * ft,
        "teacher_20k_hours": TRAIN / 1000 * ft,
        "targets_20k_hours": TRAIN / 1000 * fw,
        "student_run_20k_hours": TRAIN / 1000 * (fw + epochs * st),
        "student_run_full_hours": full * (fw + epochs * st),
        "study_20k_hours": len(SEEDS) * TRAIN / 1000 * (2 * fw + epochs * st * (1 + sage)),
        "study_full_hours": len(SEEDS) * full * (2 * fw + epochs * st * (1 + sage)),
        "assumed": f"{epochs} epochs a run; sage trains {sage - 1:.0%} more examples an epoch",
    }


def plan(args) -> int:
    """Write the plan into paper.json before any run (an existing plan is kept)."""
    from sage_rapids.artifacts import write_json

    path = RESULTS / "paper.json"
    old = json.loads(path.read_text()) if path.is_file() else {}
    if "plan" in old and not args.force:
        print(f"{path}: the plan was written on {old['plan']['date']}; kept")
        return 0
    m = json.loads((RESULTS / "paper_measure.json").read_text())
    hours = projection(m)
    write_json(path, {**old, "plan": {
        "date": time.strftime("%Y-%m-%d"), "rules": RULES, "base": BASE, "arms": ARMS,
        "data": "WORK/data/train.tsv: SST-2 train less the held-out slice "
                f"({TEACHER_TRAIN:,} sentences); WORK/data/dev.tsv: the official dev",
        "seeds": list(SEEDS), "threads": THREADS, "held_out": HELD_OUT, "train": TRAIN,
        "online": ONLINE, "qnli": QNLI, "measured": m, "projected_hours": hours}})
    for k, v in hours.items():
        print(f"  {k:<26} {v if isinstance(v, str) else f'{v:.1f}'}")
    print(f"wrote the plan into {path}")
    return 0


# ---------------------------------------------------------------------------- the runs
def within_epoch(dev: list[float], target: float) -> int | None:
    """The first epoch (1-based) whose dev accuracy is within WITHIN of `target`."""
    return next((e + 1 for e, a in enumerate(dev) if a >= target - WITHIN - 1e-12), None)


def run_row(out: Path, arm: str, seed: int, held, backend, args) -> dict:
    from sage_rapids.distillation.evaluate import score_classifier

    summary = json.loads((out / "summary.json").read_text())
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    prof = json.loads((out / "profile.json").read_text())
    extra = ("reduce", "anchors", "neighbours", "synthesize", "label")
    # each epoch's stages from its metrics row, which a resumed run keeps for every epoch
    spent = [r["stage_seconds"].get("train", 0.0)
             + sum(r["stage_seconds"].get(k, 0.0) for k in extra) for r in rows]
    dev = [r["dev_accuracy"] for r in rows]
    heldout = score_classifier(out / "student", held, 64, backend, metrics=["accuracy"])
    return {"arm": arm, "seed": seed, "dev_by_epoch": dev, "best_dev": max(dev),
            "best_epoch": summary["best_epoch"], "stopped_epoch": summary["stopped_epoch"],
            "stop_reason": summary["stop_reason"],
            "epochs_to_within_best": within_epoch(dev, max(dev)),
            "epoch_seconds": [r["seconds"] for r in rows], "work_seconds": spent,
            "targets_seconds": prof["total"].get("teacher_targets"),
            "total_seconds": summary["total_seconds"],
            "synthetic": [r.get("n_made", 0) for r in rows],
            "heldout_accuracy": heldout["accuracy"], "heldout_examples": len(held),
            "teacher_dev_accuracy": summary.get("teacher_dev_accuracy"),
            "student_parameters": summary["student_parameters"],
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "beside": args.beside}


def runs_done() -> dict:
    """The finished runs: those `report` wrote into paper.json (committed), then the
    per-run log of this checkout (not committed), which may hold later ones."""
    kept = RESULTS / "paper.json"
    rows = json.loads(kept.read_text()).get("runs", []) if kept.is_file() else []
    path = RESULTS / "paper.runs.jsonl"
    if path.is_file():
        rows += [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return {(r["arm"], r["seed"]): r for r in rows}


def run(args) -> int:
    import sage_rapids
    from sage_rapids.artifacts import append_jsonl
    from sage_rapids.backend import resolve_backend

    if not (RESULTS / "paper.json").is_file():
        raise SystemExit("write the plan first: python bench/paper.py plan")
    backend = resolve_backend("cpu")
    held = write_splits(Path(args.work))
    done = runs_done()
    seeds = [int(s) for s in args.seeds.split(",")]
    for seed in seeds:
        for arm in args.arms.split(","):
            if (arm, seed) in done:
                continue
            out = Path(args.work) / f"{arm}-s{seed}"
            if not (out / "summary.json").is_file():
                resume = (out / "checkpoint").is_dir()
                if out.exists() and not resume:
                    shutil.rmtree(out)  # stopped before its first checkpoint
                print(f"{arm} seed {seed}: {'resuming' if resume else 'starting'} {out}",
                      flush=True)
                sage_rapids.distill(overrides=[*BASE, *data_overrides(Path(args.work)),
                                               *ARMS[arm], f"train.seed={seed}"],
                                    out=out, resume=resume, quiet=False,
                                    log=lambda m: print(m, flush=True))
            row = run_row(out, arm, seed, held, backend, args)
            shutil.rmtree(out / "checkpoint", ignore_errors=True)  # ~0.8 GB; student kept
            append_jsonl(RESULTS / "paper.runs.jsonl", row)
            print(f"{arm} seed {seed}: dev {row['dev_by_epoch']}, held-out "
                  f"{row['heldout_accuracy']:.4f}, {row['total_seconds']:.0f} s", flush=True)
    return 0


def teacher(args) -> int:
    """The fine-tuned teacher's dev and held-out accuracy and what it cost, into
    paper.json (it is fine-tuned by the first run; this step only reads it)."""
    import re as re_

    from sage_rapids.artifacts import write_json
    from sage_rapids.backend import resolve_backend
    from sage_rapids.data.tasks import load_task
    from sage_rapids.distillation.evaluate import score_classifier
    from sage_rapids.distillation.teacher import cache_root, teacher_cache_key

    work = Path(args.work)
    held = write_splits(work)
    cfg = config(work)
    task = load_task(cfg.data, 0)
    folder = cache_root(cfg.teacher) / "teachers" / teacher_cache_key(
        cfg.teacher, cfg.data, task.full_train, 0)
    if not (folder / "meta.json").is_file():
        raise SystemExit("the teacher is not fine-tuned yet: `python bench/paper.py run` "
                         "fine-tunes it before the first student")
    meta = json.loads((folder / "meta.json").read_text())
    seconds = meta.get("seconds")
    log = work / "study.log"
    if seconds is None and log.is_file():  # a teacher fine-tuned before meta kept seconds
        lines = re_.findall(r"fine-tune teacher: (\d+)/(\d+) steps \(\d+%\), (\d+) s",
                            log.read_text())
        done = [x for x in lines if x[0] == x[1]]
        seconds = float((done or lines or [(0, 0, "nan")])[-1][2])
    backend = resolve_backend("cpu")
    scores = {name: score_classifier(folder, ds, cfg.data.max_length, backend,
                                     metrics=["accuracy"])["accuracy"]
              for name, ds in (("dev", task.dev), ("heldout", held))}
    path = RESULTS / "paper.json"
    d = json.loads(path.read_text())
    d["teacher"] = {"examples": meta["examples"], "steps": meta["steps"],
                    "seconds": seconds, "threads": meta.get("threads", THREADS),
                    "dev_accuracy": scores["dev"], "heldout_accuracy": scores["heldout"],
                    "heldout_examples": len(held), "beside": args.beside}
    write_json(path, d)
    print(json.dumps(d["teacher"], indent=1))
    return 0


def online(args) -> int:
    import vs_online_kd
    from sage_rapids.artifacts import write_json

    code = vs_online_kd.main(["--name", "paper_online", "--no-sage-run",
                              *[x for o in [*BASE, *data_overrides(Path(args.work)), *ONLINE]
                                for x in ("-o", o)],
                              "-o", "augment.strategy=none", "-o", "train.early_stopping=null"])
    path = RESULTS / "paper_online.json"
    if code == 0 and path.is_file():  # what else ran: its seconds are a measurement
        write_json(path, {**json.loads(path.read_text()), "beside": args.beside})
    return code


def export(args) -> int:
    from sage_rapids.artifacts import write_json
    from sage_rapids.run.deploy import export_student

    arm = headline_arm(runs_done())
    student = Path(args.work) / f"{arm}-s0" / "student"
    report = export_student(student, Path(args.work) / "onnx", "int8", None, 1.0, log=print)
    report = {k: v for k, v in report.items() if k != "out"}  # a local path
    summary = json.loads((student.parent / "summary.json").read_text())
    write_json(RESULTS / "paper_export.json", {
        **stamp(args), **report, "student": f"the study's {arm} student, seed 0",
        "efficiency": summary.get("efficiency")})
    return 0


def qnli(args) -> int:
    """The QNLI arms side by side as the SST-2 arms ran: one process a arm, one thread,
    each on a core of its own where there are two, each resumable (`accuracy.py
    --resume` keeps its finished runs); then their runs in one file, paper_qnli.json.
    The second arm starts once the first has its teacher (cached), so it is tuned once."""
    import subprocess

    import accuracy
    from sage_rapids.artifacts import write_json

    if (RESULTS / "paper_qnli.json").is_file():
        return 0
    cores = sorted(os.sched_getaffinity(0))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads),
           "MKL_NUM_THREADS": str(args.threads)}
    procs = []
    for i, arm in enumerate(ARMS):
        if procs:  # the first arm's per-run log appears once its teacher is ready
            while procs[0].poll() is None and not qnli_log(next(iter(ARMS))).is_file():
                time.sleep(5)
        core = {cores[i % len(cores)]}
        procs.append(subprocess.Popen(
            [sys.executable, str(Path(__file__).parent / "accuracy.py"), *QNLI, "--only", arm,
             "--name", f"paper_qnli_{arm}", "--out", str(RESULTS), "--resume"],
            env=env, preexec_fn=lambda core=core: os.sched_setaffinity(0, core)))
    if any(proc.wait() for proc in procs):
        return 1
    parts = {arm: RESULTS / f"paper_qnli_{arm}.json" for arm in ARMS}
    loaded = [json.loads(path.read_text()) for path in parts.values()]
    runs = [r for part in loaded for r in part["runs"]]
    write_json(RESULTS / "paper_qnli.json", {
        **loaded[0], "runs": runs, "summary": accuracy.summarise(runs),
        "variants": {k: v for part in loaded for k, v in part["variants"].items()},
        "beside": f"the other arm's process on the "
                  f"{'other' if len(cores) > 1 else 'same'} core (one thread each); {args.beside}"})
    for path in parts.values():
        path.unlink()
    return 0


def qnli_log(arm: str) -> Path:
    return RESULTS / f"paper_qnli_{arm}.runs.jsonl"


# ---------------------------------------------------------------------------- schedule
# Why epoch 1 differs between the arms of one seed, though SAGE's first round follows it.
SCHEDULE_CHECK = ["data.train_limit=2000", "data.dev_limit=400", "train.epochs=2",
                  "train.early_stopping=null", "eval.efficiency=false", "augment.plots=false"]
FLAT = ["train.schedule=constant", "train.warmup_ratio=0"]


def planned(settings: list[str], n_train: int) -> dict:
    """Each arm's planned optimiser steps and warm-up steps under `settings` on `n_train`
    examples, as the pipeline plans them (SAGE's expected synthetic points included)."""
    from sage_rapids.config import load_config
    from sage_rapids.distillation.train import planned_steps, warmup_steps
    from sage_rapids.run.pipeline import expected_synthetic

    out = {}
    for arm, extra in ARMS.items():
        c = load_config(None, [*settings, *extra])
        steps = planned_steps(n_train, expected_synthetic(c.augment, n_train, c.train.epochs),
                              c.train.batch_size)
        out[arm] = {"steps": steps, "warmup_steps": warmup_steps(c.train, steps)}
    return out


def schedule(args) -> int:
    """Both arms' planned steps in the study's two settings, and epoch 1 of both arms in
    two short runs each (the default MiniLM teacher, 2,000 SST-2 sentences): with the
    default schedule and with a constant rate without warm-up. Into paper.json."""
    from accuracy import SAGE_DEFAULT
    from sage_rapids.artifacts import write_json
    from sage_rapids.backend import resolve_backend
    from sage_rapids.config import load_config
    from sage_rapids.run import pipeline

    qnli_settings = [*SAGE_DEFAULT, "data.name=glue/qnli",
                     *[QNLI[i + 1] for i, x in enumerate(QNLI) if x == "-o"]]
    backend, epoch1 = resolve_backend("cpu"), {}
    with tempfile.TemporaryDirectory(prefix="sage-schedule-") as work:
        for name, extra in (("default", []), ("constant", FLAT)):
            for arm, a in ARMS.items():
                out = Path(work) / f"{name}-{arm}"
                pipeline.run(load_config(None, [*SCHEDULE_CHECK, *a, *extra]), backend, out,
                             quiet=True, log=lambda m: None)
                first = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
                epoch1.setdefault(name, {})[arm] = {k: first[k] for k in
                                                    ("train_loss", "dev_accuracy")}
                print(f"{name:<9} {arm:<5} epoch 1: train loss {first['train_loss']:.6f}, "
                      f"dev {first['dev_accuracy']:.4f}", flush=True)
    path = RESULTS / "paper.json"
    write_json(path, {**json.loads(path.read_text()), "schedule": {
        "planned": {"sst2": planned(BASE, TRAIN), "qnli": planned(qnli_settings, 1000)},
        "check": {"settings": SCHEDULE_CHECK, "constant": FLAT, "epoch1": epoch1},
        **stamp(args)}})
    print(f"wrote {path}")
    return 0


# ---------------------------------------------------------------------------- verdict
def paired(runs: dict, key: str) -> dict | None:
    """sage - none over the seeds both arms finished, in points."""
    seeds = sorted(s for (a, s) in runs if a == "sage" and ("none", s) in runs)
    if not seeds:
        return None
    d = [100 * (runs[("sage", s)][key] - runs[("none", s)][key]) for s in seeds]
    se = statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else None
    return {"seeds": seeds, "differences": d, "mean": statistics.mean(d), "se": se}


def rule_pays(held: dict | None) -> bool:
    """The rule: the mean paired held-out gain exceeds two standard errors."""
    return bool(held and held["se"] and held["mean"] > 2 * held["se"])


def qnli_verdict() -> dict | None:
    """The rule on the finished QNLI part (`paper_qnli.json`): paired held-out gain, and
    seconds to within reach counted in whole epochs (training, the round and its
    labelling, and the epoch's dev scoring: accuracy.py keeps no finer split)."""
    path = RESULTS / "paper_qnli.json"
    if not path.is_file():
        return None
    runs = {(r["variant"], r["seed"]): {**r, "best_dev": max(r["dev_by_epoch"])}
            for r in json.loads(path.read_text())["runs"]}
    held = paired(runs, "heldout_accuracy")
    faster, per_second = seconds_to_reach(runs, held, "epoch_seconds")
    return held and {**held, "sage_pays": rule_pays(held),
                     "seconds_to_within_none_best": faster, "sage_per_second": per_second}


def seconds_to(row: dict, target: float, key: str) -> float | None:
    e = within_epoch(row["dev_by_epoch"], target)
    return None if e is None else sum(row[key][:e])


def seconds_to_reach(runs: dict, held: dict | None, key: str) -> tuple[list, bool | None]:
    """For each paired seed, [sage, none] seconds (`key` per epoch) to reach within
    reach of that seed's `none` best dev, and whether SAGE's median is the lower."""
    faster = []
    for s in (held or {"seeds": []})["seeds"]:
        target = runs[("none", s)]["best_dev"]
        faster.append([seconds_to(runs[(a, s)], target, key) for a in ("sage", "none")])
    if not faster:
        return faster, None

    def forever(x):  # a run that never gets within reach takes forever
        return math.inf if x is None else x

    return faster, statistics.median(forever(p[0]) for p in faster) < \
        statistics.median(forever(p[1]) for p in faster)


def verdict(runs: dict) -> dict:
    held, dev = paired(runs, "heldout_accuracy"), paired(runs, "best_dev")
    pays = rule_pays(held)
    faster, per_second = seconds_to_reach(runs, held, "work_seconds")
    complete = held is not None and len(held["seeds"]) == len(SEEDS)
    return {"heldout_sage_minus_none": held, "dev_sage_minus_none": dev,
            "seconds_to_within_none_best": faster, "sage_pays": pays if complete else None,
            "sage_per_second": per_second if complete else None, "complete": complete}


def headline_arm(runs: dict) -> str:
    return "sage" if verdict(runs)["sage_pays"] else "none"


def arm_summary(rows: list[dict]) -> dict:
    best = [r["best_dev"] for r in rows]
    held = [r["heldout_accuracy"] for r in rows]
    sd = lambda xs: statistics.stdev(xs) if len(xs) > 1 else None  # noqa: E731
    return {"seeds": [r["seed"] for r in rows], "best_dev": best,
            "best_dev_mean": statistics.mean(best), "best_dev_sd": sd(best),
            "heldout": held, "heldout_mean": statistics.mean(held), "heldout_sd": sd(held),
            "best_epochs": [r["best_epoch"] for r in rows],
            "epochs_to_within_best": [r["epochs_to_within_best"] for r in rows],
            "epoch_seconds_median": statistics.median(s for r in rows
                                                      for s in r["work_seconds"])}


def in_progress(work: Path, remaining: list[str]) -> dict:
    """The epochs an unfinished run has checkpointed so far (it resumes after them)."""
    out = {}
    for name in remaining:
        path = work / name / "metrics.jsonl"
        if path.is_file():
            rows = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
            out[name] = {"dev_by_epoch": [r["dev_accuracy"] for r in rows],
                         "epoch_seconds": [r["seconds"] for r in rows]}
    return out


def qnli_progress() -> dict | None:
    """The QNLI runs finished so far while the part is under way (each arm's per-run log,
    or its result file once the arm is done), or None once it is all done
    (`paper_qnli.json`) or before it starts."""
    if (RESULTS / "paper_qnli.json").is_file():
        return None
    runs = []
    for arm in ARMS:
        done, log = RESULTS / f"paper_qnli_{arm}.json", qnli_log(arm)
        if done.is_file():
            runs += json.loads(done.read_text())["runs"]
        elif log.is_file():
            runs += [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
    if not runs and not any(qnli_log(arm).is_file() for arm in ARMS):
        return None
    keep = ("variant", "seed", "dev_by_epoch", "heldout_accuracy", "teacher_dev_accuracy",
            "finished")
    return {"runs": [{k: r.get(k) for k in keep} for r in runs],
            "planned": len(SEEDS) * len(ARMS)}


def report(args) -> int:
    from sage_rapids.artifacts import write_json

    path = RESULTS / "paper.json"
    d = json.loads(path.read_text())
    runs = runs_done()
    arms = {a: arm_summary([runs[(a, s)] for s in SEEDS if (a, s) in runs])
            for a in ARMS if any(k[0] == a for k in runs)}
    v = verdict(runs)
    remaining = [f"{a}-s{s}" for s in SEEDS for a in ARMS if (a, s) not in runs]
    d = {**d, "runs": [runs[k] for k in sorted(runs, key=lambda k: (k[1], k[0]))],
         "arms": arms, "verdict": v, "headline_arm": headline_arm(runs),
         "remaining": remaining, "in_progress": in_progress(Path(args.work), remaining),
         "qnli_progress": qnli_progress(), "qnli_verdict": qnli_verdict()}
    write_json(path, d)
    for a, s in arms.items():
        print(f"{a:<5} dev {s['best_dev_mean']:.4f} (seeds {s['best_dev']}), held-out "
              f"{s['heldout_mean']:.4f}, best epochs {s['best_epochs']}")
    print(json.dumps(v, indent=1))
    print(f"wrote {path}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["measure", "plan", "teacher", "run", "online",
                                         "export", "qnli", "schedule", "all", "report"])
    parser.add_argument("--work", default=str(WORK))
    parser.add_argument("--beside", default="nothing", help="what else ran on the machine")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--examples", type=int, default=1000, help="measure: examples")
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--force", action="store_true", help="plan: write it again")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from sage_rapids.progress import quiet_libraries

    quiet_libraries()
    threads(args.threads)
    steps = {"measure": measure, "plan": plan, "teacher": teacher, "run": run,
             "online": online,
             "export": export, "qnli": qnli, "schedule": schedule, "report": report}
    if args.step != "all":
        return steps[args.step](args)
    for step in ("run", "teacher", "online", "export", "qnli", "report"):
        if step_done(step):
            print(f"== {step}: done earlier, kept", flush=True)
            continue
        print(f"== {step}", flush=True)
        if steps[step](args):
            return 1
    return 0


def step_done(step: str) -> bool:
    """Whether `all` can skip `step`: its measurement is already in bench/results (the
    runs and QNLI resume by themselves; the export is redone if the headline arm moved)."""
    d = json.loads((RESULTS / "paper.json").read_text()) \
        if (RESULTS / "paper.json").is_file() else {}
    if step == "teacher":
        return "teacher" in d
    if step == "online":
        return (RESULTS / "paper_online.json").is_file()
    if step == "export":
        path = RESULTS / "paper_export.json"
        return path.is_file() and json.loads(path.read_text()).get("student") == \
            f"the study's {headline_arm(runs_done())} student, seed 0"
    return False


if __name__ == "__main__":
    sys.exit(main())
