"""The embedded default as `make run` runs it, against other arms of the same config,
over paired seeds. Each `--against` is one arm: overrides separated by spaces. With none
given, the arm is `none` when the default augments and `sage` (the method at its own
defaults) when the default does not.

The first seed's default run starts from an empty cache (teacher fine-tuning and the
first compile of umap-learn's kernels included) and is timed as `make run` is; every
later run finds that seed's teacher cached. Each seed fine-tunes its own teacher (the
seed picks the teacher's subset and head), shared by every run of that seed.

    python bench/default_run.py                    # seeds 0,1,2: bench/results/default_run.json
    python bench/default_run.py --seeds 0          # one seed
    python bench/default_run.py --against augment.strategy=random
    python bench/default_run.py --time-only        # the empty-cache run again, alone
    python bench/default_run.py --seeds 1,2 --add  # more seeds into the same file
    python bench/default_run.py --against augment.strategy=sage \
        --against "train.epochs=3 train.early_stopping=null"   # two arms, one default run
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent / "sage-rapids"


def run(out: Path, cache: Path, overrides: list[str]) -> dict:
    args = [str(BIN), "run", "--out", str(out), "--quiet"]
    for item in overrides:
        args += ["-o", item]
    env = {**os.environ, "SAGE_CACHE_DIR": str(cache)}
    env.pop("NUMBA_CACHE_DIR", None)  # under the empty cache too
    t0 = time.perf_counter()
    subprocess.run(args, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    return {"wall_seconds": wall, "summary": json.loads((out / "summary.json").read_text()),
            "dev_by_epoch": [r["dev_accuracy"] for r in rows]}


def score(r: dict) -> str:
    return f"{r['summary']['student_dev_accuracy']:.4f} ({r['wall_seconds']:.0f} s)"


def paired(diffs: list[float]) -> dict:
    """Mean and standard error of seed-paired differences (points)."""
    n = len(diffs)
    mean = sum(diffs) / n
    se = math.sqrt(sum((x - mean) ** 2 for x in diffs) / (n - 1) / n) if n > 1 else None
    return {"n": n, "mean": mean, "se": se, "diffs": diffs}


def time_only(path: Path, seed: int, beside: str | None) -> None:
    """The default once more from an empty cache, for seconds taken with the machine as
    `beside` says; the paired runs of the file stay as they were."""
    from sage_rapids import artifacts

    result = json.loads(path.read_text())
    with tempfile.TemporaryDirectory(prefix="sage-default-") as work:
        r = run(Path(work) / "default", Path(work) / "cache", [f"seed={seed}"])
    result["empty_cache_seconds"] = r["wall_seconds"]
    result["empty_cache_run"] = {"date": time.strftime("%Y-%m-%d"), "seed": seed,
                                 "beside": beside, "dev_by_epoch": r["dev_by_epoch"]}
    print(f"empty cache, seed {seed}: {score(r)}")
    artifacts.write_json(path, result)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--time-only", action="store_true",
                        help="run the default once from an empty cache (the first seed) and "
                             "record its seconds in the existing default_run.json")
    parser.add_argument("--add", action="store_true",
                        help="add these seeds' pairs to the existing default_run.json (same "
                             "default and arms); its empty-cache time stays")
    parser.add_argument("--beside", default=None,
                        help="what else ran on the machine, recorded with the seconds")
    parser.add_argument("--against", action="append", default=None,
                        help="one arm: overrides separated by spaces; repeat for more arms "
                             "(default: augment.strategy=none, or augment.strategy=sage when "
                             "the default is none)")
    args = parser.parse_args(argv)
    from sage_rapids import artifacts
    from sage_rapids.config import load_config

    config = load_config(None)
    arms = [a.split() for a in args.against or ["augment.strategy=sage"
            if config.augment.strategy == "none" else "augment.strategy=none"]]
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.time_only:
        return time_only(Path(args.out) / "default_run.json", seeds[0], args.beside)
    path = Path(args.out) / "default_run.json"
    before = json.loads(path.read_text()) if args.add else None
    if before and (before["arms"], before["strategy"], before["epochs"]) != (
            arms, config.augment.strategy, config.train.epochs):
        raise SystemExit(f"--add: {path} measured another default or other arms")
    pairs = [p for p in before["pairs"] if p["seed"] not in seeds] if before else []
    with tempfile.TemporaryDirectory(prefix="sage-default-") as work:
        work = Path(work)
        for seed in seeds:
            default = run(work / f"default-{seed}", work / "cache", [f"seed={seed}"])
            others = [run(work / f"arm{i}-{seed}", work / "cache", [f"seed={seed}", *arm])
                      for i, arm in enumerate(arms)]
            pairs.append({"seed": seed, "default": default, "against": others})
            print(f"seed {seed}: default {score(default)} "
                  + ", ".join(f"{' '.join(arm)} {score(r)}" for arm, r in zip(arms, others)),
                  flush=True)
    diffs = [paired([100 * (p["default"]["summary"]["student_dev_accuracy"]
                            - p["against"][i]["summary"]["student_dev_accuracy"])
                     for p in pairs]) for i in range(len(arms))]
    empty = before["empty_cache_seconds"] if before else pairs[0]["default"]["wall_seconds"]
    beside = "; ".join(filter(None, [(before or {}).get("beside"), args.beside])) or None
    result = {"command": "sage-rapids run", "machine": f"{os.cpu_count()}-core CPU machine",
              "date": time.strftime("%Y-%m-%d"), "strategy": config.augment.strategy,
              "early_stopping": config.train.early_stopping, "epochs": config.train.epochs,
              "teacher_examples": config.teacher.finetune_limit,
              "empty_cache_seconds": empty, "beside": beside, "arms": arms, "pairs": pairs,
              "default_minus_against": diffs}
    for arm, d in zip(arms, diffs):
        print(f"default - ({' '.join(arm)}): {d['mean']:+.2f} points"
              + (f" ± {d['se']:.2f} (standard error, {d['n']} seeds)" if d["se"] else ""))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    artifacts.write_json(path, result)


if __name__ == "__main__":
    main()
