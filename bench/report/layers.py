"""The layer study's section (`bench/results/layers.json`, from `python bench/layers.py
report`): whether the student learning the teacher's layers pays, and SAGE on top."""

from __future__ import annotations

from .common import _diff, table

ARMS = {"logits": "`logits` (the default)", "layers": "`layers`",
        "layers_sage": "`layers + sage`"}


def _seconds(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"


def layers(d: dict) -> str:
    out = ["## Layer transfer, and whether SAGE pays once the student learns the teacher's "
           "layers", "",
           "`python bench/layers.py` (settings and rule fixed in the script before its first "
           "run). Each task trains\nthe embedded default's student three ways, paired by seed: "
           "`logits` (KD + gold-label CE), `layers`\n(+ each student layer learns the teacher's "
           f"at the same relative depth: `{d['arms']['layers']}`,\nthe pooling chosen by "
           f"the pilot: {d['pooling']}) and `layers + sage`; the exported best epoch is "
           "scored on a\nheld-out slice. Points are the task's primary metric x 100 (STS-B: "
           "Pearson's r x 100).", "", d.get("how", "") + ".", ""]
    pilot = d.get("pilot")
    if pilot:
        arms = []
        for arm, mean in pilot["heldout_mean"].items():
            gain = _diff(pilot["vs_logits"].get(arm), "heldout")
            arms.append(f"`{arm}` {mean:.2f}" + (f" ({gain} over `logits`)" if gain else ""))
        pool = d["pooling"].removeprefix("layers_")
        out += [f"The pooling pilot (SST-2, seeds {pilot['seeds'].replace(',', ', ')}, held-out "
                f"points): {', '.join(arms)}; the study's `layers` is `{d['pooling']}`, so "
                f"`loss.layer_pool` defaults to `{pool}`.", ""]
    rows = []
    for task, row in d["tasks"].items():
        for arm, a in row["arms"].items():
            rows.append([task if arm == "logits" else "", ARMS[arm], len(a["seeds"]),
                         f"{a['heldout_mean']:.2f} ± {a['heldout_sd']:.2f}",
                         _seconds(a["seconds_median"]), _seconds(a["epoch_seconds_median"]),
                         f"{a['reached_logits_best']}/{len(a['seeds'])}, "
                         f"{_seconds(a['seconds_to_logits_best_median'])} s"])
    out.append(table(["task", "arm", "seeds", "held-out (mean ± sd)", "s / run (median)",
                      "s / epoch", "reached `logits`' best dev"], rows))
    diffs = [[task, row["layers_vs_logits"]["n"] if row["layers_vs_logits"] else 0,
              _diff(row["layers_vs_logits"], "heldout") or "-",
              _diff(row["sage_vs_layers"], "heldout") or "-",
              f"{row.get('seconds_ratio', 0):.2f}x" if row.get("seconds_ratio") else "-"]
             for task, row in d["tasks"].items()]
    pooled = d["pooled"]
    diffs.append(["**pooled**", pooled["layers_vs_logits"]["n"] if pooled["layers_vs_logits"]
                  else 0, _diff(pooled["layers_vs_logits"], "heldout") or "-",
                  _diff(pooled["sage_vs_layers"], "heldout") or "-",
                  f"{d['verdict']['seconds_ratio_median']:.2f}x (median)"
                  if d["verdict"].get("seconds_ratio_median") else "-"])
    out += ["", "Seed-paired held-out differences (points, mean ± standard error):", "",
            table(["task", "pairs", "`layers` - `logits`", "`layers + sage` - `layers`",
                   "`layers` seconds / `logits`"], diffs), ""]
    v = d["verdict"]
    if not v["complete"]:
        out.append("**The study is not complete** (every task needs five seeds of every arm); "
                   "no verdict yet. `python bench/layers.py run <task>` resumes it.")
    else:
        out.append("**Verdict** (rule: `layers` becomes the default at a pooled gain of at "
                   "least two standard errors and at most 1.3x the seconds; `layers + sage` "
                   "is recommended past `layers` by two standard errors pooled): `layers` "
                   + ("becomes the default" if v["layers_becomes_default"] else
                      "does not become the default") + "; `layers + sage` is "
                   + ("recommended" if v["sage_recommended"] else "not recommended") + ".")
    p = d.get("attention_pilot")
    if p:
        out += ["", "**Attention pilot** (SST-2, seeds 0-2, one thread; rule: an arm with the "
                "teacher in the loop pays at a gain over `layers` of at least 0.3 points and "
                "two standard errors):", ""]
        rows = [[arm, len(a["seeds"]), f"{a['heldout_mean']:.2f}", _seconds(a["seconds_median"]),
                 _seconds(a["epoch_seconds_median"]),
                 "" if arm == "layers_mean" else _diff(p.get(f"{arm}_vs_layers"), "heldout")
                 or "-", "" if arm == "layers_mean" else
                 {None: "not yet", True: "pays", False: "does not pay"}[p.get(f"{arm}_pays")]]
                for arm, a in p["arms"].items()]
        out.append(table(["arm", "seeds", "held-out", "s / run", "s / epoch",
                          "- `layers_mean`", "by the rule"], rows))
    return "\n".join(out) + "\n"
