"""Write `docs/results.md` from the measurements in `bench/results/*.json`.

Every figure in the document comes from a JSON file a benchmark wrote; nothing is typed
by hand, so the document cannot drift from the data. A test regenerates it and fails
when the committed file differs.

    python bench/results_doc.py            # rewrite docs/results.md
    python bench/results_doc.py --check    # exit 1 if docs/results.md is out of date
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "results.md"


def load(name: str) -> dict | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.is_file() else None


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def machine(d: dict) -> str:
    """Where a result was measured, from what its file says."""
    parts = [d.get("device") or d.get("machine")
             or ("2-core CPU machine" if d.get("backend") == "cpu" else d.get("backend"))]
    if d.get("threads"):
        parts.append(f"{d['threads']} threads")
    if d.get("date"):
        parts.append(d["date"])
    return ", ".join(p for p in parts if p)


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------- sections

def arm_name(arm: list[str]) -> str:
    if len(arm) == 1 and arm[0].startswith("augment.strategy="):
        return f"`{arm[0].split('=', 1)[1]}`"
    return " ".join(f"`-o {a}`" for a in arm)


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


def accuracy(d: dict, title: str, command: str) -> str:
    names = list(d["summary"])
    rows = []
    for name in names:
        s = d["summary"][name]
        reach = s.get("first_epoch_reaching_none_final")
        rows.append([name, f"{s['dev_final_mean']:.4f} ± {s['dev_final_std']:.4f}",
                     f"{s['heldout_mean']:.4f} ± {s['heldout_std']:.4f}",
                     ", ".join(f"{x:.4f}" for x in s["dev_final_per_seed"]),
                     ", ".join(f"{x:.4f}" for x in s["heldout_per_seed"]),
                     reach if reach is not None else "never",
                     f"{s['seconds_mean']:.0f}" if "seconds_mean" in s else ""])
    epochs = len(d["summary"][names[0]]["dev_by_epoch_mean"])
    by_epoch = [[n] + [f"{x:.4f}" for x in d["summary"][n]["dev_by_epoch_mean"]] for n in names]
    note = f"\n{d['note']}\n" if d.get("note") else ""
    return f"""### {title}

`{command}` ({machine(d)}): student on {d['train']:,} SST-2 training examples, teacher
fine-tuned on {d.get('teacher_train', d['train']):,} (dev {d['teacher_dev_accuracy']:.4f}); seeds
{d['seeds']}; held out: {d['held_out']:,} training examples no model saw.
{note}
{table(['variant', 'dev final (mean ± std)', 'held-out (mean ± std)', 'dev per seed',
        'held-out per seed', "first epoch reaching none's final dev", 'seconds per run'], rows)}

{table(['variant'] + [f'epoch {i + 1}' for i in range(epochs)], by_epoch)}
"""


def compare(d: dict, title: str) -> str:
    rows = [[r["pair"], r["n"], f"{r['dev']['mean']:+.2f} ± {r['dev']['se']:.2f}",
             f"{r['heldout']['mean']:+.2f} ± {r['heldout']['se']:.2f}",
             f"{r['heldout']['mean'] / r['heldout']['se']:+.1f}" if r['heldout']['se'] else ""]
            for r in d["rows"]]
    files = ", ".join(f"`{Path(f).name}`" for f in d["files"])
    return f"""### {title}

`python bench/compare.py` over {files}: differences in accuracy points, paired by seed
and file (both students share their initialisation and first epoch), mean ± standard
error.

{table(['pair', 'pairs', 'dev', 'held-out', 'held-out in standard errors'], rows)}
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


def _diff(row: dict | None, key: str) -> str:
    return "" if row is None else f"{row[key]['mean']:+.2f} ± {row[key]['se']:.2f}"


def guidance(d: dict) -> str:
    """The pre-registered guidance study (`bench/guidance.py report`)."""
    variants = table(["variant", "overrides"], [[f"`{v}`", f"`{o}`"]
                                                 for v, o in d["variants"].items()])
    parts = [f"""## Guidance variants: the pre-registered study

`python bench/guidance.py run sst2`, `... run qnli`, then `... report` ({d['date']}).
The variants, settings and rule were committed before the study's first run. Rule:
*{' '.join(d['rule'].split())}*

{variants}
"""]
    parts += [_guidance_task(task, t) for task, t in d["tasks"].items()]
    pooled = [[v, r["n"] if r else 0, _diff(r, "heldout"), _diff(r, "dev"), d["verdicts"][v]]
              for v, r in d["pooled_vs_random"].items()]
    parts.append(f"""### Pooled over both tasks, against `random`

{table(['variant', 'pairs', 'held-out', 'dev', 'by the rule'], pooled)}

{_guidance_verdict(d)}
""")
    if d.get("pooled_vs_none"):
        rows = [[v, r["n"], _diff(r, "heldout"), _diff(r, "dev")]
                for v, r in d["pooled_vs_none"].items() if r]
        parts.append(f"""### Pooled over both tasks, against `none` (3 epochs)

Every variant trains 3 epochs but `none_time` (5 epochs without augmentation), so this
is what augmentation, or two more epochs, add at a fixed small budget:

{table(['variant', 'pairs', 'held-out', 'dev'], rows)}
""")
    return "\n".join(parts + [_guidance_time(d), _guidance_looks(d)])


SETTING = {"sage": "augment.strategy: sage", "region": "augment.anchor_score: region",
           "boundary": "augment.partner: other_class", "same_class": "augment.partner: same_class",
           "adaptive": "augment.budget: adaptive"}


def _guidance_verdict(d: dict) -> str:
    """The rule applied: which variants pass, and which becomes the default."""
    passed = [v for v, text in d["verdicts"].items() if text == "beats random"]
    if not passed:
        return ("**By the rule, no variant becomes the default**: none beats uniform anchors "
                "by two standard errors on held-out accuracy pooled over both tasks.")
    best = max(passed, key=lambda v: d["pooled_vs_random"][v]["heldout"]["mean"])
    others = [v for v in passed if v != best]
    also = f" ({', '.join(others)} passes too; variants were not combined)" if others else ""
    return (f"**By the rule, `{best}` becomes the default (`{SETTING[best]}`)**, the largest "
            f"pooled held-out gain among the variants that pass{also}. With "
            f"{len(d['verdicts'])} candidates tested at two standard errors, one false pass "
            "among them is plausible.")


def _guidance_task(task: str, t: dict) -> str:
    rows = []
    for v, s in t["summary"].items():
        rows.append([v, len(s["heldout_per_seed"]), f"{s['dev_final_mean']:.4f}",
                     f"{s['heldout_mean']:.4f}", f"{s['run_seconds_median']:.0f}",
                     _diff(t["vs_random"].get(v), "heldout"),
                     _diff(t["vs_none"].get(v), "heldout"),
                     _diff(t["vs_random"].get(v), "dev")])
    return f"""### {task}: teacher dev {t['teacher_dev_accuracy']:.4f}

Student on {t['train']:,} examples, teacher fine-tuned on {t['teacher_train']:,};
{f"dev {t['dev']:,}, " if t.get('dev') else ''}held out {t['held_out']:,}; differences in
accuracy points, paired by seed, mean ± standard error.

{table(['variant', 'seeds', 'dev', 'held-out', 'seconds per run (median)',
        'held-out vs random', 'held-out vs none', 'dev vs random'], rows)}
"""


def _guidance_time(d: dict) -> str:
    time_rows = []
    for task, t in d["tasks"].items():
        for v, r in t["vs_none_time"].items():
            if r is not None:
                time_rows.append([task, f"{v} - none_time", r["n"], _diff(r, "dev"),
                                  _diff(r, "heldout"), f"{r['seconds']['mean']:+.0f}"])
    if not time_rows:
        return ""
    return f"""### Accuracy per second: `none` given the same time

`none_time` trains without augmentation for 5 epochs instead of 3, about an augmented
run's wall time (the seconds column says which took longer). Paired by seed (accuracy
points; seconds per run; positive: the augmented run is better, or slower):

{table(['task', 'pair', 'pairs', 'dev', 'held-out', 'seconds'], time_rows)}

![dev accuracy against seconds per strategy](../bench/results/guidance.png)
"""


def _guidance_looks(d: dict) -> str:
    look_rows = []
    for task, t in d["tasks"].items():
        for v, x in t["looks"].items():
            if x:
                look_rows.append([task, v] + [f"{x[k]:.3f}" if k in x else "" for k in (
                    "anchor_teacher_wrong", "teacher_wrong", "anchor_neighbour_anchors",
                    "partner_other_class")])
    return f"""### What the anchors are

Means over every round: the share of anchors the teacher gets wrong against all examples,
the share of an anchor's map neighbours that are anchors too (uniform anchors give about
`1 - q` = 0.1; more means they cluster into regions), and the share of recipes that mix
two teacher classes.

{table(['task', 'variant', 'anchors teacher-wrong', 'all teacher-wrong',
        'anchor neighbours that are anchors', 'partners of another class'], look_rows)}
"""


def _points(row: dict | None) -> str:
    return "no pairs yet" if row is None else f"{_diff(row, 'heldout')} points"


def convergence(d: dict) -> str:
    """The pre-registered convergence study (`bench/convergence.py report`)."""
    pilot = d["schedule_pilot"]["figures"]
    pilot_rows = [[f"`{s}`", f["runs"], f"{f['heldout_mean']:.4f}", f"{f['seconds_total']:.0f}"]
                  for s, f in pilot.items()]
    state = ("" if d["complete"] else "\n**Interim report: the study is not complete** (the "
             "seeds column says what ran); no verdict is drawn from it yet.\n")
    rules = "\n\n".join(f"*{k}: {' '.join(v.split())}*" for k, v in d["rules"].items())
    parts = [f"""## When does SAGE pay? Training to convergence (pre-registered)

`python bench/convergence.py pilot`, `... run sst2|qnli|cola|mrpc`, then `... report`
({d['date']}). Every student trains until early stopping ends it (cap 20 epochs,
patience 3 on the task's primary dev metric) and its exported best epoch is scored on a
held-out slice nobody trained or selected on. Settings and rules were committed before
the study's first run:

{rules}
{state}
### The schedule pilot (SST-2, `none` and `sage`, seeds 0-2)

{table(['train.schedule', 'runs', 'held-out (mean)', 'seconds (all runs)'], pilot_rows)}

The study uses `train.schedule: {d['schedule']}`.
"""]
    for task, t in d["tasks"].items():
        rows = []
        for v, s in t["summary"].items():
            r = t["race"].get(v)
            to = "" if r is None else (f"{r['median_seconds']:.0f} s vs {r['none_median_seconds']:.0f} s"
                                       f" ({r['reached']}/{len(r['per_seed'])} reach it)")
            rows.append([v, len(s["seeds"]), f"{s['heldout_mean']:.4f} ± {s['heldout_std']:.4f}",
                         f"{s['dev_best_mean']:.4f}", f"{s['best_epoch_mean']:.1f}",
                         f"{s['stopped_epoch_mean']:.1f}", f"{s['run_seconds_median']:.0f}",
                         _diff(t["vs_none"].get(v), "heldout"), to])
        parts.append(f"""### {task}: {t['metric']}, student on {t['train']:,} examples

{table(['variant', 'seeds', 'held-out ceiling (mean ± std)', 'best dev', 'best epoch',
        'stopped epoch', 'seconds per run', 'ceiling vs none (points)',
        "time to none's best (median)"], rows)}
""")
    pooled = [[v, r["n"] if r else 0, _diff(r, "heldout"), _diff(r, "epochs"),
               f"{d['faster_tasks'][v]} of {len(d['tasks'])}",
               ("default" if d["verdict"][v]["default"] else "not the default") + ", " +
               ("recommended per second" if d["verdict"][v]["per_second"] else
                "not recommended per second")]
              for v, r in d["pooled_vs_none"].items()]
    header = ["variant", "pairs", "ceiling (points)", "epochs", "faster to none's best",
              "by the rules" + ("" if d["complete"] else " (interim)")]
    winners = [v for v in ("sage", "sage_large") if v in d["verdict"]
               and d["verdict"][v]["default"]]
    verdict = "" if not d["complete"] else (
        f"\n**Verdict under the rule: `{winners[-1]}` is the default.**\n" if winners else
        "\n**Verdict under the rule: neither `sage` nor `sage_large` beats `none` by two "
        "standard errors, and neither reaches `none`'s best sooner on three tasks: the "
        "default is `none` (plain distillation), and SAGE is not recommended per second.**\n")
    parts.append(f"""### Pooled over the tasks, against `none`

Seed-paired differences, mean ± standard error: held-out ceiling in points of each task's
primary metric, and epochs trained. `sage - random`, pooled:
{_points(d['pooled_sage_vs_random'])}.

{table(header, pooled)}
{verdict}
![dev score against seconds, one line per seed](../bench/results/convergence.png)
""")
    parts.append(_beside(d))
    return "\n".join(parts)


def _beside(d: dict) -> str:
    """How the study's runs shared the machine, and the per-second count without the
    seeds whose runs had other work beside them."""
    shared = d.get("beside") or {"how": None, "runs": []}
    if not shared["how"]:
        return ""
    rows = [[r["task"], f"`{r['variant']}`", r["seed"], r["beside"]] for r in shared["runs"]]
    counts = ", ".join(f"`{v}` {n} of {len(d['tasks'])} (all seeds: {d['faster_tasks'][v]})"
                       for v, n in d["faster_tasks_undisturbed"].items())
    text = f"""### What ran beside the runs

{shared['how']}

{table(['task', 'variant', 'seed', 'beside it'], rows) if rows else 'No run has other work beside it now.'}

Without those seeds (every variant of a listed seed left out of that task's race), the
tasks where a variant reaches `none`'s best dev score sooner: {counts}.
"""
    reruns = shared.get("reruns", [])
    if reruns:
        same = sum(r["same_scores"] for r in reruns)
        text += f"""
Runs made again by `bench/convergence.py rerun` with nothing else on their core; the study
uses the second. {same} of {len(reruns)} gave the same dev curve and held-out score as the
first (one seed, one machine: the same result).

{table(['task', 'variant', 'seed', 'first seconds', 'seconds now', 'same scores'],
       [[r['task'], f"`{r['variant']}`", r['seed'], f"{r['first_seconds']:.0f}",
         f"{r['seconds']:.0f}", 'yes' if r['same_scores'] else '**no**'] for r in reruns])}
"""
    return text


def tasks(d: dict) -> str:
    """STS-B (regression) and WNLI through the CLI (`bench/tasks.py`)."""
    parts = ["""## More task shapes: STS-B regression and WNLI

`python bench/tasks.py` (then `--report`): each task's official files, the MiniLM teacher
fine-tuned once for 3 epochs on the whole training file (seed 0), then students of the
default config (3 epochs, 3 layers, `data.max_length: 128`) with `none`, the default `sage`
and, for STS-B, `sage` with `augment.partner: any`, paired by seed. A student's figure is
its best epoch on dev (dev picks the epoch). One core per run; other work shared that core
at times, so the seconds are indicative only (medians).
"""]
    for task, t in d["tasks"].items():
        metric, names = t["metric"], list(t["teacher"])
        header = ["variant", "seeds", *[f"student {m}" for m in names], "best epochs",
                  "seconds per run"]
        rows = []
        for variant, v in t["variants"].items():
            cells = []
            for m in names:
                x = np.array(v["student"][m])
                cells.append(f"{x.mean():.4f}" + (f" ± {x.std(ddof=1):.4f}" if len(x) > 1 else ""))
            rows.append([f"`{variant}`", ", ".join(map(str, v["seeds"])), *cells,
                         ", ".join(map(str, v["best_epoch"])),
                         f"{np.median(v['seconds']):.0f}"])
        teacher = ", ".join(f"{m} {x:.4f}" for m, x in t["teacher"].items())
        base = t.get("constant_baseline", {})
        if "majority_accuracy" in base:
            teacher += f" (always the majority class: {base['majority_accuracy']:.4f})"
        if "mean_mse" in base:
            teacher += f" (always the training mean: MSE {base['mean_mse']:.4f})"
        pairs = "; ".join(f"`{k}` {r['mean']:+.2f} ± {r['se']:.2f} points ({r['n']} seeds)"
                          for k, r in t["paired"].items() if r)
        parts.append(f"**glue/{task}** ({t['train_examples']:,} train, {t['dev_examples']:,} "
                     f"dev; ± is the spread over seeds): teacher {teacher}.\n\n"
                     + table(header, rows) + "\n\n"
                     + (f"Paired differences in {metric}: {pairs}.\n" if pairs else ""))
    return "\n".join(parts)


def render() -> str:
    out = ["# Results",
           "",
           "Generated by `python bench/results_doc.py` from `bench/results/*.json`; every "
           "figure below is\nread from those files (`make bench` and the commands named in "
           "each section\nwrite them). Do not edit by hand.",
           ""]
    sections = [
        ("default_run.json", default_run),
        ("teacher_recipe.json", teacher_recipe),
        ("vs_online_kd.json", vs_online_kd),
        ("overhead.json", overhead),
        ("memory.json", memory),
        ("scaling.json", scaling),
        ("encode.json", encode),
    ]
    for name, render_section in sections:
        d = load(name)
        if d is not None:
            out.append(render_section(d))
    studies = [
        ("accuracy.json", "Same data for teacher and student",
         "python bench/accuracy.py"),
        ("accuracy_2k_ratio05.json", "2,000 examples, teacher on the same 2,000",
         "python bench/accuracy.py --train 2000 -o augment.ratio=0.5 --name accuracy_2k_ratio05"),
        ("accuracy_scarce.json", "A strong teacher and scarce data",
         "python bench/accuracy.py --teacher-train 20000 --train 2000 -o train.epochs=5 "
         "-o augment.ratio=1.0 --name accuracy_scarce"),
        ("search_h200/h200_2k_ratio05.json", "On a GPU: 2k examples, ratio 0.5, 3 epochs",
         "python bench/accuracy.py --device cuda --teacher-train 20000 --train 2000 "
         "-o augment.ratio=0.5"),
        ("search_h200/h200_8k_ratio02.json", "On a GPU: 8k examples, ratio 0.2, 3 epochs",
         "python bench/accuracy.py --device cuda --teacher-train 20000 --train 8000"),
        ("search_h200/h200_2k_ratio1_5epochs.json", "On a GPU: 2k examples, ratio 1.0, 5 epochs",
         "python bench/accuracy.py --device cuda --teacher-train 20000 --train 2000 "
         "-o train.epochs=5 -o augment.ratio=1.0"),
    ]
    present = [(load(n), t, c) for n, t, c in studies if load(n) is not None]
    if present:
        out.append("## Accuracy: does SAGE make a better student?\n\n"
                   "Students trained with each `augment.strategy` (and named variants of "
                   "the round) on the same\nsplit, paired by seed; the synthetic budget is "
                   "the same for every augmented variant. These studies\nran with "
                   "`augment.partner: any`, the default before the guidance study below.\n")
        out += [accuracy(d, t, c) for d, t, c in present]
    d = load("guidance.json")
    if d is not None:
        out.append(guidance(d))
    d = load("convergence.json")
    if d is not None:
        out.append(convergence(d))
    d = load("tasks.json")
    if d is not None and d.get("tasks"):
        out.append(tasks(d))
    for name, title in (("compare.json", "Paired differences over the CPU studies"),
                        ("compare_strong_teacher.json", "Paired differences: a strong teacher and scarce data")):
        d = load(name)
        if d is not None:
            out.append(compare(d, title))
    return "\n".join(out).rstrip() + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if docs/results.md differs from what the data gives")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.is_file() else ""
        if current != text:
            print(f"{DOC.relative_to(ROOT)} is out of date: python bench/results_doc.py")
            return 1
        return 0
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
