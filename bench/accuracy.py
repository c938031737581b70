"""Does SAGE make a better student? `none`, `random` and `sage` side by side.

Same teacher (fine-tuned once), same student initialisation, same training file
and epochs; only `augment.strategy` and the seed change. SST-2 dev has 872
examples (one example is 0.11 points), so each exported student is also scored on
a held-out slice of SST-2 train that neither the teacher nor any student saw.

    python bench/accuracy.py                   # 8k train, 3 epochs, 3 seeds, 5k held out
    python bench/accuracy.py --quick           # minutes: 600 train, 2 epochs, 1 seed
    python bench/accuracy.py -o augment.ratio=0.5 -o augment.q=0.8   # try other settings
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from sage_rapids import artifacts, pipeline
from sage_rapids.backend import resolve_backend
from sage_rapids.config import load_config
from sage_rapids.data import TextDataset, glue_file, load_split, load_task, stratified_subset
from sage_rapids.evaluate import score_classifier
from sage_rapids.progress import quiet_libraries
from sage_rapids.teacher import finetune_teacher

STRATEGIES = ("none", "random", "sage")


def write_tsv(path: Path, ds: TextDataset) -> Path:
    rows = ["sentence\tlabel"] + [f"{t}\t{ds.label_names[y]}" for t, y in zip(ds.texts, ds.labels)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def split_files(base, n_train: int, n_held: int, folder: Path):
    """A fixed training file and a disjoint held-out file cut from SST-2 train."""
    full = load_split(base.data, "train")
    held = stratified_subset(full.labels, n_held, seed=12345)
    rest = np.setdiff1d(np.arange(len(full)), held)
    train = rest[stratified_subset(full.labels[rest], n_train, seed=0)]
    return (write_tsv(folder / "train.tsv", full.subset(train)),
            write_tsv(folder / "heldout.tsv", full.subset(held)), full.subset(held))


def summarise(runs: list[dict]) -> dict:
    out = {}
    for strategy in STRATEGIES:
        rs = [r for r in runs if r["strategy"] == strategy]
        if not rs:
            continue
        curves = np.array([r["dev_by_epoch"] for r in rs])  # (seeds, epochs)
        out[strategy] = {
            "dev_final_mean": float(curves[:, -1].mean()), "dev_final_std": float(curves[:, -1].std()),
            "dev_final_per_seed": curves[:, -1].tolist(),
            "dev_by_epoch_mean": curves.mean(0).tolist(),
            "heldout_mean": float(np.mean([r["heldout_accuracy"] for r in rs])),
            "heldout_std": float(np.std([r["heldout_accuracy"] for r in rs])),
            "heldout_per_seed": [r["heldout_accuracy"] for r in rs],
            "seconds_mean": float(np.mean([r["seconds"] for r in rs])),
        }
    if "none" in out:
        target = out["none"]["dev_final_mean"]
        for s in out.values():
            reached = [e + 1 for e, a in enumerate(s["dev_by_epoch_mean"]) if a >= target]
            s["first_epoch_reaching_none_final"] = reached[0] if reached else None
    return out


def print_tables(summary: dict, n_train: int, n_held: int, n_dev: int) -> None:
    print(f"\naccuracy by strategy ({n_train:,} train, dev {n_dev} examples, held-out "
          f"{n_held:,} examples of SST-2 train; mean ± std over seeds)")
    head = f"{'strategy':<9}{'dev final':>16}{'held-out':>16}{'reaches none@':>15}  per-seed dev / held-out"
    print(head)
    print("-" * len(head))
    for name, s in summary.items():
        seeds = ", ".join(f"{d:.4f}/{h:.4f}" for d, h in zip(s["dev_final_per_seed"],
                                                            s["heldout_per_seed"]))
        print(f"{name:<9}{s['dev_final_mean']:>9.4f} ± {s['dev_final_std']:.4f}"
              f"{s['heldout_mean']:>9.4f} ± {s['heldout_std']:.4f}"
              f"{str(s.get('first_epoch_reaching_none_final')):>15}  {seeds}")
    epochs = len(next(iter(summary.values()))["dev_by_epoch_mean"])
    print("\nmean dev accuracy per epoch")
    print(f"{'strategy':<9}" + "".join(f"{'epoch ' + str(e + 1):>10}" for e in range(epochs)))
    for name, s in summary.items():
        print(f"{name:<9}" + "".join(f"{a:>10.4f}" for a in s["dev_by_epoch_mean"]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--config", default=None, help="base config (default: embedded)")
    parser.add_argument("-o", "--override", dest="overrides", action="append", default=[])
    parser.add_argument("--seeds", default=None, help="comma-separated, default 0,1,2")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--train", type=int, default=None, help="training examples")
    parser.add_argument("--held-out", type=int, default=None, help="held-out examples (>= 5000)")
    parser.add_argument("--out", default="bench/results")
    parser.add_argument("--name", default=None, help="result file stem")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    quiet_libraries()
    quick = args.quick
    seeds = [int(s) for s in (args.seeds or ("0" if quick else "0,1,2")).split(",")]
    n_train = args.train or (600 if quick else 8000)
    n_held = args.held_out or (300 if quick else 5000)
    overrides = (["train.epochs=2"] if quick else []) + args.overrides
    base = load_config(args.config, overrides)
    backend = resolve_backend(args.device)
    work = Path(tempfile.mkdtemp(prefix="sage-accuracy-"))
    train_file, held_file, held = split_files(base, n_train, n_held, work)
    dev_file = str(glue_file("sst2", "dev", base.data))
    data = replace(base.data, name="local", train_file=str(train_file), dev_file=dev_file,
                   text_column="sentence", label_column="label", label_names=["0", "1"],
                   train_limit=None)
    task = load_task(data, 0)
    teacher_cfg = replace(base.teacher, finetune_limit=None)
    teacher_dir = finetune_teacher(teacher_cfg, data, task.train, backend, 0, True, print)
    teacher_cfg = replace(teacher_cfg, model=str(teacher_dir), finetune=False)
    runs = []
    for seed in seeds:
        for strategy in args.strategies.split(","):
            cfg = replace(base, seed=seed, data=data, teacher=teacher_cfg,
                          augment=replace(base.augment, strategy=strategy, plots=False))
            out = work / f"{strategy}-{seed}"
            t0 = time.perf_counter()
            summary = pipeline.run(cfg, backend, out, quiet=True, log=lambda m: None)
            rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
            heldout = score_classifier(out / "student", held, data.max_length, backend)
            runs.append({"strategy": strategy, "seed": seed,
                         "dev_by_epoch": [r["dev_accuracy"] for r in rows],
                         "best_epoch": summary["best_epoch"],
                         "heldout_accuracy": heldout["accuracy"],
                         "teacher_dev_accuracy": summary["teacher_dev_accuracy"],
                         "seconds": time.perf_counter() - t0})
            print(f"{strategy:<7} seed {seed}: dev {runs[-1]['dev_by_epoch']}, held-out "
                  f"{heldout['accuracy']:.4f}, {runs[-1]['seconds']:.0f} s", flush=True)
    summary = summarise(runs)
    print(f"\nteacher dev accuracy {runs[0]['teacher_dev_accuracy']:.4f}")
    print_tables(summary, n_train, n_held, len(task.dev))
    out = Path(args.out)
    name = args.name or ("accuracy_quick" if quick else "accuracy")
    artifacts.write_json(out / f"{name}.json", {
        "date": time.strftime("%Y-%m-%d"), "backend": backend.name, "train": n_train,
        "held_out": n_held, "seeds": seeds, "overrides": overrides,
        "teacher_dev_accuracy": runs[0]["teacher_dev_accuracy"], "runs": runs,
        "summary": summary})
    print(f"\nwrote {out / (name + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
