"""Training throughput with `run --nproc 1` and `--nproc 2` (gloo, one thread per process),
side by side on the same config: examples trained per second of the `train` stage.

    python bench/scaling.py                      # the embedded default, 2 epochs
    python bench/scaling.py --quick              # 1,000 examples, 2 epochs
    python bench/scaling.py -o train.epochs=3    # any override
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent / "sage-rapids"

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measured_default import SAGE_DEFAULT  # noqa: E402  (a sibling script)


def measure(nproc: int, overrides: list[str], work: Path) -> dict:
    out = work / f"nproc{nproc}"
    args = [str(BIN), "run", "--nproc", str(nproc), "--out", str(out), "--quiet"]
    for item in overrides:
        args += ["-o", item]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread per process, both ways
    t0 = time.perf_counter()
    subprocess.run(args, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    summary = json.loads((out / "summary.json").read_text())
    train_seconds = sum(r["stage_seconds"]["train"] for r in rows)
    examples = sum(summary["train_examples"] + r["n_synthetic"] for r in rows)
    return {"nproc": nproc, "train_seconds": train_seconds, "examples": examples,
            "examples_per_second": examples / train_seconds, "wall_seconds": wall,
            "epoch_train_seconds": [r["stage_seconds"]["train"] for r in rows],
            "student_dev_accuracy": summary["student_dev_accuracy"]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("-o", dest="overrides", action="append", default=[])
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)
    overrides = SAGE_DEFAULT + ["train.epochs=2"]
    overrides += ["data.train_limit=1000"] if args.quick else []
    overrides += args.overrides
    work = Path(tempfile.mkdtemp(prefix="sage-scaling-"))
    try:
        measure(1, overrides + ["train.epochs=1", "data.train_limit=64"], work / "warm")
        rows = [measure(n, overrides, work) for n in (1, 2)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    speedup = rows[1]["examples_per_second"] / rows[0]["examples_per_second"]
    print(f"{'nproc':>5} {'train s':>9} {'examples':>9} {'examples/s':>11} {'wall s':>8} "
          f"{'dev acc':>8}")
    for r in rows:
        print(f"{r['nproc']:>5} {r['train_seconds']:>9.1f} {r['examples']:>9} "
              f"{r['examples_per_second']:>11.1f} {r['wall_seconds']:>8.1f} "
              f"{r['student_dev_accuracy']:>8.4f}")
    print(f"speed-up of 2 processes over 1: {speedup:.2f}x (target >= 1.7x)")
    result = {"overrides": overrides, "machine": f"{os.cpu_count()} CPU cores",
              "threads_per_process": 1, "runs": rows, "speedup": speedup}
    name = "scaling_quick.json" if args.quick else "scaling.json"
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / name).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
