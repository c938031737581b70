"""The pre-registered guidance study in `docs/results.md`, from `guidance.json`.

`guidance` renders "Guidance variants: the pre-registered study" and its subsections
(one per task, pooled against `random` with the rule's verdict, pooled against `none`,
accuracy per second against `none_time`, and what the anchors are) from the result
`bench/guidance.py report` writes.
"""

from __future__ import annotations

from .common import _diff, table


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
