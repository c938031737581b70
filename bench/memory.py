"""Bytes held per real and per synthetic example during training, measured from
the arrays themselves (`nbytes`), next to what materialised vectors would cost.

Real examples are stored ragged (flat token ids plus offsets); the padded layout they
replaced (every example as long as the longest) is computed beside it, on the embedded
default's SST-2 training table and on QNLI's sentence pairs (long texts, max length 256).

    python bench/memory.py            # 8k SST-2 table, QNLI dev as the long-text task
    python bench/memory.py --quick
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from sage_rapids import artifacts
from sage_rapids.backend import resolve_backend
from sage_rapids.config import load_config
from sage_rapids.data.tasks import load_task
from sage_rapids.distillation.models import input_embeddings, load_classifier
from sage_rapids.distillation.table import SyntheticPool, encode_dataset
from sage_rapids.progress import quiet_libraries
from sage_rapids.sage.augment import synthetic_budget
from sage_rapids.sage.regions import nearest_neighbours, select_anchors
from sage_rapids.sage.synthesize import synthesize_recipes


def real_bytes(table) -> dict[str, float]:
    """Bytes per example of each array of a real-example table, from `nbytes`."""
    arrays = {"ids": table.ids, "offsets": table.offsets, "type_ids": table.type_ids,
              "lengths": table.lengths, "labels": table.labels,
              "teacher_logits": table.teacher_logits}
    return {k: (v.nbytes / len(table) if v is not None else 0.0) for k, v in arrays.items()}


def layout_row(table, real: dict[str, float]) -> dict:
    """The ragged table's bytes per example beside the padded layout it replaced: ids
    (int32) and segment ids (int8) as wide as the longest example, plus the same
    lengths, labels and logits."""
    width = int(table.host_lengths.max())
    per_token = 4 + (1 if table.type_ids is not None else 0)
    rest = real["lengths"] + real["labels"] + real["teacher_logits"]
    return {"examples": len(table), "mean_tokens": float(table.host_lengths.mean()),
            "longest": width, "padded_bytes": width * per_token + rest,
            "ragged_bytes": sum(real.values())}


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
    real = real_bytes(table)
    layouts = {"sst2_train": layout_row(table, real)}
    qnli = load_config(args.config, ["data.name=glue/qnli", "data.train_from_dev_split=0.5",
                                     "data.max_length=256"]
                       + (["data.train_limit=500"] if args.quick else []))
    try:
        long_task = load_task(qnli.data, qnli.seed)
    except Exception as err:  # no local QNLI copy: report SST-2 alone
        print(f"QNLI skipped: {err}")
    else:
        long_table, _ = encode_dataset(long_task.train, tokenizer, 256, backend)
        long_table = long_table.with_targets(np.zeros((len(long_table), 2), np.float32))
        layouts["qnli_pairs"] = layout_row(long_table, real_bytes(long_table))
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
              "padded_width": int(table.host_lengths.max()), "mean_tokens": mean_len,
              "layouts": layouts,
              "synthetic": synthetic,
              "materialised_vector_bytes_mean": mean_len * hidden * 4}
    print(f"bytes per example, measured from the arrays ({n:,} SST-2 examples, {classes} classes)")
    print(f"  real      : {result['real_bytes']:.1f}  (" + ", ".join(
        f"{k} {v:.1f}" for k, v in real.items()) + ")")
    for kind, s in synthetic.items():
        print(f"  synthetic : {s['bytes']:.1f}  ({kind} recipe {s['bytes_without_logits']:.0f} + "
              f"logits {4 * classes})")
    print(f"  for scale : one materialised example, {mean_len:.1f} tokens x {hidden} x fp32 = "
          f"{result['materialised_vector_bytes_mean']:,.0f} bytes")
    print("\nreal examples, ragged against padded storage (bytes per example)")
    print(f"  {'table':<12} {'examples':>9} {'mean tokens':>12} {'longest':>8} {'padded':>8} "
          f"{'ragged':>8} {'saved':>6}")
    for key, row in layouts.items():
        print(f"  {key:<12} {row['examples']:>9,} {row['mean_tokens']:>12.1f} "
              f"{row['longest']:>8} {row['padded_bytes']:>8.1f} {row['ragged_bytes']:>8.1f} "
              f"{1 - row['ragged_bytes'] / row['padded_bytes']:>6.0%}")
    name = "memory_quick" if args.quick else "memory"
    artifacts.write_json(Path(args.out) / f"{name}.json", result)
    print(f"wrote {Path(args.out) / (name + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
