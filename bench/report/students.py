"""What the student buys (`bench/results/ladder.json`, `export.json`, from `python\nbench/ladder.py`), and teachers you cannot run here (`teachers.json`, from `python\nbench/teachers.py`)."""

from __future__ import annotations

from .common import _diff, machine, table


def _millions(n: int) -> str:
    return f"{n / 1e6:.1f}M"


def _label(r: dict) -> str:
    """`teacher`, `teacher int8`, `static`, `3 layers int8`, ..."""
    if r.get("model") == "teacher" or r["rung"] == "teacher":
        return r["rung"]
    kind = "static" if r["layers"] == 0 else f"{r['layers']} layer{'s' if r['layers'] > 1 else ''}"
    return kind + (" int8" if r.get("format") == "int8" else "")


def ladder(d: dict, export: dict | None) -> str:
    metric = d["metric"]
    out = ["## What each student size buys, against the teacher quantized",
           "",
           f"`python bench/ladder.py` ({machine(d)}; beside it: {d['beside']}). SST-2 in the "
           "embedded default's\nregime: one teacher (all-MiniLM-L6-v2 fine-tuned on 20,000 "
           "examples) and one pass of its targets for\nevery rung; students of each depth "
           "from evenly spread teacher layers, and the static student (no\ntransformer "
           "layer: the teacher's word vectors reduced to 256 dimensions by a PCA of the "
           "training\ntext, mean-pooled, a head), distilled on 8,000 with the default's "
           f"settings, student seeds {d['seeds']}.\nEvery model is measured the same way "
           f"(token ids in, logits out): throughput at batch {d['batch_size']} and batch-1\n"
           "latency, medians over the seeds' runs; `int8` rows are the same students "
           "exported to ONNX,\nquantized (dynamic, per channel) and re-scored through "
           "onnxruntime; the teacher's ONNX and int8\ncopies were measured once and cached "
           "with it. `*` marks the Pareto front of the metric against\nthroughput, over "
           "every row.", "",
           f"**Verdict** (`--within {d['within']}`): {d['verdict']}.", ""]
    int8 = {r["model"]: r for r in d.get("int8", [])}
    ordered = [d["teacher"], *d.get("baselines", []),
               *[x for r in d["rungs"] for x in (r, int8.get(r["rung"])) if x is not None]]
    rows = []
    for r in ordered:
        star = "*" if r["rung"] in d["front_throughput"] else ""
        spread = f" ± {r['metric_sd']:.4f}" if r.get("seeds", 1) > 1 else ""
        speed = f"{r['throughput']:.0f}" + (f" ({r['throughput_range'][0]:.0f}-"
                                           f"{r['throughput_range'][1]:.0f})"
                                           if r.get("seeds", 1) > 1 else "")
        rows.append([_label(r) + star, f"{r['metric_mean']:.4f}{spread}", speed,
                     f"{r.get('speedup', 1.0):.2f}x",
                     f"{r['speedup_int8']:.2f}x" if "speedup_int8" in r else "-",
                     f"{r['latency_ms']:.2f}", _millions(r["parameters"]["total"]),
                     f"{r['mb']:.1f}" if r.get("mb") else "-"])
    out.append(table(["model", metric, "examples/s", "vs teacher", "vs int8 teacher",
                      "batch-1 ms", "params", "MB"], rows))
    out += ["", f"Smallest student within {d['within']} points of the teacher: "
            f"**{d['smallest_within'] or 'none'}**. The word-embedding table (11.7M) is most "
            "of every transformer's\nparameters; the layers are what the speed pays for.", "",
            "![ladder](../bench/results/ladder.png)", ""]
    if export:
        out += export_table(export, "the default student")
    return "\n".join(out)


def export_table(export: dict, what: str) -> list[str]:
    """An export's formats re-scored (`export.json`): the lines of its paragraph."""
    primary = export["primary_metric"]
    return [f"**Export** of {what} (`sage-rapids export ... --quantize int8`, "
            f"{export['device']}, {export['threads']} threads; dev re-scored through "
            "onnxruntime):", "",
            table(["format", f"dev {primary}", "max abs logit diff", "MB", "batch-1 ms",
                   "within tolerance"],
                  [[r["format"], f"{r[primary]:.4f}", f"{r['max_abs_logit_diff']:.1e}",
                    f"{r['mb']:.1f}", f"{r['latency_ms']:.2f}",
                    "yes" if r["within_tolerance"] else "**no**"] for r in export["formats"]]),
            ""]


LABELS = {"loaded": "teacher loaded (the default)", "file": "its probabilities from a file",
          "file_only": "the file alone, no teacher model", "weak": "teacher B alone (2,000)",
          "mix_probs": "A + B, mean of probabilities", "mix_logits": "A + B, mean of logits"}


def teachers(d: dict) -> str:
    out = ["## Teachers you cannot run here", "",
           f"`python bench/teachers.py` ({d['date']}; beside it: {d['beside']}). SST-2, the "
           "default's teacher A\n(20,000 examples) and student regime; student seeds 0-2 "
           "(`train.seed`), so every arm learns\nfrom the same teacher and examples; "
           f"held-out: {d['held_out']:,} training examples no teacher saw. Teacher B is\nthe "
           "same base fine-tuned on 2,000 examples. `file_only` has no teacher model: its "
           "student is the\npretrained MiniLM's layers 0, 2, 4 reading token ids through "
           "its own input layer.", ""]
    rows = [[LABELS.get(a, a), len(s["seeds"]), f"{s['teacher_dev']:.4f}"
             if s["teacher_dev"] is not None else "-", f"{s['dev_mean']:.4f}",
             f"{s['heldout_mean']:.4f}", f"{s['seconds_median']:.0f}"]
            for a, s in d["arms"].items()]
    out.append(table(["arm", "seeds", "teacher dev", "student dev", "held-out",
                      "s / run"], rows))
    diffs = [[k.replace("-", " - "), v["n"], _diff(v, "dev"), _diff(v, "heldout")]
             for k, v in d["pairs"].items() if v]
    out += ["", "Seed-paired differences (points, mean ± standard error):", "",
            table(["pair", "seeds", "dev", "held-out"], diffs), ""]
    return "\n".join(out)


def big_teacher(d: dict, export: dict | None) -> str:
    """A 110M teacher (`python bench/ladder.py --teacher mpnet-base ...`, `mpnet.json`)\n    and its students of the paper's size and of 3 layers, one seed each."""
    t = d["teacher"]
    out = ["## A 110M teacher: all-mpnet-base-v2 and its 6- and 3-layer students",
           "",
           f"`{d['command'].split(' --beside')[0]}` ({machine(d)}; beside it: {d['beside']}). "
           "SST-2 in the "
           "embedded default's\nregime with `teacher.model: mpnet-base` (MPNet, 12 layers, "
           f"width 768, {_millions(t['parameters']['total'])} parameters):\nthe teacher "
           "fine-tuned on 20,000 training sentences (1 epoch, lr 1e-4), each student built "
           "from\nevenly spread teacher layers (6: the even layers, the paper's student "
           "size) and distilled on 8,000\nwith the default's settings (plain distillation, "
           f"early stopping, at most 6 epochs), student seeds\n{d['seeds']}"
           + (": one seed, so no spread" if len(d["seeds"]) == 1 else "")
           + f". The command's last process took {d['seconds'] / 60:.0f} minutes (an "
           "interrupted ladder resumes:\nthe cached teacher and finished epochs carry over); "
           "each rung's own minutes are in the table.", ""]
    rows = [["teacher (MPNet, 12 layers)", f"{t['metric_mean']:.4f}", "", "",
             f"{t['throughput']:.1f}", "1.0x", f"{t['latency_ms']:.1f}",
             _millions(t["parameters"]["total"]), f"{t['mb']:.1f}" if t.get("mb") else "-"]]
    detail = {r["run"].split("-s")[0]: r for r in d.get("runs_detail", [])}
    for r in d["rungs"]:
        run = detail.get(r["rung"], {})
        curve = ", ".join(f"{x:.4f}" for x in run.get("dev", []))
        rows.append([f"{r['layers']} layers", f"{r['metric_mean']:.4f}",
                     f"{run['best_epoch']} of {run['stopped_epoch']}" if run else "",
                     f"{run['total_seconds'] / 60:.1f}" if run else "",
                     f"{r['throughput']:.1f}", f"{r['speedup']:.2f}x", f"{r['latency_ms']:.1f}",
                     _millions(r["parameters"]["total"]),
                     f"{r['mb']:.1f}" if r.get("mb") else "-"])
        if curve:
            rows[-1][0] += f" (dev by epoch: {curve})"
    out.append(table(["model", d["metric"], "best epoch", "run minutes", "examples/s",
                      "speed-up", "batch-1 ms", "parameters", "MB"], rows))
    out.append("")
    if export:
        out += export_table(export, export["student"])
    return "\n".join(out)
