"""The STS-B and WNLI section of `docs/results.md`, from `tasks.json`.

`tasks` renders "More task shapes: STS-B regression and WNLI": per task the teacher, a
table of the students per variant (mean ± spread over seeds for each metric) and the
seed-paired differences, from the result `bench/tasks.py --report` writes.
"""

from __future__ import annotations

import numpy as np

from .common import table


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
