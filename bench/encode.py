"""Encode throughput: `sage-rapids encode` of SST-2 training rows with the embedded
default's teacher, on a dask LocalCluster of 1 and of 2 workers (one thread each), and
one worker with every core, side by side. Two figures, medians of the repeats: examples
per second of the encoding phase (cluster start, worker start-up, reading, tokenizing,
labelling, writing shards: what `encode` reports), and of the whole command (plus the
process start and the driver's teacher check).

    python bench/encode.py                 # 16,000 rows, 3 repeats
    python bench/encode.py --quick         # 2,000 rows, 1 repeat
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent / "sage-rapids"


def corpus(rows: int, folder: Path) -> Path:
    """The first `rows` rows of SST-2's train.tsv (`$SAGE_DATA_DIR/glue/sst2`)."""
    source = Path(os.environ["SAGE_DATA_DIR"]) / "glue" / "sst2" / "train.tsv"
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)[: rows + 1]
    path = folder / "train.tsv"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def measure(path: Path, rows: int, workers: int, threads: int | None,
            work: Path) -> tuple[float, float]:
    """(seconds of the whole command, seconds of its encoding phase)."""
    out = work / f"enc-{workers}-{threads}-{time.monotonic_ns()}"
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    else:
        env.pop("OMP_NUM_THREADS", None)
    args = [str(BIN), "encode", str(path), "--out", str(out), "--workers", str(workers),
            "--rows-per-part", str(max(1, rows // 8))]  # its log line has the timing
    t0 = time.perf_counter()
    proc = subprocess.run(args, check=True, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rows"] == rows
    shutil.rmtree(out)
    phase = re.search(r"examples encoded in ([0-9.]+) s", proc.stderr)
    return seconds, float(phase.group(1))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)
    rows = args.rows or (2_000 if args.quick else 16_000)
    repeats = args.repeats or (1 if args.quick else 3)
    cores = os.cpu_count() or 1
    work = Path(tempfile.mkdtemp(prefix="sage-encode-"))
    setups = [(1, 1), (2, 1), (1, cores)]  # (workers, threads per worker)
    try:
        path = corpus(rows, work)
        subprocess.run([str(BIN), "teacher", "--quiet"], check=True)  # cached before timing
        times = {s: [] for s in setups}
        for _ in range(repeats):  # interleaved, so drift hits every setup alike
            for workers, threads in setups:
                times[(workers, threads)].append(measure(path, rows, workers, threads, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table = []
    for (workers, threads), values in times.items():
        whole = statistics.median(v[0] for v in values)
        phase = statistics.median(v[1] for v in values)
        table.append({"workers": workers, "threads_per_worker": threads,
                      "command_seconds": [v[0] for v in values],
                      "encode_seconds": [v[1] for v in values],
                      "examples_per_second": rows / phase,
                      "command_examples_per_second": rows / whole})
    base = table[0]["examples_per_second"]
    print(f"encode of {rows:,} SST-2 rows, median of {repeats}")
    print(f"{'workers':>7} {'threads':>7} {'encode s':>9} {'examples/s':>11} {'vs 1x1':>7} "
          f"{'command s':>10} {'examples/s':>11}")
    for row in table:
        print(f"{row['workers']:>7} {row['threads_per_worker']:>7} "
              f"{rows / row['examples_per_second']:>9.1f} {row['examples_per_second']:>11.1f} "
              f"{row['examples_per_second'] / base:>6.2f}x "
              f"{rows / row['command_examples_per_second']:>10.1f} "
              f"{row['command_examples_per_second']:>11.1f}")
    speedup = table[1]["examples_per_second"] / base
    print(f"2 workers over 1 (one thread each): {speedup:.2f}x (target >= 1.7x)")
    result = {"rows": rows, "repeats": repeats, "machine": f"{cores} CPU cores",
              "runs": table, "speedup_2_workers": speedup}
    name = "encode_quick.json" if args.quick else "encode.json"
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / name).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
