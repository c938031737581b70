"""Seed-paired differences between variants, pooled over accuracy result files.

Two variants trained with the same seed in the same file share the student's
initialisation, the first epoch and the data order, so their difference is far less
noisy than the difference of two means. Each pair `A - B` is reported as the mean
difference over every (file, seed) where both ran, with its standard error, on dev
and on the held-out slice, in accuracy points.

    python bench/compare.py bench/results/accuracy*.json
    python bench/compare.py bench/results/search_h200/*.json --pairs sage-random,sage-none
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

DEFAULT_PAIRS = "sage-none,random-none,sage-random,soft2-sage,soft2-random"


def paired(files: list[Path], a: str, b: str) -> dict | None:
    """Differences `a - b` (points) over every (file, seed) with both variants."""
    dev, held = [], []
    for path in files:
        runs = json.loads(path.read_text())["runs"]
        by = {(r.get("variant", r.get("strategy")), r["seed"]): r for r in runs}
        for (name, seed), ra in by.items():
            rb = by.get((b, seed))
            if name != a or rb is None:
                continue
            dev.append(100 * (ra["dev_by_epoch"][-1] - rb["dev_by_epoch"][-1]))
            held.append(100 * (ra["heldout_accuracy"] - rb["heldout_accuracy"]))
    if len(dev) < 2:
        return None

    def stats(x):
        x = np.asarray(x)
        return {"mean": float(x.mean()), "se": float(x.std(ddof=1) / math.sqrt(len(x)))}

    return {"pair": f"{a}-{b}", "n": len(dev), "dev": stats(dev), "heldout": stats(held)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--pairs", default=DEFAULT_PAIRS, help="comma-separated A-B")
    parser.add_argument("--json", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        print(f"error: no such result file: {', '.join(missing)}", file=sys.stderr)
        return 2
    rows = []
    for pair in args.pairs.split(","):
        a, sep, b = pair.partition("-")
        if not sep:
            print(f"error: --pairs {pair!r}: expected A-B", file=sys.stderr)
            return 2
        row = paired(args.files, a, b)
        if row is not None:
            rows.append(row)
    print(f"seed-paired differences, accuracy points, over {len(args.files)} file(s): "
          "mean ± standard error")
    print(f"{'pair':<16}{'pairs':>6}{'dev final':>18}{'held-out':>18}")
    for r in rows:
        print(f"{r['pair']:<16}{r['n']:>6}{r['dev']['mean']:>+11.2f} ± {r['dev']['se']:.2f}"
              f"{r['heldout']['mean']:>+11.2f} ± {r['heldout']['se']:.2f}")
    if args.json:
        from sage_rapids import artifacts

        artifacts.write_json(args.json, {"files": [str(f) for f in args.files], "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
