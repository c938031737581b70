"""The human-facing output of a run without running one: the final table for every task
shape, and the training-curves figure, from summaries and metrics built by hand."""

import pytest

from sage_rapids.run.report import format_summary, plot_training_curves

NOTE = ("the teacher learnt next to nothing: dev accuracy 0.4583 against 0.5417 for always "
        "answering the majority class, MCC 0.000. The student would distil a constant; raise "
        "teacher.finetune_epochs or teacher.finetune_lr, or give a stronger teacher.model")


def efficiency(teacher: bool = True) -> dict:
    """What `pipeline.deployed_speed` adds, with the recorder's `student_mb`."""
    def timed(speed, ms):
        return {"latency_ms": {"median": ms, "p95": ms * 1.3},
                "latency_e2e_ms": {"median": ms * 1.2, "p95": ms * 1.5},
                "throughput": {"median": speed, "min": speed * 0.9, "max": speed * 1.1},
                "throughput_e2e": {"median": speed * 0.8, "min": speed * 0.7,
                                   "max": speed * 0.9},
                "examples": {"latency": 100, "throughput": 256, "batch_size": 128},
                "parameters": {"embeddings": 23_440_896, "rest": 42_532_608,
                               "total": 65_973_504}}
    student = timed(1834.2, 4.7)
    if not teacher:
        return {"device": "cuda", "threads": 16, "teacher": None, "student": student,
                "student_mb": 265.3}
    return {"device": "cuda", "threads": 16, "teacher": timed(612.9, 9.1), "student": student,
            "speedup_batch": 2.99, "speedup_batch1": 1.94, "speedup_batch_e2e": 2.41,
            "teacher_mb": 1421.5, "student_mb": 265.3}


def summary(task: str, metrics: list[str], sets: tuple[str, ...] = ("dev",), **extra) -> dict:
    """What `pipeline.summarize` and `pipeline.run` write, for `metrics` on dev `sets`."""
    scores = {f"{who}_{d}_{m}": 0.8312 for who in ("teacher", "student") for d in sets
              for m in metrics}
    return {"task": task, "train_examples": 392_702, "world_size": 1,
            "dev_examples": 9_815, "dev_sets": list(sets),
            **{f"{d}_examples": 9_832 for d in sets[1:]},
            "teacher": "/scratch/checkpoints/teachers/roberta-large-finetuned-on-the-task",
            "teacher_parameters": 355_362_819, "task_type": "classification",
            "primary_metric": metrics[0], "selected_by": f"{sets[0]}_{metrics[0]}", **scores,
            "student_layers": 6, "student_parameters": 82_119_939,
            "student_trainable_parameters": 82_119_939, "best_epoch": 3, "agreement": 0.9121,
            "strategy": "sage", "n_synthetic_total": 1_178_106, "total_seconds": 13_412.7,
            "precision": "bf16", "implementations": {"umap": "cuml", "knn": "cuml"},
            "teacher_learnt_nothing": False, "student_learnt_nothing": False, "notes": [],
            "stopped_epoch": 3, "stop_reason": "reached train.epochs (3)", "restarts": 0,
            **extra}


SHAPES = {
    "sst2": summary("glue/sst2", ["accuracy"]),
    "mrpc": summary("glue/mrpc", ["f1", "accuracy"]),
    "stsb": summary("glue/stsb", ["pearson", "spearman"], task_type="regression"),
    "mnli": summary("glue/mnli", ["accuracy"], ("dev_matched", "dev_mismatched")),
    "several teachers": summary("glue/mrpc", ["f1", "accuracy", "mcc"], combine="probs",
                                teachers=[f"/scratch/teachers/roberta-large-seed-{i}"
                                          for i in range(4)], notes=[NOTE]),
    "long dev set names": summary("local", ["f1", "accuracy"], (
        "dev_reviews_held_out_from_the_2019_and_2020_crawls", "dev_reviews_of_other_products")),
    "stopped early": summary("local", ["accuracy"], stopped_epoch=4, stop_reason=(
        "dev accuracy did not improve for 2 epochs (train.early_stopping: 2)")),
}


@pytest.mark.parametrize("with_efficiency", [False, True], ids=["plain", "efficiency"])
@pytest.mark.parametrize("shape", SHAPES)
def test_the_final_table_is_at_most_100_characters_wide(shape, with_efficiency):
    s = dict(SHAPES[shape], notes=SHAPES[shape]["notes"] + [NOTE])
    if with_efficiency:
        s["efficiency"] = efficiency(teacher=shape != "stopped early")
    table = format_summary(s)
    lines = table.splitlines()
    assert max(map(len, lines)) <= 100, table
    assert lines[0] == lines[-1] == "-" * max(map(len, lines))
    # nothing lost to the wrapping: the value column, read in order, holds every word
    values = " ".join(line.partition(" | ")[2] for line in lines[1:-1])
    assert " ".join(NOTE.split()) in values and "1,178,106 synthetic samples" in values
    labels = [line.partition(" | ")[0].strip() for line in lines[1:-1]]
    assert "teacher-student agreement" in labels and "total time" in labels
    assert ("what the student buys" in labels) == with_efficiency


def test_long_values_wrap_under_their_column():
    table = format_summary(dict(SHAPES["mnli"], notes=[NOTE]))
    lines = table.splitlines()[1:-1]
    bars = {line.index(" | ") for line in lines}
    assert len(bars) == 1, table  # one column edge for every line, continuations included
    label = "dev_mismatched accuracy: teacher / student"
    assert any(line.startswith(label) and "0.8312 / 0.8312" in line for line in lines)
    sizes = [line.split(" | ") for line in lines if " examples " in line]
    assert [(k.strip(), v) for k, v in sizes] == [
        ("train examples", "392,702"), ("dev_matched examples", "9,815"),
        ("dev_mismatched examples", "9,832")], table  # every dev set, by its name
    first = next(i for i, line in enumerate(lines) if line.startswith("note"))
    assert lines[first + 1].startswith(" " * len("dev_mismatched") + " ")  # continued


def epochs(synthetic: list[int]) -> list[dict]:
    return [{"epoch": i + 1, "dev_accuracy": 0.7 + 0.05 * i, "teacher_dev_accuracy": 0.9,
             "train_loss": 0.5 - 0.1 * i, "n_synthetic": n} for i, n in enumerate(synthetic)]


def test_training_curves_leave_out_the_synthetic_panel_when_there_were_none(tmp_path):
    with_points = plot_training_curves(epochs([0, 1200, 1300]), tmp_path / "a.png")
    without = plot_training_curves(epochs([0, 0, 0]), tmp_path / "b.png")
    assert [ax.get_title() for ax in with_points.axes] == [
        "dev accuracy", "train loss (mean per sample)", "synthetic points trained on"]
    assert [ax.get_title() for ax in without.axes] == [
        "dev accuracy", "train loss (mean per sample)"]
    assert (tmp_path / "a.png").stat().st_size > 0 and (tmp_path / "b.png").stat().st_size > 0
