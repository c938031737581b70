"""Bytes held per real and per synthetic example during training, measured from
the arrays themselves (`nbytes`), next to what materialised vectors would cost.

    python bench/memory.py            # the embedded default's 8k SST-2 table
    python bench/memory.py --quick
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from sage_rapids import artifacts
from sage_rapids.augment import synthetic_budget
from sage_rapids.backend import resolve_backend
from sage_rapids.config import load_config
from sage_rapids.data import load_task
from sage_rapids.models import load_classifier, input_embeddings
from sage_rapids.progress import quiet_libraries
from sage_rapids.regions import nearest_neighbours, select_anchors
from sage_rapids.synthesize import synthesize_recipes
from sage_rapids.table import SyntheticPool, encode_dataset


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--config", default=None)
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args(argv)
    quiet_libraries()
    config = load_config(args.config, ["data.train_limit=500"] if args.quick else [])
    backend = resolve_backend("cpu")
    task = load_task(config.data, config.seed)
    model, tokenizer = load_classifier("minilm-l6" if config.teacher.finetune else
                                       config.teacher.model)
    table, _ = encode_dataset(task.train, tokenizer, config.data.max_length, backend)
    n, classes = len(table), len(task.train.label_names)
    table = table.with_targets(np.zeros((n, classes), np.float32))  # (n, C) like stage 1
    arrays = {"ids": table.ids, "type_ids": table.type_ids, "lengths": table.lengths,
              "labels": table.labels, "teacher_logits": table.teacher_logits}
    real = {k: (v.nbytes / n if v is not None else 0.0) for k, v in arrays.items()}
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(n, 2)).astype(np.float32)
    anchors = select_anchors(rng.gamma(1.0, size=n), config.augment.q, "sage", rng)
    neighbours = nearest_neighbours(coords, anchors.index, config.augment.k, backend)
    synthetic = {}
    for kind in ("pair", "barycentric"):
        r = synthesize_recipes(anchors, neighbours, synthetic_budget(config.augment, n),
                               config.augment.lam_max, kind, rng)
        pool = SyntheticPool(r.sources, r.weights, np.zeros((len(r.sources), classes), np.float32))
        synthetic[kind] = {"bytes": pool.nbytes_per_example(),
                           "bytes_without_logits": (pool.sources.nbytes + pool.weights.nbytes)
                           / len(pool)}
    hidden = input_embeddings(model).shape[1]
    mean_len = float(table.host_lengths.mean())
    result = {"date": time.strftime("%Y-%m-%d"), "n_real": n, "classes": classes,
              "real_bytes_by_array": real, "real_bytes": sum(real.values()),
              "padded_width": int(table.ids.shape[1]), "mean_tokens": mean_len,
              "synthetic": synthetic,
              "materialised_vector_bytes_mean": mean_len * hidden * 4}
    print(f"bytes per example, measured from the arrays ({n:,} SST-2 examples, {classes} classes)")
    print(f"  real      : {result['real_bytes']:.1f}  (" + ", ".join(
        f"{k} {v:.1f}" for k, v in real.items()) + f"; ids padded to {result['padded_width']})")
    for kind, s in synthetic.items():
        print(f"  synthetic : {s['bytes']:.1f}  ({kind} recipe {s['bytes_without_logits']:.0f} + "
              f"logits {4 * classes})")
    print(f"  for scale : one materialised example, {mean_len:.1f} tokens x {hidden} x fp32 = "
          f"{result['materialised_vector_bytes_mean']:,.0f} bytes")
    name = "memory_quick" if args.quick else "memory"
    artifacts.write_json(Path(args.out) / f"{name}.json", result)
    print(f"wrote {Path(args.out) / (name + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
