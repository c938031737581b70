"""The embedded default and the teacher recipes, the first sections of `docs/results.md`.

`default_run` renders "The embedded default (`make run`)" from `default_run.json`
(`bench/default_run.py`), followed by the epoch-1 region map when
`bench/results/region_map_epoch1.png` exists; `teacher_recipe` renders "Teacher
fine-tuning recipes" from `teacher_recipe.json` (`bench/teacher_recipe.py`).
"""

from __future__ import annotations

from .common import RESULTS, arm_name, machine, table


def default_run(d: dict) -> str:
    first = d["pairs"][0]["default"]["summary"]
    stop = (f", early stopping after {d['early_stopping']} epochs without gain"
            if d.get("early_stopping") else "")
    from sage_rapids.config import load_config

    now = load_config(None)
    measured = (d["strategy"], d["epochs"], d.get("early_stopping"))
    current = (now.augment.strategy, now.train.epochs, now.train.early_stopping)
    stale = "" if measured == current else (
        f"\n**This is the previous default.** The embedded default is now strategy "
        f"`{current[0]}`, at most {current[1]} epochs, early stopping after {current[2]} "
        "epochs without gain; "
        "`python bench/default_run.py` measures it.\n")
    rows = []
    for p in d["pairs"]:
        for name, r in [(f"`{d['strategy']}` (the default)", p["default"]),
                        *zip(map(arm_name, d["arms"]), p["against"])]:
            rows.append([p["seed"], name, f"{r['summary']['student_dev_accuracy']:.4f}",
                         ", ".join(f"{a:.4f}" for a in r["dev_by_epoch"]),
                         f"{r['wall_seconds']:.0f}"])
    lines = []
    for arm, diff in zip(d["arms"], d["default_minus_against"]):
        spread = (f"{diff['mean']:+.2f} ± {diff['se']:.2f} points (mean ± standard error over "
                  f"{diff['n']} seed-paired differences)" if diff["se"] is not None else
                  f"{diff['mean']:+.2f} points on one seed (a point is 9 of the 872 dev "
                  "examples)")
        lines.append(f"- default - {arm_name(arm)}: **{spread}**")
    lines = "\n".join(lines)
    beside = (f"\nWhile the paired runs ran, {d['beside']}: their seconds are upper bounds "
              "of a quiet machine's.\n" if d.get("beside") else "")
    timed = d.get("empty_cache_run")
    if timed:
        beside += (f"\nThe empty-cache time is a separate run of seed {timed['seed']} "
                   f"(`python bench/default_run.py --time-only`, {timed['date']}) with "
                   f"{timed['beside'] or 'nothing else running'}.\n")
    return f"""## The embedded default (`make run`)
{stale}
`{d['command']}` on {machine(d)}: strategy `{d['strategy']}`, at most {d['epochs']} epochs{stop}.
From an empty cache (teacher fine-tuning included, and the first compile of umap-learn's
kernels when the default augments) it took **{d['empty_cache_seconds'] / 60:.1f} minutes**. Teacher: {d['teacher_examples']:,}
examples fine-tuned, dev accuracy {first['teacher_dev_accuracy']:.4f} (seed {d['pairs'][0]['seed']});
student: {first['train_examples']:,} examples, {first['student_parameters'] / 1e6:.1f}M
parameters exported.
{beside}
The default against the same config with other settings, paired by seed: each seed
fine-tunes its own teacher, which every run of that seed shares, so a seed's default run
includes that fine-tuning in its seconds. Student dev accuracy at the exported (best)
epoch:

{lines}

{table(['seed', 'run', 'student dev accuracy', 'by epoch', 'wall seconds'], rows)}
""" + region_map()


def region_map() -> str:
    if not (RESULTS / "region_map_epoch1.png").is_file():
        return ""
    return """
A region map after epoch 1 (`plots/region_map_epoch1.png` of a run): the 2-D map of pooled
input vectors coloured by the student's KD loss, with the round's anchors and synthetic
points.

![region map after epoch 1](../bench/results/region_map_epoch1.png)
"""


def teacher_recipe(d: dict) -> str:
    rows = []
    for r in d["recipes"]:
        runs = ", ".join(f"{x['dev_accuracy']:.4f}" for x in r["runs"])
        rows.append([r["recipe"], f"{r['mean_dev_accuracy']:.4f}", runs,
                     f"{r['paired_difference_vs_old']:+.4f}", f"{r['median_seconds']:.0f}"])
    best = max(d["recipes"], key=lambda r: r["mean_dev_accuracy"])
    return f"""## Teacher fine-tuning recipes

`python bench/teacher_recipe.py` ({machine(d)}): MiniLM fine-tuned on 8,000 SST-2
examples, batch 32, max length 64, one epoch (250 steps); seeds {d['seeds']} paired across
recipes (a seed fixes the subset, the head's initialisation and the batch order); seconds
are the whole `sage-rapids teacher` command (fine-tuning plus loading and scoring dev).

{table(['recipe', 'mean dev accuracy', 'per seed', 'vs old default (paired)', 'median s'], rows)}

Highest mean: **{best['recipe']}** ({best['mean_dev_accuracy']:.4f}).
"""
