"""Teacher fine-tuning recipes side by side: dev accuracy of the teacher per recipe and
seed, and seconds of fine-tuning, on the embedded default's teacher settings (MiniLM,
8,000 SST-2 examples, batch 32, max length 64, one epoch = 250 steps).

Each recipe is a set of `teacher.*` overrides, run through `sage-rapids teacher` with a
fresh cache, so every fine-tune is timed from scratch; seeds are paired across recipes.

    python bench/teacher_recipe.py                  # 4 recipes x 3 seeds
    python bench/teacher_recipe.py --quick          # 2 recipes x 1 seed, 400 examples
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent / "sage-rapids"

RECIPES = {
    "linear 5e-5 (old default)": ["teacher.finetune_schedule=linear",
                                  "teacher.finetune_lr=5e-5",
                                  "teacher.finetune_max_grad_norm=1.0"],
    "linear 1e-4": ["teacher.finetune_schedule=linear", "teacher.finetune_lr=1e-4",
                    "teacher.finetune_max_grad_norm=1.0"],
    "constant 5e-5, no clip": ["teacher.finetune_schedule=constant",
                               "teacher.finetune_lr=5e-5",
                               "teacher.finetune_max_grad_norm=null"],
    "constant 1e-4, no clip": ["teacher.finetune_schedule=constant",
                               "teacher.finetune_lr=1e-4",
                               "teacher.finetune_max_grad_norm=null"],
}


def fine_tune(overrides: list[str], seed: int, extra: list[str]) -> tuple[float, float]:
    """(dev accuracy, seconds) of one fine-tune from scratch."""
    with tempfile.TemporaryDirectory(prefix="sage-teacher-") as cache:
        args = [str(BIN), "teacher", "--quiet", "-o", f"seed={seed}",
                "-o", f"teacher.cache_dir={cache}"]
        for item in overrides + extra:
            args += ["-o", item]
        t0 = time.perf_counter()
        proc = subprocess.run(args, check=True, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
    accuracy = float(re.search(r"dev accuracy: ([0-9.]+)", proc.stdout).group(1))
    return accuracy, seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)
    seeds = list(range(args.seeds or (1 if args.quick else 3)))
    recipes = dict(list(RECIPES.items())[:2]) if args.quick else RECIPES
    extra = (["teacher.finetune_limit=400", "data.dev_limit=200"] if args.quick
             else ["teacher.finetune_limit=8000"])  # the old default's 8,000 examples
    rows = {name: [] for name in recipes}
    for seed in seeds:  # interleaved: drift over the session hits every recipe alike
        for name, overrides in recipes.items():
            accuracy, seconds = fine_tune(overrides, seed, extra)
            rows[name].append({"seed": seed, "dev_accuracy": accuracy, "seconds": seconds})
            print(f"  {name:<28} seed {seed}: {accuracy:.4f} in {seconds:.0f} s", flush=True)
    base = [r["dev_accuracy"] for r in rows[next(iter(recipes))]]
    print(f"\nteacher dev accuracy by recipe ({len(seeds)} seeds, paired; SST-2 dev)")
    print(f"{'recipe':<28} {'mean':>7} {'min':>7} {'max':>7} {'vs old':>8} {'median s':>9}")
    table = []
    for name, runs in rows.items():
        acc = [r["dev_accuracy"] for r in runs]
        diff = statistics.mean(a - b for a, b in zip(acc, base))
        median_s = statistics.median(r["seconds"] for r in runs)
        table.append({"recipe": name, "overrides": recipes[name], "runs": runs,
                      "mean_dev_accuracy": statistics.mean(acc), "min": min(acc),
                      "max": max(acc), "paired_difference_vs_old": diff,
                      "median_seconds": median_s})
        print(f"{name:<28} {statistics.mean(acc):>7.4f} {min(acc):>7.4f} {max(acc):>7.4f} "
              f"{diff:>+8.4f} {median_s:>9.0f}")
    result = {"machine": f"{os.cpu_count()} CPU cores", "seeds": seeds, "extra": extra,
              "recipes": table}
    name = "teacher_recipe_quick.json" if args.quick else "teacher_recipe.json"
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / name).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
