"""The paper's configuration (`bench/results/paper*.json`, from `python bench/paper.py`):
a 110M MPNet teacher into a 67M 6-layer student on SST-2, pre-registered, beside the
published figures."""

from __future__ import annotations

import statistics

from .common import table

PUBLISHED = [  # (who, student, teacher, figure, what it is)
    ("SAGE (paper)", "66M, 6 layers", "BERT-base", "92.3", "as reported"),
    ("DistilBERT", "66M, 6 layers", "BERT-base", "91.3", "dev"),
    ("PKD, 6 layers", "67M", "BERT-base (92.58)", "91.06", "as reported"),
]
ORDER = ("none", "sage")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def _runs_table(d: dict) -> str:
    rows = []
    for r in d.get("runs", []):
        work = r["work_seconds"]
        rows.append([r["arm"], r["seed"], " ".join(_pct(x) for x in r["dev_by_epoch"]),
                     f"{_pct(r['best_dev'])} ({r['best_epoch']})",
                     r["epochs_to_within_best"], _pct(r["heldout_accuracy"]),
                     f"{statistics.median(work):.0f}", f"{sum(r['epoch_seconds']) / 60:.0f}"])
    return table(["arm", "seed", "dev accuracy by epoch", "best (epoch)",
                  "epochs to within 0.5", "held-out", "s / epoch", "minutes, all epochs"], rows)


def _per_second(recommended: bool, pairs: list[list[float | None]]) -> str:
    """The rule's per-second half, with each seed's seconds to within 0.5 points of the
    paired none run's best (SAGE's, then none's)."""
    def fmt(x):
        return "never" if x is None else f"{x:.0f}"
    return ("per second it is " + ("" if recommended else "not ") + "recommended (seconds to "
            "within 0.5 points of the paired none run's best, seed by seed: SAGE "
            + ", ".join(fmt(p[0]) for p in pairs) + "; none "
            + ", ".join(fmt(p[1]) for p in pairs) + ")")


def paper(d: dict, measured: dict | None, online: dict | None, export: dict | None,
          qnli: dict | None) -> str:
    plan = d["plan"]
    done, remaining = len(d.get("runs", [])), d.get("remaining")
    if remaining is None:
        remaining = [f"{a}-s{s}" for s in plan["seeds"] for a in plan["arms"]]
    out = ["## The paper's configuration: a 110M teacher into a 67M student (SST-2)", "",
           f"`python bench/paper.py all` (one thread a run; beside it: see each run's "
           f"`beside` in `paper.json`).\nPre-registered on {plan['date']}, before its first "
           "run: the settings, the rule and the headline\nbelow are in `paper.json` as they "
           "were written then.", ""]
    status = (f"**SST-2 complete**: {done} student runs"
              + (". QNLI: to come (`python bench/paper.py qnli`; below once under way)."
                 if not qnli else ", and QNLI (below).") if not remaining else
              f"**In progress**: {done} of {done + len(remaining)} student runs finished; "
              f"to come: {', '.join(remaining)}. `python bench/paper.py all` resumes it (a run "
              "stopped part-way continues from its last epoch).")
    for name, r in (d.get("in_progress") or {}).items():
        status += (f" {name} has checkpointed {len(r['dev_by_epoch'])} epoch(s): dev "
                   + ", ".join(_pct(x) for x in r["dev_by_epoch"]) + " ("
                   + ", ".join(f"{x:.0f}" for x in r["epoch_seconds"]) + " s).")
    out += [status, ""]
    out += [f"- **{k.lower().capitalize()}**: {plan['rules'][k]}" for k in
            ("TEACHER", "STUDENTS", "HELD OUT", "RULE") if k in plan["rules"]]
    out.append("")
    if measured:
        h = plan["projected_hours"]
        out += [f"Sized from a measurement (`python bench/paper.py measure`, {measured['threads']} "
                f"thread, {measured['date']}; beside it: {measured['beside']}), seconds per "
                "1,000 SST-2 sentences:", "",
                table(["teacher fine-tuning", "teacher forward (targets)",
                       "6-layer student epoch", "dev scoring (872)"],
                      [[f"{measured['finetune_seconds_per_1000']:.1f}",
                        f"{measured['teacher_forward_seconds_per_1000']:.1f}",
                        f"{measured['student_epoch_seconds_per_1000']:.1f}",
                        f"{measured['dev_evaluate_seconds']:.1f}"]]), "",
                f"Projected: the teacher on the full set {h['teacher_full_set_hours']:.1f} h; "
                f"one student run on 20,000 {h['student_run_20k_hours']:.1f} h (on the full "
                f"set {h['student_run_full_hours']:.1f} h); the six runs "
                f"{h['study_20k_hours']:.1f} h on 20,000 against {h['study_full_hours']:.1f} h "
                f"on the full set ({h['assumed']}).", ""]
    t = d.get("teacher")
    if t:
        out += [f"**Teacher**: all-mpnet-base-v2 fine-tuned on {t['examples']:,} sentences "
                f"({t['steps']:,} steps, {t['seconds'] / 60:.0f} minutes on {t['threads']} "
                f"thread): dev accuracy **{_pct(t['dev_accuracy'])}**, held-out "
                f"{_pct(t['heldout_accuracy'])} ({t['heldout_examples']:,} sentences).", ""]
    if d.get("runs"):
        out += ["Each student run (dev accuracy in percent; seconds per epoch are training "
                "and, for `sage`,\nthe round and its labelling; the minutes add up every "
                "epoch with its dev scoring, not the\nteacher's targets or the efficiency "
                "report):", "", _runs_table(d), ""]
    arms = d.get("arms") or {}
    if arms:
        rows = [[a, ", ".join(map(str, s["seeds"])),
                 f"{_pct(s['best_dev_mean'])}" + (f" ± {100 * s['best_dev_sd']:.2f}"
                                                  if s["best_dev_sd"] is not None else ""),
                 f"{_pct(s['heldout_mean'])}" + (f" ± {100 * s['heldout_sd']:.2f}"
                                                 if s["heldout_sd"] is not None else ""),
                 ", ".join(map(str, s["epochs_to_within_best"]))]
                for a, s in sorted(arms.items(), key=lambda x: ORDER.index(x[0]))]
        out += [table(["arm", "seeds", "best dev (mean ± sd)", "held-out", "epochs to within "
                       "0.5 of best"], rows), ""]
    v = d.get("verdict") or {}
    if v.get("complete"):
        held = v["heldout_sage_minus_none"]
        out += [f"**The rule's verdict**: SAGE minus none, seed-paired held-out "
                f"{held['mean']:+.2f} ± {held['se']:.2f} points (standard error): SAGE "
                + ("pays" if v["sage_pays"] else "does not pay") + " at this scale; "
                + _per_second(v["sage_per_second"], v["seconds_to_within_none_best"]) + ".",
                ""]
    elif v.get("heldout_sage_minus_none"):
        held = v["heldout_sage_minus_none"]
        out += ["So far SAGE minus none, seed-paired held-out: "
                + ", ".join(f"{x:+.2f}" for x in held["differences"])
                + f" points (seed{'s' * (len(held['seeds']) > 1)} "
                + ", ".join(map(str, held["seeds"])) + f"); the rule gives no verdict "
                f"before all {len(plan['seeds'])} seeds.", ""]
    if d.get("schedule"):
        out += _schedule(d["schedule"])
    ours = arms.get(d.get("headline_arm") or "none")
    rows = [[who, s, te, fig, what] for who, s, te, fig, what in PUBLISHED]
    if ours:
        rows.append(["**this project**", f"{d['runs'][0]['student_parameters'] / 1e6:.1f}M, "
                     "6 layers", "all-mpnet-base-v2 (" + (_pct(t["dev_accuracy"]) if t else "-")
                     + ")", f"**{_pct(ours['best_dev_mean'])}**",
                     f"dev, mean of {len(ours['seeds'])} seed(s); 20,000 training sentences"])
    out += ["Beside the published figures (SST-2 accuracy; theirs used the full training set, "
            "a BERT-base\nteacher and, where marked, the test set):", "",
            table(["", "student", "teacher", "SST-2", "what"], rows), ""]
    if online:
        out += [f"**Online KD at this scale** (`bench/vs_online_kd.py`, "
                f"{online['train_examples']:,} sentences, {online['epochs']} epochs, "
                f"{online['threads']} thread): the teacher in the loop costs "
                f"**{online['median_ratio']:.2f}x** the vector interface's epoch (ideal "
                f"{online['ideal_ratio']:.2f}x, 1 + teacher forward / student step)"
                + (f"; beside it: {online['beside']}" if online.get("beside") else "")
                + ".", ""]
    if export:
        out += _export(export, t)
    progress = d.get("qnli_progress")
    if not qnli and progress:
        runs = progress["runs"]
        done_runs = "; ".join(f"{r['variant']}-s{r['seed']} best dev {_pct(max(r['dev_by_epoch']))}"
                              f", held-out {_pct(r['heldout_accuracy'])}" for r in runs)
        teacher = f" (teacher {_pct(runs[0]['teacher_dev_accuracy'])} dev)" if runs else ""
        out += [f"**QNLI** (non-standard: a split of the official dev set): in progress, "
                f"{len(runs)} of {progress['planned']} runs finished{teacher}"
                + (f": {done_runs}" if runs else "")
                + ". `python bench/paper.py qnli` resumes it (finished runs are kept).", ""]
    if qnli:
        out += _qnli(qnli, d.get("qnli_verdict"))
    return "\n".join(out)


def _qnli(q: dict, v: dict | None) -> list[str]:
    """Each QNLI arm's best-epoch dev and held-out accuracy over its seeds, and the
    seed-paired held-out difference under the SST-2 rule (two standard errors)."""
    by = {(r["variant"], r["seed"]): r for r in q["runs"]}
    arms = [a for a in ORDER if any(k[0] == a for k in by)]
    rows = []
    for a in arms:
        rs = [by[k] for k in sorted(by) if k[0] == a]
        best = [max(r["dev_by_epoch"]) for r in rs]
        held = [r["heldout_accuracy"] for r in rs]
        rows.append([a, ", ".join(str(r["seed"]) for r in rs), _mean_sd(best), _mean_sd(held),
                     ", ".join(str(r["dev_by_epoch"].index(max(r["dev_by_epoch"])) + 1)
                               for r in rs)])
    out = [f"**QNLI** (non-standard: no QNLI train split here, so a split of the official dev "
           f"set: teacher {q['teacher_train']:,} pairs, students {q['train']:,}, dev "
           f"{q['dev']:,}, held out {q['held_out']:,}; teacher dev "
           f"{_pct(q['teacher_dev_accuracy'])}"
           + (f"; beside it: {q['beside']}" if q.get("beside") else "") + "):", "",
           table(["arm", "seeds", "best dev (mean ± sd)", "held-out", "best epochs"], rows), ""]
    if v and v["se"]:
        out += [f"SAGE minus none, seed-paired held-out: {v['mean']:+.2f} ± {v['se']:.2f} points "
                f"(seeds {', '.join(map(str, v['seeds']))}): by the study's rule SAGE "
                + ("pays" if v["sage_pays"] else "does not pay") + " on this QNLI split; "
                + _per_second(v["sage_per_second"], v["seconds_to_within_none_best"])
                + ", counted in whole epochs with their dev scoring.", ""]
    return out


def _schedule(sc: dict) -> list[str]:
    """Why epoch 1 differs between the arms of a seed: their planned schedules, and the
    check that a flat one makes their epoch 1 the same."""
    p, e = sc["planned"], sc["check"]["epoch1"]

    def steps(task: str) -> str:
        n, s = p[task]["none"], p[task]["sage"]
        return (f"{n['steps']:,} against SAGE's {s['steps']:,} steps (warm-up {n['warmup_steps']:,}"
                f" against {s['warmup_steps']:,})")

    def first(name: str) -> str:
        n, s = e[name]["none"], e[name]["sage"]
        return (f"train loss {n['train_loss']:.6f} and {s['train_loss']:.6f}, dev "
                f"{_pct(n['dev_accuracy'])} and {_pct(s['dev_accuracy'])}")

    return [f"**Why epoch 1 differs between the arms of one seed**, though SAGE's first round "
            "comes after it: each arm's learning rate warms up over the first 10% of the steps "
            "it plans and decays to zero at the cap, and SAGE plans its synthetic points too. "
            f"`none` plans {steps('sst2')} on SST-2, {steps('qnli')} on QNLI. That is the "
            "only difference in epoch 1: with a constant rate and no warm-up both arms' "
            f"epoch 1 is the same, {first('constant')} (`python bench/paper.py schedule`, "
            f"the default MiniLM teacher on 2,000 SST-2 sentences, {sc['threads']} thread; "
            f"with the default schedule: {first('default')}). So a seed's arms part before "
            "the first round, most on QNLI (32 steps an epoch; below).", ""]


def _mean_sd(xs: list[float]) -> str:
    return _pct(statistics.mean(xs)) + (f" ± {100 * statistics.stdev(xs):.2f}"
                                        if len(xs) > 1 else "")


def _export(export: dict, teacher: dict | None) -> list[str]:
    """The headline student beside the teacher and its int8 copy: dev accuracy, size,
    batch-1 latency and throughput, each as measured (`-` where it was not)."""
    e = export.get("efficiency") or {}
    formats = {r["format"]: r for r in export["formats"]}
    batch = (e.get("student") or {}).get("examples", {}).get("batch_size")

    def row(name, acc, mb, ms, per_s):
        return [name, _pct(acc), "-" if mb is None else f"{mb:.1f}",
                "-" if ms is None else f"{ms:.1f}", "-" if per_s is None else f"{per_s:.0f}"]

    rows = []
    if e.get("teacher"):
        rows.append(row("teacher (PyTorch)", teacher and teacher["dev_accuracy"],
                        e.get("teacher_mb"), e["teacher"]["latency_ms"]["median"],
                        e["teacher"]["throughput"]["median"]))
    for name, b in (("teacher onnx", "teacher_onnx"), ("teacher int8", "teacher_int8")):
        q = (e.get("baselines") or {}).get(b)
        if q:
            rows.append(row(name, q.get("accuracy"), q.get("mb"), q["latency_ms"]["median"],
                            q["throughput"]["median"]))
    for f, r in formats.items():
        per_s = e["student"]["throughput"]["median"] if f == "pytorch" and e.get("student") \
            else None
        rows.append(row(f"**student** ({'PyTorch' if f == 'pytorch' else f})", r["accuracy"],
                        r["mb"], r["latency_ms"], per_s))
    return [f"**What the 67M student buys**: {export['student']} beside the teacher, "
            f"re-scored on dev (ONNX through onnxruntime); {export['threads']} thread, "
            f"{export['date']}; beside it: {export['beside']}. Batch-1 latency is the median; "
            f"throughput at batch {batch}, where measured:", "",
            table(["model", "dev accuracy", "MB", "batch-1 ms", "examples/s"], rows), ""]
