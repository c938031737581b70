"""The embedded default as `make run` runs it, from an empty cache (teacher fine-tuning
and the first compile of umap-learn's kernels included), timed; then the same config
with `augment.strategy=none` (cache warm) beside it.

    python bench/default_run.py            # writes bench/results/default_run.json
"""

from __future__ import annotations

import argparse
import json
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)
    from sage_rapids.config import load_config

    config = load_config(None)
    with tempfile.TemporaryDirectory(prefix="sage-default-") as work:
        work = Path(work)
        sage = run(work / "sage", work / "cache", [])
        none = run(work / "none", work / "cache", ["augment.strategy=none"])
    result = {"command": "sage-rapids run", "machine": f"{os.cpu_count()}-core CPU machine",
              "date": time.strftime("%Y-%m-%d"),
              "teacher_examples": config.teacher.finetune_limit, **sage,
              "none": none}
    s, n = sage["summary"], none["summary"]
    print(f"default (sage): teacher {s['teacher_dev_accuracy']:.4f}, student "
          f"{s['student_dev_accuracy']:.4f}, {sage['wall_seconds']:.0f} s from an empty cache")
    print(f"same with none: student {n['student_dev_accuracy']:.4f}, "
          f"{none['wall_seconds']:.0f} s (cache warm)")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "default_run.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
