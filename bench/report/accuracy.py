"""The accuracy studies and their paired differences in `docs/results.md`.

`accuracy` renders one subsection of "Accuracy: does SAGE make a better student?" from an
accuracy study's JSON (`bench/accuracy.py`: `accuracy.json`, `accuracy_2k_ratio05.json`,
`accuracy_scarce.json` and the GPU runs under `search_h200/`; `STUDIES` lists them with
their titles and commands, `INTRO` opens the section). `compare` renders the "Paired
differences" subsections from `compare.json` and `compare_strong_teacher.json`
(`bench/compare.py`), listed in `COMPARISONS`.
"""

from __future__ import annotations

from pathlib import Path

from .common import machine, table

# The accuracy studies in the order the document shows them: (file, title, command)
STUDIES = [
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


INTRO = ("## Accuracy: does SAGE make a better student?\n\n"
         "Students trained with each `augment.strategy` (and named variants of "
         "the round) on the same\nsplit, paired by seed; the synthetic budget is "
         "the same for every augmented variant. These studies\nran with "
         "`augment.partner: any`, the default before the guidance study below.\n")


# The paired comparisons over the studies: (file, title)
COMPARISONS = (("compare.json", "Paired differences over the CPU studies"),
               ("compare_strong_teacher.json", "Paired differences: a strong teacher and scarce data"))


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
