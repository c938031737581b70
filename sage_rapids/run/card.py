"""The student's model card: `RUN_DIR/student/README.md` in the Hugging Face layout.

YAML front matter (base model, datasets, the task's metrics as `model-index` results;
the license is left to the user, who knows the teacher's and the data's terms), then a
body with the teacher, the distillation settings, the dev scores and what the student
buys. `export` copies it beside the ONNX files, so either folder can be pushed to a hub
as it is.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ..config import Config

# hub ids of the aliases' models (the base model a hub links to)
HUB_IDS = {"minilm-l6": "sentence-transformers/all-MiniLM-L6-v2",
           "mpnet-base": "sentence-transformers/all-mpnet-base-v2"}
# the metric ids the hub's model-index knows
METRIC_IDS = {"accuracy": "accuracy", "f1": "f1", "mcc": "matthews_correlation",
              "pearson": "pearsonr", "spearman": "spearmanr"}
GLUE_SPLITS = {"mnli": "validation_matched"}


def base_model(name: str | None) -> str | None:
    """The teacher as a hub id: an alias's model, or a name that is not a local path."""
    if not name:
        return None
    if name in HUB_IDS:
        return HUB_IDS[name]
    return None if name.startswith((".", "/", "~")) or Path(name).exists() else name


def dataset_entry(config: Config) -> dict:
    """The model-index dataset: a GLUE task by its hub id, or the user's file."""
    name = config.data.name
    if name.startswith("glue/"):
        task = name.split("/", 1)[1]
        return {"name": f"GLUE {task.upper()}", "type": "nyu-mll/glue", "config": task,
                "split": GLUE_SPLITS.get(task, "validation")}
    source = config.data.dev_file or config.data.hub_name or name
    return {"name": Path(str(source)).name, "type": "custom", "split": "dev"}


def front_matter(summary: dict, config: Config) -> dict:
    """The card's YAML header: the student's dev metrics as model-index results."""
    key = summary.get("selected_by") or f"dev_{summary['primary_metric']}"
    prefix = key.rpartition("_")[0]
    metrics = [m for m in METRIC_IDS if f"student_{prefix}_{m}" in summary]
    dataset = dataset_entry(config)
    header = {"library_name": "transformers", "pipeline_tag": "text-classification",
              "tags": ["knowledge-distillation", "sage-rapids", "text-classification"]}
    base = base_model(summary.get("teacher"))
    if base:
        header["base_model"] = base
    if dataset["type"] != "custom":
        header["datasets"] = [dataset["type"]]
    header["metrics"] = [METRIC_IDS[m] for m in metrics]
    header["model-index"] = [{
        "name": "sage-rapids student",
        "results": [{"task": {"type": "text-classification", "name": "Text Classification"},
                     "dataset": dataset,
                     "metrics": [{"type": METRIC_IDS[m],
                                  "value": round(float(summary[f"student_{prefix}_{m}"]), 4),
                                  "name": f"{prefix} {m}"} for m in metrics]}]}]
    return header


def _speed_rows(e: dict) -> list[str]:
    rows = []

    def row(name: str, timed: dict | None, mb: float | None) -> None:
        if timed:
            rows.append(f"| {name} | {timed['throughput']['median']:.0f} | "
                        f"{timed['latency_ms']['median']:.2f} | "
                        + (f"{mb:.1f}" if mb else "-") + " |")

    row("teacher (PyTorch, fp32)", e.get("teacher"), e.get("teacher_mb"))
    base = e.get("baselines") or {}
    row("teacher (ONNX, int8)", base.get("teacher_int8"),
        (base.get("teacher_int8") or {}).get("mb"))
    row("this student (PyTorch, fp32)", e.get("student"), e.get("student_mb"))
    return rows


def model_card(summary: dict, config: Config) -> str:
    """The README.md of the student folder (front matter and body)."""
    header = yaml.safe_dump(front_matter(summary, config), sort_keys=False)
    key = summary.get("selected_by") or f"dev_{summary['primary_metric']}"
    prefix = key.rpartition("_")[0]
    metrics = [m for m in METRIC_IDS if f"student_{prefix}_{m}" in summary]
    layers = summary["student_layers"]
    kind = "static (no transformer layer)" if layers == 0 else f"{layers}-layer"
    teacher = base_model(summary.get("teacher")) or summary.get("teacher") or \
        "a teacher's outputs"
    if summary.get("teacher") and config.teacher.finetune:
        teacher += f" fine-tuned on `{config.data.name}`"
    lines = [
        "---", header.rstrip(),
        "# license: set the license your teacher's and your data's terms allow",
        "---", "",
        f"# A {kind} student distilled from {teacher}", "",
        f"Distilled with sage-rapids on `{config.data.name}` "
        f"({summary['train_examples']:,} training examples"
        + (f", {summary['n_synthetic_total']:,} synthetic" if summary.get("n_synthetic_total")
           else "") + f"). {summary['student_parameters']:,} parameters"
        + (f" against the teacher's {summary['teacher_parameters']:,}"
           if summary.get("teacher_parameters") else "") + ".", "",
        f"## Scores ({prefix} set, {summary.get(f'{prefix}_examples') or summary['dev_examples']:,}"
        " examples)", "", "| metric | student | teacher |", "|---|---|---|"]
    for m in metrics:
        t = summary.get(f"teacher_{prefix}_{m}")
        lines.append(f"| {m} | {summary[f'student_{prefix}_{m}']:.4f} | "
                     + (f"{t:.4f}" if t is not None else "-") + " |")
    t, a = config.train, config.augment
    lines += ["", "## Distillation", "",
              "| setting | value |", "|---|---|",
              f"| student | {kind}"
              + (f", teacher layers {list(config.student.layers)}" if config.student.layers
                 else "") + " |",
              f"| loss | KD at temperature {config.loss.temperature}, weight {config.loss.alpha}"
              " (the rest on the gold labels) |",
              f"| augmentation | {a.strategy}" + (f" (ratio {a.ratio})" if a.strategy != "none"
                                                   else "") + " |",
              f"| optimiser | AdamW, lr {t.lr}, batch {t.batch_size}, {t.schedule} schedule |",
              f"| epochs | best {summary['best_epoch']}, stopped after "
              f"{summary.get('stopped_epoch', summary['best_epoch'])} (cap {t.epochs}) |",
              f"| seed | {config.seed if t.seed is None else t.seed} |"]
    e = summary.get("efficiency")
    if e:
        threads = f"{e['threads']} thread{'s' if e['threads'] != 1 else ''}"
        lines += ["", f"## Speed ({e['device']}, {threads}; measured once, on the machine that "
                  "trained it)", "",
                  f"| model | examples/s (batch {e['student']['examples']['batch_size']}) | "
                  "batch-1 ms | MB |", "|---|---|---|---|", *_speed_rows(e)]
    lines += ["", "## Use", "", "```python",
              "from transformers import pipeline", "",
              'classify = pipeline("text-classification", model="PATH_OR_HUB_ID")',
              'print(classify("a gripping, funny film"))', "```", ""]
    if layers == 0:
        lines += ["This student's PyTorch weights load with `sage_rapids` installed (its model "
                  "type, `sage-static`, is registered on import); `sage-rapids export` writes "
                  "an ONNX file that needs nothing but onnxruntime.", ""]
    return "\n".join(lines)


def write_model_card(folder: Path, summary: dict, config: Config) -> None:
    from ..artifacts import write_atomic

    write_atomic(folder / "README.md", model_card(summary, config).encode("utf-8"))
