"""What one SAGE augmentation round costs next to a training epoch, by stage.

For each training-set size N: encode, teacher targets (once, reported apart), one
training epoch, then one round (reduce, anchors, neighbours, synthesize, label),
each stage timed by the same profiler the pipeline uses. Then a synthetic-size
sweep at one N. Prints tables, writes JSON to bench/results/, and plots round
seconds against N (the round should grow about linearly).

    python bench/overhead.py                # N = 2k, 8k, 67k (full SST-2), ratio sweep
    python bench/overhead.py --quick        # a minute: tiny sizes, untuned teacher
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from sage_rapids import artifacts
from sage_rapids.backend import resolve_backend
from sage_rapids.config import load_config
from sage_rapids.context import Context
from sage_rapids.data.tasks import load_task
from sage_rapids.distillation.models import build_student, input_embeddings
from sage_rapids.distillation.table import Examples, empty_pool, encode_dataset
from sage_rapids.distillation.targets import teacher_targets
from sage_rapids.distillation.train import Training, make_optimizer, planned_steps, train_epoch
from sage_rapids.profiling import AUGMENT_STAGES, Profiler, overheads
from sage_rapids.progress import quiet_libraries
from sage_rapids.run.preparation import load_teacher
from sage_rapids.sage.augment import augment_round, expected_synthetic
from sage_rapids.seeds import generator, seed_torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measured_default import SAGE_DEFAULT  # noqa: E402  (a sibling script)

STAGES = ("train", *AUGMENT_STAGES, "label")


def measure(config, backend, n: int | None, quiet: bool) -> dict:
    """One epoch and one round at training-set size n (None: the whole train split)."""
    config = replace(config, data=replace(config.data, train_limit=n))
    rng = generator(config.seed, "augment")
    task = load_task(config.data, config.seed)
    teacher, tokenizer, _ = load_teacher(config, task, Context(backend, quiet=quiet),
                                      log=lambda m: None)
    E = input_embeddings(teacher).detach()
    table, _ = encode_dataset(task.train, tokenizer, config.data.max_length, backend)
    t0 = time.perf_counter()
    targets = teacher_targets(teacher, table, E, backend, config.eval.batch_size, quiet=quiet)
    target_seconds = time.perf_counter() - t0
    table = table.with_targets(targets.logits)
    seed_torch(config.seed, "student_init")
    student = build_student(teacher, config.student, len(task.train.label_names))
    sizes = expected_synthetic(config.augment, len(table), 2)
    opt, sched = make_optimizer(student, config.train,
                                planned_steps(len(table), sizes, config.train.batch_size))
    profiler = Profiler(backend.synchronize)
    ctx = Context(backend, profiler, quiet=quiet)
    examples = Examples(table, empty_pool(backend), E)
    with profiler.stage("train"):
        result = train_epoch(Training(student, student, opt, sched, {"batches": rng}), examples,
                             config.loss, config.train, ctx, 1)
    round_, _ = augment_round(teacher, examples, result.profile,
                              replace(config.augment, plots=False), ctx, rng)
    seconds = profiler.totals()
    return {"n": len(table), "n_synthetic": len(round_.pool),
            "teacher_targets_seconds": target_seconds,
            "seconds": {s: seconds.get(s, 0.0) for s in STAGES},
            "round_seconds": sum(seconds.get(s, 0.0) for s in AUGMENT_STAGES),
            **overheads(seconds)}


def print_table(rows: list[dict], key: str) -> None:
    head = f"{key:>9}" + "".join(f"{s:>11}" for s in STAGES) + f"{'round':>9}{'aug %':>8}{'label %':>9}"
    print(head)
    print("-" * len(head))
    for r in rows:
        cells = "".join(f"{r['seconds'][s]:>11.2f}" for s in STAGES)
        print(f"{r[key]:>9}{cells}{r['round_seconds']:>9.2f}"
              f"{100 * r['augmentation_overhead']:>7.1f}%{100 * r['labelling_overhead']:>8.1f}%")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = np.array([r["n"] for r in rows])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(n, [r["round_seconds"] for r in rows], "o-", label="round (reduce..synthesize)")
    ax.plot(n, [r["seconds"]["label"] for r in rows], "s--", label="teacher labelling")
    ax.plot(n, [r["seconds"]["train"] / 10 for r in rows], "^:", label="training epoch / 10")
    ax.set_xlabel("training examples N")
    ax.set_ylabel("seconds")
    ax.set_title("Augmentation round cost against N")
    ax.legend()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, untuned teacher")
    parser.add_argument("--config", default=None, help="base config (default: embedded)")
    parser.add_argument("--sizes", default=None, help="comma-separated N; 0 = full train")
    parser.add_argument("--ratios", default=None, help="synthetic ratios for the sweep")
    parser.add_argument("--out", default="bench/results", help="folder for JSON and plot")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    quiet_libraries()
    overrides = ["teacher.finetune=false"] if args.quick else []
    config = load_config(args.config, SAGE_DEFAULT + overrides)
    backend = resolve_backend(args.device)
    sizes = [int(s) or None for s in (args.sizes or ("300,600" if args.quick else
                                                     "2000,8000,0")).split(",")]
    ratios = [float(r) for r in (args.ratios or ("0.1,0.5" if args.quick else
                                                 "0.1,0.2,0.5,1.0")).split(",")]
    quiet = not sys.stderr.isatty()
    by_n = [measure(config, backend, n, quiet) for n in sizes]
    cpu = platform.processor() or platform.machine()
    print(f"\nround cost by N (default config, {backend.name}, {cpu}, "
          f"{torch.get_num_threads()} threads)")
    print_table(by_n, "n")
    sweep_n = sizes[min(1, len(sizes) - 1)]
    sweep = []
    for ratio in ratios:
        cfg = replace(config, augment=replace(config.augment, ratio=ratio))
        sweep.append({"ratio": ratio, **measure(cfg, backend, sweep_n, quiet)})
    print(f"\nsynthetic-size sweep at N = {sweep[0]['n']}")
    print_table(sweep, "ratio")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "overhead_quick" if args.quick else "overhead"
    artifacts.write_json(out / f"{name}.json", {
        "date": time.strftime("%Y-%m-%d"), "backend": backend.name,
        "threads": torch.get_num_threads(), "by_n": by_n, "ratio_sweep": sweep})
    plot(by_n, out / f"{name}.png")
    print(f"\nwrote {out / (name + '.json')} and {out / (name + '.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
