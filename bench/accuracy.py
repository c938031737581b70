"""Does SAGE make a better student? `none`, `random` and `sage` side by side.

Same teacher (fine-tuned once), same student initialisation, same training file
and epochs; only the variant (by default `augment.strategy`) and the seed change.
Every variant starts from the embedded default with `measured_default.SAGE_DEFAULT`
(SAGE, 3 epochs, no early stopping), then the overrides, then the variant's own.
SST-2 dev has 872 examples (one example is 0.11 points), so each exported student
is also scored on a held-out slice of SST-2 train that neither the teacher nor any
student saw. `--task qnli` cuts everything from the QNLI dev split (5,463 sentence
pairs, the only QNLI split at hand): held-out slice, dev set, the teacher's and the
student's training files, disjoint but for the student's being the teacher's subset.

    python bench/accuracy.py                   # 8k train, 3 epochs, 3 seeds, 5k held out
    python bench/accuracy.py --quick           # minutes: 600 train, 2 epochs, 1 seed
    python bench/accuracy.py -o augment.ratio=0.5 -o augment.q=0.8   # try other settings
    python bench/accuracy.py --teacher-train 20000 --train 2000     # strong teacher, scarce data
    python bench/accuracy.py --variant "none: augment.strategy=none" \
        --variant "soft: augment.q=0 augment.anchor_power=2"           # any named variants
    python bench/accuracy.py --task qnli --teacher-train 3000 --train 1000 --dev 1000 \
        --held-out 1400 -o data.max_length=128                        # a sentence-pair task
"""

from __future__ import annotations

import argparse
import atexit
import json
import shlex
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from sage_rapids import artifacts
from sage_rapids.backend import resolve_backend
from sage_rapids.config import load_config
from sage_rapids.data.glue import glue_file
from sage_rapids.data.tasks import TextDataset, load_split, load_task, stratified_subset
from sage_rapids.distillation.evaluate import score_classifier
from sage_rapids.distillation.teacher import finetune_teacher
from sage_rapids.progress import quiet_libraries
from sage_rapids.run import pipeline
from sage_rapids.sage.reduce import UmapReducer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measured_default import SAGE_DEFAULT  # noqa: E402  (a sibling script)

STRATEGIES = ("none", "random", "sage")


def count(text: str) -> int:
    """A size argument: a positive number, or `all` (0: everything available)."""
    return 0 if text == "all" else int(text)


def parse_variant(text: str) -> tuple[str, list[str]]:
    """`"name: key=value key=value"` -> (name, overrides)."""
    name, sep, rest = text.partition(":")
    if not sep or not name.strip():
        raise SystemExit(f"--variant {text!r}: expected 'NAME: key=value ...'")
    return name.strip(), shlex.split(rest)


TASKS = {"sst2": "train", "qnli": "dev", "cola": "train", "mrpc": "train",
         "stsb": "train"}  # files cut from (STS-B's scores are cut by quantile bin)


def write_tsv(path: Path, ds: TextDataset) -> Path:
    """Columns `sentence` (and `pair`), `label` as the class index (or the score)."""
    columns = {"sentence": ds.texts, "pair": ds.pairs, "label": ds.labels}
    columns = {name: values for name, values in columns.items() if values is not None}
    lines = ["\t".join(columns)] + ["\t".join(map(str, row)) for row in zip(*columns.values())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def split_files(base, task: str, n_train: int, n_teacher: int, n_held: int,
                n_dev: int | None, folder: Path):
    """The student's training file, the teacher's training set (a superset of the
    student's), a disjoint held-out set and, for `qnli`, a disjoint dev file; all cut
    from one split of the task. The others keep their official dev split. A size of 0
    takes everything the held-out (and dev) slices leave."""
    full = load_split(base.data, TASKS[task])
    held = stratified_subset(full.labels, n_held, seed=12345)
    rest = np.setdiff1d(np.arange(len(full)), held)
    dev_file = glue_file(task, "dev", base.data)
    if task == "qnli":
        dev = rest[stratified_subset(full.labels[rest], n_dev or 1000, seed=54321)]
        rest = np.setdiff1d(rest, dev)
        dev_file = write_tsv(folder / "dev.tsv", full.subset(dev))
    elif task != "sst2":  # the official dev file, in the columns the others are written in
        dev_file = write_tsv(folder / "dev.tsv", load_split(base.data, "dev"))
    n_train, n_teacher = n_train or len(rest), n_teacher or len(rest)
    teacher = rest[stratified_subset(full.labels[rest], max(n_teacher, n_train), seed=0)]
    train = teacher[stratified_subset(full.labels[teacher], n_train, seed=0)]
    return (write_tsv(folder / "train.tsv", full.subset(train)), str(dev_file),
            full.subset(teacher), full.subset(held))


ROUND_FIELDS = ("n_made", "mean_kd_loss", "anchor_mean_loss", "overall_mean_loss",
                "anchor_teacher_wrong", "teacher_wrong", "anchor_neighbour_anchors",
                "partner_other_class")


def earlier_runs(result: Path, log: Path, n_train: int, n_teacher: int,
                 overrides: list[str]) -> list[dict]:
    """Runs of an earlier invocation with the same settings: its result file, then
    its crash log (a run in both counts once)."""
    runs = []
    if result.is_file():
        old = json.loads(result.read_text())
        if (old["train"], old["teacher_train"], old["overrides"]) != (n_train, n_teacher,
                                                                       overrides):
            raise SystemExit(f"--resume: {result} was made with other settings "
                             f"({old['train']}, {old['teacher_train']}, {old['overrides']})")
        runs = old["runs"]
    if log.is_file():
        runs += [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    unique = {(r["variant"], r["seed"]): r for r in runs}
    return list(unique.values())


def warm_up(configs: dict, backend) -> None:
    """Compile UMAP's kernels (numba) once before any run is timed, so the first
    augmented run does not pay for every other's."""
    augmented = [c for c in configs.values() if c.augment.strategy != "none"]
    if augmented:
        points = np.random.default_rng(0).normal(size=(300, 16)).astype(np.float32)
        UmapReducer(augmented[0].augment, backend).fit(points)


def round_fields(row: dict) -> dict:
    """The round's numbers of one metrics.jsonl row (empty after the last epoch)."""
    return {k: row[k] for k in ROUND_FIELDS if k in row}


def heldout_score(run: dict) -> float:
    """A run's held-out accuracy, or its primary metric where accuracy does not apply
    (a regression task's Pearson)."""
    return run["heldout_primary"] if run.get("heldout_accuracy") is None \
        else run["heldout_accuracy"]


def summarise(runs: list[dict]) -> dict:
    out = {}
    for name in dict.fromkeys(r["variant"] for r in runs):
        rs = [r for r in runs if r["variant"] == name]
        if not rs:
            continue
        final = np.array([r["dev_by_epoch"][-1] for r in rs])  # (seeds,)
        lengths = {len(r["dev_by_epoch"]) for r in rs}  # several when runs stopped early
        out[name] = {
            "dev_final_mean": float(final.mean()), "dev_final_std": float(final.std()),
            "dev_final_per_seed": final.tolist(),
            "dev_by_epoch_mean": np.mean([r["dev_by_epoch"] for r in rs], 0).tolist()
            if len(lengths) == 1 else None,
            "heldout_mean": float(np.mean([heldout_score(r) for r in rs])),
            "heldout_std": float(np.std([heldout_score(r) for r in rs])),
            "heldout_per_seed": [heldout_score(r) for r in rs],
            "seconds_mean": float(np.mean([r["seconds"] for r in rs])),
            "run_seconds_median": float(np.median([r.get("run_seconds", r["seconds"])
                                                   for r in rs])),
        }
    if "none" in out and out["none"]["dev_by_epoch_mean"] is not None:
        target = out["none"]["dev_final_mean"]
        for s in out.values():
            reached = [e + 1 for e, a in enumerate(s["dev_by_epoch_mean"] or []) if a >= target]
            s["first_epoch_reaching_none_final"] = reached[0] if reached else None
    return out


def print_tables(summary: dict, n_train: int, n_held: int, n_dev: int) -> None:
    print(f"\naccuracy by variant ({n_train:,} train, dev {n_dev} examples, held-out "
          f"{n_held:,} examples; mean ± std over seeds)")
    width = max(9, max(len(n) for n in summary) + 1)
    head = f"{'variant':<{width}}{'dev final':>16}{'held-out':>16}{'reaches none@':>15}  per-seed dev / held-out"
    print(head)
    print("-" * len(head))
    for name, s in summary.items():
        seeds = ", ".join(f"{d:.4f}/{h:.4f}" for d, h in zip(s["dev_final_per_seed"],
                                                            s["heldout_per_seed"]))
        print(f"{name:<{width}}{s['dev_final_mean']:>9.4f} ± {s['dev_final_std']:.4f}"
              f"{s['heldout_mean']:>9.4f} ± {s['heldout_std']:.4f}"
              f"{str(s.get('first_epoch_reaching_none_final')):>15}  {seeds}")
    curves = [s["dev_by_epoch_mean"] for s in summary.values()]
    if None in curves or len({len(c) for c in curves}) > 1:
        return  # runs that stopped early have curves of different lengths
    epochs = len(next(iter(summary.values()))["dev_by_epoch_mean"])
    print("\nmean dev accuracy per epoch")
    print(f"{'variant':<{width}}" + "".join(f"{'epoch ' + str(e + 1):>10}" for e in range(epochs)))
    for name, s in summary.items():
        print(f"{name:<{width}}" + "".join(f"{a:>10.4f}" for a in s["dev_by_epoch_mean"]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--config", default=None, help="base config (default: embedded)")
    parser.add_argument("-o", "--override", dest="overrides", action="append", default=[])
    parser.add_argument("--seeds", default=None, help="comma-separated, default 0,1,2")
    parser.add_argument("--strategies", default=",".join(STRATEGIES),
                        help="shorthand for one variant per augment.strategy")
    parser.add_argument("--variant", dest="variants", action="append", default=[],
                        help="'NAME: key=value ...' (repeatable); replaces --strategies")
    parser.add_argument("--train", type=count, default=None,
                        help="training examples ('all': what the held-out slice leaves)")
    parser.add_argument("--teacher-train", type=count, default=None,
                        help="teacher fine-tuning examples, a superset of the student's "
                             "(default: the student's)")
    parser.add_argument("--held-out", type=int, default=None, help="held-out examples (>= 5000)")
    parser.add_argument("--task", choices=sorted(TASKS), default="sst2")
    parser.add_argument("--dev", type=int, default=None,
                        help="dev examples cut from the source split (qnli; default 1000)")
    parser.add_argument("--out", default="bench/results")
    parser.add_argument("--name", default=None, help="result file stem")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--only", default=None,
                        help="comma-separated variant names to run this time (all: default)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs already in the result file (or its crash log) "
                             "and run only the (variant, seed) pairs missing")
    args = parser.parse_args(argv)
    quiet_libraries()
    quick = args.quick
    seeds = [int(s) for s in (args.seeds or ("0" if quick else "0,1,2")).split(",")]
    n_train = (600 if quick else 8000) if args.train is None else args.train
    n_held = args.held_out or (300 if quick else 5000)
    overrides = (["train.epochs=2"] if quick else []) + args.overrides
    variants = ([parse_variant(v) for v in args.variants] or
                [(s, [f"augment.strategy={s}"]) for s in args.strategies.split(",")])
    task_name = [f"data.name=glue/{args.task}"]  # the task's own checks (a score's metrics)
    base = load_config(args.config, SAGE_DEFAULT + overrides + task_name)
    configs = {name: load_config(args.config, SAGE_DEFAULT + overrides + task_name + extra)
               for name, extra in variants}
    backend = resolve_backend(args.device)
    work = Path(tempfile.mkdtemp(prefix="sage-accuracy-"))
    # removed however the script ends, a stopped run included (the pipeline turns SIGINT
    # and SIGTERM into an exception): the split files and a run's folder are ~0.2 GB
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    n_teacher = n_train if args.teacher_train is None else args.teacher_train
    train_file, dev_file, teacher_train, held = split_files(base, args.task, n_train, n_teacher,
                                                            n_held, args.dev, work)
    data = replace(base.data, name="local", train_file=str(train_file), dev_file=dev_file,
                   text_column="sentence", label_column="label",
                   text_pair_column="pair" if teacher_train.pairs is not None else None,
                   label_names=None if teacher_train.regression else
                   [str(i) for i in range(len(teacher_train.label_names))],
                   task_type="regression" if teacher_train.regression else None,
                   train_limit=None, dev_limit=None)  # SST-2's dev.tsv holds 0 / 1 as well
    task = load_task(data, 0)
    teacher_cfg = replace(base.teacher, finetune_limit=None)
    teacher_dir = finetune_teacher(teacher_cfg, data, teacher_train, backend, 0, True, print)
    teacher_cfg = replace(teacher_cfg, model=str(teacher_dir), finetune=False)
    name = args.name or ("accuracy_quick" if quick else "accuracy")
    log_path = Path(args.out) / f"{name}.runs.jsonl"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    runs = earlier_runs(Path(args.out) / f"{name}.json", log_path, n_train, n_teacher,
                        overrides) if args.resume else []
    log_path.write_text("".join(json.dumps(r) + "\n" for r in runs))
    done = {(r["variant"], r["seed"]) for r in runs}
    warm_up(configs, backend)
    for seed in seeds:
        for variant, vcfg in configs.items():
            if (variant, seed) in done or (args.only and variant not in args.only.split(",")):
                continue
            cfg = replace(vcfg, seed=seed, data=data, teacher=teacher_cfg,
                          augment=replace(vcfg.augment, plots=False))
            out = work / f"{variant}-{seed}"
            t0 = time.perf_counter()
            summary = pipeline.run(cfg, backend, out, quiet=True, log=lambda m: None)
            run_seconds = time.perf_counter() - t0  # the run alone, held-out scoring apart
            rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
            primary = summary["primary_metric"]
            asked = [primary] if task.regression else [primary, "accuracy"]
            heldout = score_classifier(out / "student", held, data.max_length, backend,
                                       metrics=list(dict.fromkeys(asked)))
            shutil.rmtree(out)  # checkpoints and the exported student: ~0.2 GB a run
            runs.append({"variant": variant, "strategy": cfg.augment.strategy, "seed": seed,
                         "dev_by_epoch": [r[f"dev_{primary}"] for r in rows],
                         "primary_metric": primary,
                         "best_epoch": summary["best_epoch"],
                         "stopped_epoch": summary["stopped_epoch"],
                         "stop_reason": summary["stop_reason"],
                         "heldout_accuracy": heldout.get("accuracy"),
                         "heldout_primary": heldout[primary],
                         "train_examples": summary["train_examples"],
                         "teacher_dev_accuracy": summary.get("teacher_dev_accuracy"),
                         f"teacher_dev_{primary}": summary[f"teacher_dev_{primary}"],
                         "run_seconds": run_seconds,
                         "epoch_seconds": [r["seconds"] for r in rows],
                         "rounds": [round_fields(r) for r in rows],
                         "seconds": time.perf_counter() - t0,
                         # when it ended (UTC): what ran beside a run can be told later
                         "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
            artifacts.append_jsonl(log_path, runs[-1])
            print(f"{variant:<7} seed {seed}: dev {runs[-1]['dev_by_epoch']}, held-out "
                  f"{heldout_score(runs[-1]):.4f}, {runs[-1]['seconds']:.0f} s", flush=True)
    summary = summarise(runs)
    primary = runs[0]["primary_metric"]
    print(f"\nteacher dev {primary} {runs[0][f'teacher_dev_{primary}']:.4f}")
    print_tables(summary, n_train, n_held, len(task.dev))
    out = Path(args.out)
    artifacts.write_json(out / f"{name}.json", {
        "date": time.strftime("%Y-%m-%d"), "backend": backend.name, "task": args.task,
        "dev": len(task.dev), "train": n_train,
        "teacher_train": n_teacher, "held_out": n_held, "seeds": sorted({r["seed"] for r in runs}),
        "overrides": overrides, "variants": dict(variants),
        "teacher_dev_accuracy": runs[0]["teacher_dev_accuracy"],
        f"teacher_dev_{primary}": runs[0][f"teacher_dev_{primary}"], "runs": runs,
        "summary": summary})
    log_path.unlink()  # the per-run log only guards against a crash part-way
    print(f"\nwrote {out / (name + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
