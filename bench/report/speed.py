"""What the tool costs in time and memory: five sections of `docs/results.md`.

"Vector space against online KD" from `vs_online_kd.json` (`bench/vs_online_kd.py`),
"What a round costs" from `overhead.json` (`bench/overhead.py`), "Memory per example"
from `memory.json` (`bench/memory.py`), "Data-parallel training (`run --nproc N`)" from
`scaling.json` (`bench/scaling.py`) and "Encoding a corpus (`sage-rapids encode`)" from
`encode.json` (`bench/encode.py`).
"""

from __future__ import annotations

import statistics

from .common import machine, pct, table


def vs_online_kd(d: dict) -> str:
    e = d["epochs_detail"]
    vec = statistics.median(x["vector_seconds"] for x in e)
    onl = statistics.median(x["online_seconds"] for x in e)
    teach = statistics.median(x["online_teacher_seconds"] for x in e)
    return f"""## Vector space against online KD

`python bench/vs_online_kd.py` ({machine(d)}): the same student, the same batches,
{d['epochs']} epochs of each, alternating in one process; medians over epochs.

{table(['', 'seconds per epoch', f"dev accuracy after {d['epochs']} epochs"], [
    ['vector space, cached teacher logits', f"{vec:.1f}", f"{e[-1]['vector_dev_accuracy']:.4f}"],
    ['online KD (teacher forward every batch)', f"{onl:.1f} (teacher {teach:.1f})", f"{e[-1]['online_dev_accuracy']:.4f}"],
    ['ratio online / vector', f"**{d['median_ratio']:.2f}x** (ideal {d['ideal_ratio']:.2f}x: {pct(d['ratio_of_ideal'])} of it)", ''],
])}
"""


def overhead(d: dict) -> str:
    rows = []
    for r in d["by_n"]:
        s = r["seconds"]
        rows.append([f"{r['n']:,}", f"{s['train']:.1f}", f"{s['reduce']:.2f}", f"{s['anchors']:.2f}",
                     f"{s['neighbours']:.2f}", f"{s['synthesize']:.2f}", f"{s['label']:.1f}",
                     pct(r["augmentation_overhead"]), pct(r["labelling_overhead"])])
    sweep = ", ".join(f"{r['ratio']}: {r['seconds']['label']:.1f} s" for r in d["ratio_sweep"])
    return f"""## What a round costs

`python bench/overhead.py` ({machine(d)}): one epoch, then one round with the default
augmentation settings; `augmentation_overhead` = (reduce + anchors + neighbours +
synthesize) / train, `labelling_overhead` = label / train.

{table(['N', 'train epoch s', 'reduce s', 'anchors s', 'neighbours s', 'synthesize s', 'label s',
        'augmentation_overhead', 'labelling_overhead'], rows)}

UMAP is fitted on at most `umap_fit_max` points and the rest placed from their nearest
fitted points, so the round is almost flat in N. Labelling grows with the synthetic
count (`augment.ratio` at N = {d['ratio_sweep'][0]['n']:,}: {sweep}).

![round cost against N](../bench/results/overhead.png)
"""


def memory(d: dict) -> str:
    rows = [[k, f"{r['examples']:,}", f"{r['mean_tokens']:.1f}", r["longest"],
             f"{r['padded_bytes']:.1f}", f"{r['ragged_bytes']:.1f}",
             pct(1 - r["ragged_bytes"] / r["padded_bytes"])] for k, r in d["layouts"].items()]
    syn = d["synthetic"]
    return f"""## Memory per example

`python bench/memory.py` ({machine(d)}), measured from the arrays (`nbytes`). Real
examples are stored ragged (flat token ids plus offsets); the padded layout they replaced
is computed beside them:

{table(['table', 'examples', 'mean tokens', 'longest', 'padded bytes', 'ragged bytes', 'saved'], rows)}

A synthetic example is a recipe: {syn['pair']['bytes']:.0f} bytes for a pair mix,
{syn['barycentric']['bytes']:.0f} for a barycentric one (logits included); materialised as
vectors, one example would take {d['materialised_vector_bytes_mean']:,.0f} bytes.
"""


def scaling(d: dict) -> str:
    rows = [[r["nproc"], f"{r['train_seconds']:.1f}", f"{r['examples']:,}",
             f"{r['examples_per_second']:.1f}", f"{r['student_dev_accuracy']:.4f}"]
            for r in d["runs"]]
    return f"""## Data-parallel training (`run --nproc N`)

`python bench/scaling.py` ({d['machine']}, {d['threads_per_process']} thread per process,
`{' '.join(d['overrides'])}`):

{table(['processes', 'train s', 'examples', 'examples/s', 'dev accuracy'], rows)}

Speed-up of 2 processes over 1: **{d['speedup']:.2f}x**.
"""


def encode(d: dict) -> str:
    base = d["runs"][0]["examples_per_second"]
    rows = [[r["workers"], r["threads_per_worker"],
             f"{d['rows'] / r['examples_per_second']:.1f}", f"{r['examples_per_second']:.1f}",
             f"{r['examples_per_second'] / base:.2f}x",
             f"{r['command_examples_per_second']:.1f}"] for r in d["runs"]]
    return f"""## Encoding a corpus (`sage-rapids encode`)

`python bench/encode.py` ({d['machine']}): {d['rows']:,} SST-2 rows with the default's
teacher on a dask LocalCluster; median of {d['repeats']}.

{table(['workers', 'threads each', 'encode s', 'examples/s', 'vs 1 worker', 'examples/s, whole command'], rows)}

2 workers over 1 (one thread each): **{d['speedup_2_workers']:.2f}x**.
"""
