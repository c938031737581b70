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


# What a pair's difference is taken of, and its scale (accuracy in points).
MEASURES = {"dev": (lambda r: r["dev_by_epoch"][-1], 100.0),
            "heldout": (lambda r: r["heldout_accuracy"], 100.0)}


def paired_runs(runs: list[dict], a: str, b: str, measures: dict = MEASURES) -> dict | None:
    """`a - b` over every seed where both variants ran: mean and standard error of each
    measure, or None with fewer than two pairs. A run's seed may be any hashable key."""
    by = {(r.get("variant", r.get("strategy")), r["seed"]): r for r in runs}
    pairs = [(ra, by[(b, seed)]) for (name, seed), ra in by.items()
             if name == a and (b, seed) in by]
    if len(pairs) < 2:
        return None
    out = {"n": len(pairs)}
    for key, (get, scale) in measures.items():
        x = np.array([scale * (get(ra) - get(rb)) for ra, rb in pairs])
        out[key] = {"mean": float(x.mean()), "se": float(x.std(ddof=1) / math.sqrt(len(x)))}
    return out


def fmt(row: dict | None, key: str) -> str:
    """A paired difference as `+mean ± se`, or `-` where there is none."""
    return "-" if row is None else f"{row[key]['mean']:+.2f} ± {row[key]['se']:.2f}"


def paired(files: list[Path], a: str, b: str) -> dict | None:
    """Differences `a - b` (points) over every (file, seed) with both variants."""
    runs = [dict(r, seed=(i, r["seed"])) for i, path in enumerate(files)
            for r in json.loads(path.read_text())["runs"]]
    row = paired_runs(runs, a, b)
    return None if row is None else {"pair": f"{a}-{b}", **row}


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
