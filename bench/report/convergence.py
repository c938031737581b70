"""The pre-registered convergence study in `docs/results.md`, from `convergence.json`.

`convergence` renders "When does SAGE pay? Training to convergence (pre-registered)":
the rules, the schedule pilot, one subsection per task, the pooled verdict against
`none`, and (`_beside`) what ran beside the study's runs and the runs made again, from
the result `bench/convergence.py report` writes.
"""

from __future__ import annotations

from .common import _diff, table


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
