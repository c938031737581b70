"""The GLUE task shapes beyond binary classification, through the real `sage-rapids`
command on tiny random models: STS-B regression (a score per pair), MNLI's three
classes with two dev sets, WNLI by name; and the bad input each one invites."""

import json
import re

import numpy as np
import pytest
from conftest import save_tiny_teacher
from test_cli import cli
from test_tasks_cli import GLUE_ASSETS, metrics_rows, task_config

# a tiny teacher needs more steps to learn 32 scores than to learn 24 classes
STSB = {"teacher": {"finetune_limit": None, "finetune_epochs": 40.0, "finetune_lr": 3e-3}}


def stsb_config(tmp_path, teacher_dir, **sections):
    path = task_config(tmp_path, teacher_dir, "stsb", **sections)
    import yaml

    config = yaml.safe_load(path.read_text())
    config["teacher"].update(STSB["teacher"])
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_stsb_regression_end_to_end(tmp_path, tiny_teacher_dir):
    out = tmp_path / "stsb"  # pairs of texts, a score, and the teacher's layers learnt too
    proc = cli("run", "--config", stsb_config(tmp_path, tiny_teacher_dir, loss={
        "layers": 1.0, "layer_pool": "mean"}), "--out", out, "--quiet")
    assert "dev pearson: teacher / student" in proc.stdout
    assert "dev spearman: teacher / student" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task_type"] == "regression"
    assert summary["primary_metric"] == "pearson"
    assert summary["selected_by"] == "dev_pearson"
    assert "student_dev_accuracy" not in summary
    assert summary["teacher_dev_pearson"] > 0.3  # the teacher learnt the scores
    rows = metrics_rows(out)
    assert rows[0]["n_synthetic"] == 0 and rows[1]["n_synthetic"] == round(0.2 * 32)
    assert rows[0]["anchor_teacher_wrong"] is None  # no teacher "class" to be wrong about
    from safetensors.numpy import load_file

    pool = load_file(str(out / "checkpoint" / "rank0.safetensors"))  # synthetic pairs' states
    assert pool["pool.layers"].shape == (round(0.2 * 32), 2, 32)
    assert 0.0 <= rows[0]["partner_other_class"] <= 1.0  # partners a margin apart
    best = max(rows, key=lambda r: r["dev_pearson"])
    assert summary["best_epoch"] == best["epoch"]
    assert -1.0 <= summary["agreement"] <= 1.0  # Pearson of student against teacher
    # plain transformers loads a regression model that outputs one score ...
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(out / "student")
    tok = AutoTokenizer.from_pretrained(out / "student")
    assert model.config.num_labels == 1 and model.config.problem_type == "regression"
    batch = tok(["the plot was good"], ["the story was good"], return_tensors="pt")
    assert model(**batch).logits.shape == (1, 1)
    # ... and `evaluate` reproduces its Pearson from raw text
    scored = cli("evaluate", out / "student", "--data", "glue/stsb",
                 env_extra={"SAGE_DATA_DIR": str(GLUE_ASSETS.parent)}).stdout
    assert float(scored.split("pearson:")[1].split()[0]) == pytest.approx(
        best["dev_pearson"], abs=6e-5)
    assert "spearman:" in scored and "accuracy" not in scored


@pytest.mark.slow
def test_local_scores_infer_regression_and_encode_keeps_floats(tmp_path, tiny_teacher_dir):
    """A local file of fractional scores is a regression task without being told; its
    encoded shards keep the scores as floats and a run on them distils a score."""
    import pyarrow.parquet as pq

    rows = (GLUE_ASSETS / "stsb" / "train.tsv").read_text().splitlines()
    csv = ["text,other,rating"] + [",".join(r.split("\t")[7:10]).replace('"', "")
                                   for r in rows[1:]]
    (tmp_path / "scores.csv").write_text("\n".join(csv) + "\n")
    data = {"name": "local", "train_file": str(tmp_path / "scores.csv"),
            "dev_file": str(tmp_path / "scores.csv"), "text_column": "text",
            "text_pair_column": "other", "label_column": "rating"}
    config = stsb_config(tmp_path, tiny_teacher_dir, data=data)
    enc = tmp_path / "enc"
    cli("encode", "--config", config, str(tmp_path / "scores.csv"), "--out", enc, "--quiet")
    manifest = json.loads((enc / "manifest.json").read_text())
    assert manifest["task_type"] == "regression" and manifest["dtypes"]["label"] == "float32"
    shard = pq.read_table(enc / manifest["shards"][0]["shard"])
    labels = shard.column("label").to_numpy()
    assert labels.dtype == np.float32 and not np.all(labels == np.round(labels))
    assert shard.column("logits").type.list_size == 1
    out = tmp_path / "run"
    cli("run", "--config", config, "-o", f"data.encoded={enc}", "-o", "train.epochs=1",
        "--out", out, "--quiet")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task_type"] == "regression" and "student_dev_pearson" in summary


@pytest.mark.slow
def test_mnli_three_classes_two_dev_sets(tmp_path):
    teacher = save_tiny_teacher(tmp_path / "teacher3", num_labels=3)
    out = tmp_path / "mnli"
    proc = cli("run", "--config", task_config(tmp_path, teacher, "mnli"), "--out", out,
               "--quiet")
    assert "dev_matched accuracy: teacher / student" in proc.stdout
    assert "dev_mismatched accuracy: teacher / student" in proc.stdout
    assert re.search(r"dev_mismatched examples +\| 12\n", proc.stdout), proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["selected_by"] == "dev_matched_accuracy"
    for key in ("teacher_dev_matched_accuracy", "student_dev_matched_accuracy",
                "teacher_dev_mismatched_accuracy", "student_dev_mismatched_accuracy"):
        assert 0.0 <= summary[key] <= 1.0
    assert summary["dev_examples"] == summary["dev_mismatched_examples"] == 12
    assert summary["dev_sets"] == ["dev_matched", "dev_mismatched"]
    rows = metrics_rows(out)
    assert all("dev_matched_accuracy" in r and "dev_mismatched_accuracy" in r for r in rows)
    best = max(rows, key=lambda r: r["dev_matched_accuracy"])
    assert summary["best_epoch"] == best["epoch"]
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(out / "student").id2label == {
        0: "entailment", 1: "neutral", 2: "contradiction"}
    scored = cli("evaluate", out / "student", "--data", "glue/mnli", "--split",
                 "dev_mismatched",
                 env_extra={"SAGE_DATA_DIR": str(GLUE_ASSETS.parent)}).stdout
    assert float(scored.split("accuracy:")[1].split()[0]) == pytest.approx(
        best["dev_mismatched_accuracy"], abs=1e-6)


def test_select_by_can_name_another_dev_set():
    """`eval.select_by` as a metric (on the first set) or as `<set>_<metric>`."""
    from sage_rapids.config import load_config
    from sage_rapids.data.tasks import load_task
    from sage_rapids.run.preparation import report_metrics

    def key(*overrides):
        cfg = load_config(None, ["data.name=glue/mnli", f"data.path={GLUE_ASSETS / 'mnli'}",
                                 *overrides])
        return report_metrics(cfg, load_task(cfg.data, 0))

    assert key() == (["accuracy"], "dev_matched_accuracy")
    assert key("eval.select_by=mismatched_accuracy") == (["accuracy"],
                                                         "dev_mismatched_accuracy")
    assert key("eval.select_by=dev_mismatched_accuracy")[1] == "dev_mismatched_accuracy"


@pytest.mark.slow
def test_wnli_by_name(tmp_path, tiny_teacher_dir):
    out = tmp_path / "wnli"
    cli("run", "--config", task_config(tmp_path, tiny_teacher_dir, "wnli"), "--out", out,
        "--quiet", "-o", "train.epochs=1")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "glue/wnli" and summary["train_examples"] == 24
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(out / "student").id2label == {
        0: "not_entailment", 1: "entailment"}


def test_a_score_that_is_not_a_number_names_file_and_line(tmp_path, tiny_teacher_dir):
    lines = (GLUE_ASSETS / "stsb" / "train.tsv").read_text().splitlines()
    fields = lines[5].split("\t")
    lines[5] = "\t".join([*fields[:-1], "n/a"])
    folder = tmp_path / "stsb"
    folder.mkdir()
    (folder / "train.tsv").write_text("\n".join(lines) + "\n")
    (folder / "dev.tsv").write_text((GLUE_ASSETS / "stsb" / "dev.tsv").read_text())
    proc = cli("run", "--config", task_config(tmp_path, tiny_teacher_dir, "stsb"), "-o",
               f"data.path={folder}", "--out", tmp_path / "r", check=False)
    assert proc.returncode == 1
    assert f"{folder / 'train.tsv'}:6: score 'n/a' in column score is not a number" in \
        proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("override, expected", [
    ("data.task_type=classification", "data.task_type: glue/stsb is a regression task"),
    ("eval.metrics=[accuracy]", "eval.metrics: accuracy do not apply to a regression task"),
])
def test_classification_settings_on_a_regression_task_are_config_errors(
        tmp_path, tiny_teacher_dir, override, expected):
    proc = cli("run", "--config", task_config(tmp_path, tiny_teacher_dir, "stsb"), "-o",
               override, "--out", tmp_path / "r", check=False)
    assert proc.returncode == 2
    assert expected in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "r").exists()


def test_scores_read_as_classes_are_a_config_error(tmp_path, tiny_teacher_dir):
    """A local file of fractional scores with `data.task_type: classification`."""
    path = tmp_path / "scores.tsv"
    path.write_text("sentence\tlabel\nthe film was good\t4.5\nthe film was bad\t0.25\n")
    proc = cli("run", "--config", task_config(tmp_path, tiny_teacher_dir, "stsb"),
               "-o", "data.name=local", "-o", f"data.train_file={path}",
               "-o", f"data.dev_file={path}", "-o", "data.text_column=sentence",
               "-o", "data.text_pair_column=null", "-o", "data.path=null",
               "-o", "data.task_type=classification", "--out", tmp_path / "r", check=False)
    assert proc.returncode == 2
    assert f"data.task_type: {path}:2: the labels are scores" in proc.stderr
    assert "set data.task_type: regression" in proc.stderr and "Traceback" not in proc.stderr


def test_unknown_dev_set_in_select_by_is_a_config_error(tmp_path, tiny_teacher_dir):
    proc = cli("run", "--config", task_config(tmp_path, tiny_teacher_dir, "mnli"), "-o",
               "eval.select_by=mismatchd_accuracy", "--out", tmp_path / "r", check=False)
    assert proc.returncode == 2
    assert "eval.select_by: must be one of" in proc.stderr
    assert "[matched, mismatched]" in proc.stderr
