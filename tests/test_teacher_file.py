"""Teachers you cannot run here: outputs from a file (each target kind against a
hand-computed value, every malformed file in one paragraph naming file and line), a
student with its own input layer, and several teachers mixed, through the real CLI."""

import csv
import json
import math

import numpy as np
import pytest
from test_cli import cli, tiny_config

from sage_rapids.config import ConfigError, load_config
from sage_rapids.data.rows import DataError
from sage_rapids.data.teacher_file import FLOOR, read_teacher_outputs, row_logits
from sage_rapids.data.text_dataset import TextDataset
from sage_rapids.distillation.teachers import Outputs, combine

LABELS = ["neg", "pos"]


def test_each_target_kind_becomes_the_log_probabilities_it_describes():
    got, _ = row_logits({"probs": [0.25, 0.75]}, "probs", LABELS)
    np.testing.assert_allclose(got, [math.log(0.25), math.log(0.75)])
    got, _ = row_logits({"logits": [2.0, -1.0]}, "logits", LABELS)
    np.testing.assert_allclose(got, [2.0, -1.0])  # logits pass as they are
    # top-k over three labels, two given: renormalised over them, the third floored
    got, _ = row_logits({"logprobs": {"a": math.log(0.3), "b": math.log(0.1)}}, "logprobs",
                        ["a", "b", "c"])
    expect = np.array([0.75, 0.25, FLOOR])
    np.testing.assert_allclose(got, np.log(expect / expect.sum()), rtol=1e-6)
    got, _ = row_logits({"label": "pos", "confidence": 0.9}, "label", LABELS)
    np.testing.assert_allclose(np.exp(got), [0.1, 0.9], rtol=1e-6)
    got, _ = row_logits({"label": 1}, "label", ["a", "b", "c"])  # by index; confidence 1
    np.testing.assert_allclose(np.exp(got), np.array([FLOOR, 1, FLOOR]) / (1 + 2 * FLOOR))
    got, _ = row_logits({"probs": "[0.5, 0.5]"}, "probs", LABELS)  # a CSV cell holds JSON
    np.testing.assert_allclose(got, np.log([0.5, 0.5]))
    got, _ = row_logits({"score": "3.5"}, "score", ["score"])
    assert got.tolist() == [3.5]


@pytest.mark.parametrize("row, kind, problem", [
    ({"probs": [0.6, 0.6]}, "probs", "probs sum to 1.2, not 1 (tolerance 0.001)"),
    ({"probs": [0.5]}, "probs", "expected a list of 2 finite numbers"),
    ({"label": "maybe"}, "label", "unknown label 'maybe'; the task's labels: neg, pos"),
    ({"logprobs": {"neutral": -0.1}}, "logprobs", "unknown label 'neutral'"),
    ({"logprobs": {"pos": 0.5}}, "logprobs", "expected a log-probability (<= 0)"),
    ({"label": "pos", "confidence": 1.5}, "label", "confidence: expected a number in (0, 1]"),
    ({"score": "high"}, "score", "score: expected a number, got 'high'"),
])
def test_a_bad_row_says_what_is_wrong_with_it(row, kind, problem):
    got, text = row_logits(row, kind, LABELS)
    assert got is None and problem in text


def _train(n=4, pairs=False):
    return TextDataset([f"text {i}" for i in range(n)],
                       [f"pair {i}" for i in range(n)] if pairs else None,
                       np.arange(n) % 2, LABELS, "train.tsv")


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_rows_match_the_training_split_by_row_or_by_text_and_dev_rows_are_kept(tmp_path):
    train, dev = _train(6).subset(np.array([4, 1])), _train(3)  # a subset keeps its rows
    path = _jsonl(tmp_path / "t.jsonl", [
        {"row": r, "probs": [0.1 * r, 1 - 0.1 * r]} for r in range(6)] + [
        {"row": r, "split": "dev", "probs": [0.0, 1.0]} for r in range(3)])
    read = read_teacher_outputs(path, train, {"dev": dev})
    np.testing.assert_allclose(np.exp(read.splits["train"]), [[0.4, 0.6], [0.1, 0.9]], atol=1e-6)
    assert read.splits["dev"].shape == (3, 2) and read.key == "row" and read.kind == "probs"
    by_text = _jsonl(tmp_path / "p.jsonl", [
        {"text": f"text {i}", "text_pair": f"pair {i}", "logits": [i, 0]} for i in range(4)])
    read = read_teacher_outputs(by_text, _train(4, pairs=True).subset(np.array([3, 0])), {
        "dev": _train(2, pairs=True)})
    assert read.splits["train"].tolist() == [[3, 0], [0, 0]] and "dev" not in read.splits


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_csv_and_parquet_files_read_the_same(tmp_path, fmt):
    rows = [{"text": f"text {i}", "probs": [0.3, 0.7]} for i in range(4)]
    if fmt == "csv":
        path = tmp_path / "t.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "probs"])
            writer.writerows([r["text"], json.dumps(r["probs"])] for r in rows)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = tmp_path / "t.parquet"
        pq.write_table(pa.Table.from_pylist(rows), path)
    read = read_teacher_outputs(path, _train(4), {"dev": _train(2)})
    np.testing.assert_allclose(np.exp(read.splits["train"]), [[0.3, 0.7]] * 4, rtol=1e-6)


@pytest.mark.parametrize("rows, message", [
    ([{"row": 0, "probs": [0.5, 0.5]}, {"row": 1, "probs": [0.5, 0.5]}],
     r"t.jsonl: 2 of 4 training examples have no teacher outputs \(first rows: 2, 3\)"),
    ([{"row": i, "label": "neg" if i else "positive"} for i in range(4)],
     r"t.jsonl:1: unknown label 'positive'; the task's labels: neg, pos"),
    ([{"row": i, "probs": [0.5, 0.4 if i == 2 else 0.5]} for i in range(4)],
     r"t.jsonl:3: probs sum to 0.9, not 1"),
    ([{"row": i, "prob": [0.5, 0.5]} for i in range(4)],
     r"t.jsonl: no target column; a teacher outputs file holds exactly one of logits, probs, "
     r"logprobs, label, score \(columns found: row, prob\)"),
    ([{"id": i, "probs": [0.5, 0.5]} for i in range(4)], r"t.jsonl: no key column"),
    ([{"row": 0, "probs": [0.5, 0.5]}, {"row": 0, "probs": [0.5, 0.5]}],
     r"t.jsonl:2: row 0 of train again \(first on line 1\)"),
    ([{"row": 0, "split": "test", "probs": [0.5, 0.5]}], r"t.jsonl:1: split 'test'"),
    ([{"row": i, "score": 1.0} for i in range(4)], r"a score column, but this is a "
                                                   r"classification task"),
])
def test_every_malformed_file_names_the_file_and_the_line(tmp_path, rows, message):
    with pytest.raises(DataError, match=message):
        read_teacher_outputs(_jsonl(tmp_path / "t.jsonl", rows), _train(4), {"dev": _train(2)})


def test_teachers_mix_by_the_weighted_mean_of_probabilities_or_of_logits():
    a = Outputs(np.log(np.array([[0.9, 0.1]], dtype=np.float32)), {"dev": None}, "a")
    b = Outputs(np.log(np.array([[0.5, 0.5]], dtype=np.float32)),
                {"dev": np.zeros((1, 2), np.float32)}, "b")
    probs = combine([a, b], [3.0, 1.0], "probs")
    np.testing.assert_allclose(np.exp(probs.train), [[0.8, 0.2]], rtol=1e-6)  # 3:1 weights
    logits = combine([a, b], [3.0, 1.0], "logits")
    np.testing.assert_allclose(logits.train, [[0.75 * math.log(0.9) + 0.25 * math.log(0.5),
                                               0.75 * math.log(0.1) + 0.25 * math.log(0.5)]],
                               rtol=1e-6)
    assert probs.devs["dev"] is None  # known only where every teacher gave it


def test_what_needs_a_teacher_model_says_so_without_one():
    with pytest.raises(ConfigError) as err:
        load_config(None, ["teacher.model=null", "teacher.targets=t.jsonl",
                           "augment.strategy=sage", "loss.layers=1"])
    problems = "\n".join(err.value.problems)
    assert "teacher.finetune: there is no teacher model to fine-tune" in problems
    assert "student.model: without a teacher model the student reads token ids through its " \
           "own input layer" in problems
    assert "augment.strategy: sage has the teacher label the synthetic points" in problems
    assert "loss.layers: needs the teacher model's hidden states" in problems
    with pytest.raises(ConfigError) as err:
        load_config(None, ["teacher.others=[{finetune_lmit: 3}, {targets: a.jsonl, "
                           "weight: -1}, 5, {combine: logits}]"])
    problems = [p.rsplit(" (overrides ", 1)[0] for p in err.value.problems]  # less origins
    assert "teacher.others: an encoded corpus" not in " ".join(problems)
    with pytest.raises(ConfigError, match="teacher.others: an encoded corpus"):
        load_config(None, ["teacher.others=[{finetune_limit: 2000}]", "data.encoded=enc"])
    assert "teacher.others[0].finetune_lmit: unknown key (did you mean " \
           "'teacher.others[0].finetune_limit'?)" in problems
    assert "teacher.others[1].weight: must be in (0.0, inf), got -1.0" in problems
    assert any(p.startswith("teacher.others[2]: expected a mapping") for p in problems)
    assert "teacher.others[3].combine: set it on the main teacher section only" in problems


def _outputs_file(folder, data_dir, kind="probs", dev=True):
    """Teacher outputs for the toy SST-2 folder, keyed by row, from its gold labels."""
    rows = []
    for split, name in (("train", "train.tsv"), ("dev", "dev.tsv")):
        if split == "dev" and not dev:
            continue
        with open(data_dir / "glue" / "sst2" / name) as handle:
            lines = list(csv.reader(handle, delimiter="\t"))[1:]
        for i, (_, label) in enumerate(lines):
            row = {"row": i, "split": split}
            row.update({"probs": [0.85, 0.15] if label == "0" else [0.2, 0.8]}
                       if kind == "probs" else {"label": label, "confidence": 0.9})
            rows.append(row)
    return _jsonl(folder / f"teacher_{kind}.jsonl", rows)


@pytest.mark.slow
def test_a_run_from_a_file_of_outputs_alone_with_the_students_own_input_layer(
        tmp_path, tiny_teacher_dir, sst_like_dir):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    targets = _outputs_file(tmp_path, sst_like_dir, "label")
    config = tiny_config(tmp_path, tiny_teacher_dir, augment={"strategy": "none"},
                         train={"epochs": 2, "lr": 2e-3}, eval={"efficiency": True},
                         teacher={"model": None, "finetune": False, "targets": str(targets)},
                         student={"model": str(tiny_teacher_dir), "layers": None})
    out = tmp_path / "run"
    proc = cli("run", "--config", config, "--out", out, env_extra={
        "SAGE_DATA_DIR": str(sst_like_dir)})
    assert "teacher outputs: teacher_label.jsonl" in proc.stderr
    assert "(outputs from a file)" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["teacher_dev_accuracy"] == 1.0  # the file's dev rows are the gold labels
    assert summary["teacher_parameters"] is None and summary["efficiency"]["teacher"] is None
    model = AutoModelForSequenceClassification.from_pretrained(out / "student")
    tok = AutoTokenizer.from_pretrained(out / "student")
    assert model(**tok(["a fine film"], return_tensors="pt")).logits.shape == (1, 2)


@pytest.mark.slow
def test_two_teachers_mix_and_a_third_recomputes_nothing_for_the_others(
        tmp_path, tiny_teacher_dir, sst_like_dir):
    env = {"SAGE_DATA_DIR": str(sst_like_dir), "SAGE_CACHE_DIR": str(tmp_path / "cache")}
    targets = _outputs_file(tmp_path, sst_like_dir, "probs", dev=False)
    config = tiny_config(tmp_path, tiny_teacher_dir, augment={"strategy": "none"},
                         train={"epochs": 1},
                         teacher={"others": [{"targets": str(targets), "weight": 0.5}]})
    proc = cli("run", "--config", config, "--out", tmp_path / "two", env_extra=env)
    assert "teachers: 0.67 x " in proc.stderr and "0.33 x teacher_probs.jsonl" in proc.stderr
    assert "teacher outputs: scoring 240 training and 60 dev examples" in proc.stderr
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert len(summary["teachers"]) == 2 and summary["combine"] == "probs"
    assert summary["teacher_dev_accuracy"] is None  # the file has no dev rows
    assert "the teacher's dev metrics are unknown" in " ".join(summary["notes"])
    three = cli("run", "--config", config, "--out", tmp_path / "three", "-o",
                "teacher.others=[{targets: " + str(targets) + "}, {finetune_lr: 0.001}]",
                "-o", "teacher.combine=logits", env_extra=env)
    assert "teacher outputs: cached" in three.stderr  # the first teacher's, from the last run
    assert three.stderr.count("teacher outputs: scoring") == 1  # only the new teacher
    assert "mixed by the weighted mean of their logits" in three.stderr


@pytest.mark.slow
@pytest.mark.parametrize("rows, message", [
    ("missing", "of 240 training examples have no teacher outputs"),
    ("unknown", ":1: unknown label '7'; the task's labels: negative, positive (or their "
                "indices from 0)"),
    ("sum", ":2: probs sum to 1.5, not 1"),
    ("column", "no target column"),
])
def test_a_malformed_outputs_file_ends_in_one_paragraph_and_writes_nothing(
        tmp_path, tiny_teacher_dir, sst_like_dir, rows, message):
    good = [{"row": i, "probs": [0.5, 0.5]} for i in range(240)]
    bad = {"missing": good[:200], "unknown": [{"row": 0, "label": 7}],
           "sum": [good[0], {"row": 1, "probs": [0.7, 0.8]}, *good[2:]],
           "column": [{"row": i, "p": 1} for i in range(240)]}[rows]
    targets = _jsonl(tmp_path / "bad.jsonl", bad)
    config = tiny_config(tmp_path, tiny_teacher_dir, augment={"strategy": "none"},
                         teacher={"targets": str(targets)})
    proc = cli("run", "--config", config, "--out", tmp_path / "run", env_extra={
        "SAGE_DATA_DIR": str(sst_like_dir)}, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"error: {targets}" in proc.stderr and message in proc.stderr
    assert not (tmp_path / "run").exists()  # nothing written
