"""What a new user met first: scores read by label name, config errors before anything is
written, a model that needs the hub refused at once, and a model that learnt nothing named."""

import json

import numpy as np
import pytest
import torch
from conftest import make_sentences, save_tiny_teacher, tiny_bert, tiny_tokenizer
from test_cli import cli, tiny_config


def _named_model(path, names):
    """A tiny classifier whose classes are named `names`, in that output order."""
    model = tiny_bert(num_labels=len(names), seed=3)
    model.config.id2label = dict(enumerate(names))
    model.config.label2id = {n: i for i, n in enumerate(names)}
    model.save_pretrained(path, safe_serialization=True)
    tiny_tokenizer().save_pretrained(path)
    return model


def _accuracy_by_hand(model, texts, gold_names):
    tok = tiny_tokenizer()
    with torch.no_grad():
        logits = model(**tok(texts, return_tensors="pt", padding=True)).logits
    said = [model.config.id2label[int(i)] for i in logits.argmax(-1)]
    return float(np.mean([a == b for a, b in zip(said, gold_names)]))


def test_evaluate_reads_labels_by_name_and_refuses_labels_the_model_lacks(tmp_path):
    # the model answers `positive` at output 0: by position, a file's sorted labels
    # (negative, positive) would be read the other way round
    model = _named_model(tmp_path / "model", ["positive", "negative"])
    texts, labels = make_sentences(80, seed=4)
    names = ["positive" if y else "negative" for y in labels]
    data = tmp_path / "dev.csv"
    data.write_text("sentence,label\n" + "".join(f"{t},{n}\n" for t, n in zip(texts, names)))
    proc = cli("evaluate", tmp_path / "model", "--data", data, "--device", "cpu")
    accuracy = float(proc.stdout.split("accuracy:")[1].split()[0])
    assert accuracy == pytest.approx(_accuracy_by_hand(model, texts, names), abs=6e-5)
    # labels the model never saw: one paragraph naming both sets, no score
    relabelled = tmp_path / "approve.csv"
    relabelled.write_text("sentence,label\n" + "".join(
        f"{t},{'approve' if y else 'reject'}\n" for t, y in zip(texts, labels)))
    proc = cli("evaluate", tmp_path / "model", "--data", relabelled, "--device", "cpu",
               check=False)
    assert proc.returncode == 1 and "accuracy" not in proc.stdout
    assert "(approve, reject) are not the classes of" in proc.stderr
    assert "(positive, negative)" in proc.stderr and "Traceback" not in proc.stderr
    # a 3-class model on a 2-class set (the same check, without a process of its own)
    from sage_rapids.data.rows import DataError
    from sage_rapids.distillation.labels import model_label_order

    with pytest.raises(DataError, match=r"\(food, sports, weather\)"):
        model_label_order(["negative", "positive"], {0: "food", 1: "sports", 2: "weather"},
                          3, "dev.csv", "topics")


def test_a_teacher_with_its_classes_in_another_order_answers_by_name(tmp_path):
    from sage_rapids.distillation.models import load_classifier, output_layer, reorder_outputs
    from sage_rapids.distillation.labels import model_label_order

    model = _named_model(tmp_path / "t", ["POSITIVE", "NEGATIVE"])
    order = model_label_order(["negative", "positive"], model.config.id2label, 2, "task", "t")
    assert order.how == "names" and order.index.tolist() == [1, 0]
    loaded, tok = load_classifier(str(tmp_path / "t"))
    batch = tok(["a fun film", "a dull mess"], return_tensors="pt", padding=True)
    with torch.no_grad():
        before = loaded(**batch).logits
        reorder_outputs(loaded, order.index, ["negative", "positive"])
        after = loaded(**batch).logits
    assert torch.equal(after, before[:, [1, 0]]) and output_layer(loaded).out_features == 2
    assert loaded.config.id2label == {0: "negative", 1: "positive"}


def test_a_student_layer_the_teacher_lacks_is_refused_before_anything_is_written(
        tmp_path, tiny_teacher_dir, sst_like_dir):
    out = tmp_path / "run"
    proc = cli("run", "--config", tiny_config(tmp_path, tiny_teacher_dir), "-o",
               "student.layers=[0,7]", "--out", out, "--quiet", check=False,
               env_extra={"SAGE_DATA_DIR": str(sst_like_dir)})
    assert proc.returncode == 2, proc.stderr
    assert "student.layers: [7] beyond the teacher's 4 layers" in proc.stderr
    assert "(-o student.layers=[0,7])" in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()  # nothing written, so nothing for --resume to reject


def test_config_validate_flags_a_hub_model_when_offline(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text("data:\n  name: glue/sst2\nteacher:\n  model: bert-base-uncased\n")
    proc = cli("config", "validate", mine, check=False, env_extra={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2
    assert "teacher.model: 'bert-base-uncased' is neither a local folder nor an alias" in \
        proc.stderr and "HF_HUB_OFFLINE=1 is set" in proc.stderr
    assert "(mine.yaml, line 4)" in proc.stderr
    # the same file without the model line starts from `sage-rapids run`'s defaults: fine
    mine.write_text("data:\n  name: glue/sst2\n")
    assert cli("config", "validate", mine).stdout.strip().endswith("ok")


def test_a_missing_glue_copy_fails_at_once_when_the_hub_is_off(tmp_path, tiny_teacher_dir):
    import time

    start = time.perf_counter()
    proc = cli("run", "--config", tiny_config(tmp_path, tiny_teacher_dir), "--out",
               tmp_path / "run", "--quiet", check=False,
               env_extra={"SAGE_DATA_DIR": "", "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "the Hugging Face hub cannot be asked: HF_HUB_OFFLINE=1 is set" in proc.stderr
    assert time.perf_counter() - start < 60  # no retries: the process's start-up alone


def test_a_teacher_whose_head_was_initialised_at_load_is_named(tmp_path, sst_like_dir):
    import sage_rapids

    base = tmp_path / "base"
    tiny_bert().bert.save_pretrained(base, safe_serialization=True)  # no classifier head
    tiny_tokenizer().save_pretrained(base)
    settings = {"data.name": "glue/sst2", "data.path": str(sst_like_dir / "glue" / "sst2"),
                "data.max_length": 32, "teacher.finetune": False, "student.layers": [0, 2],
                "train.epochs": 1, "train.batch_size": 16, "eval.efficiency": False,
                "augment.plots": False, "device": "cpu"}
    result = sage_rapids.distill(teacher=str(base), overrides=settings, out=tmp_path / "run",
                                 quiet=True)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["teacher_learnt_nothing"] is True
    assert any("has no trained classification head (classifier.bias, classifier.weight "
               "initialised at load)" in n for n in summary["notes"])
    assert result.summary["notes"] == summary["notes"]


def test_learnt_nothing_names_a_constant_student_and_keeps_it_off_the_front():
    from sage_rapids.distillation.evaluate import STUDENT_ADVICE, learnt_nothing
    from sage_rapids.run.ladder_table import format_ladder, ladder_table

    gold = np.array([0, 1, 1, 1, 0, 1, 1, 0, 1, 1])
    said = learnt_nothing(np.ones(10, dtype=np.int64), gold, "the student", STUDENT_ADVICE)
    assert said.startswith("the student learnt next to nothing: dev accuracy 0.7000 against "
                           "0.7000 for always answering the majority class")
    assert learnt_nothing(gold.copy(), gold, "the student", STUDENT_ADVICE) is None

    def summary(acc, flat, speed):
        model = {"throughput": {"median": speed}, "latency_ms": {"median": 1000 / speed},
                 "parameters": {"embeddings": 10, "rest": int(1e4 / speed), "total": 1},
                 "examples": {"batch_size": 128}}
        return {"primary_metric": "accuracy", "student_dev_accuracy": acc, "task": "glue/sst2",
                "teacher_dev_accuracy": 0.88, "student_learnt_nothing": flat,
                "efficiency": {"student": model, "teacher": {**model, "throughput":
                                                            {"median": 10.0}},
                               "device": "cpu", "threads": 1}}

    runs = [{"rung": "1", "layers": 1, "width": None, "seed": 0,
             "summary": summary(0.51, True, 100.0)},  # majority class, and the fastest
            {"rung": "3", "layers": 3, "width": None, "seed": 0,
             "summary": summary(0.87, False, 30.0)}]
    table = ladder_table(runs, within=50.0)
    # the front runs over every row, the teacher's included (more accurate than "3")
    assert table["front_throughput"] == ["teacher", "3"] and table["smallest_within"] == "3"
    text = format_ladder(table)
    assert "± 0.0000" not in text and "one seed: no spread" in text
    assert "! learnt nothing (the majority class or the mean score) on 1 of 1 seeds of 1" in text


def test_help_texts_say_what_the_commands_do(monkeypatch):
    from click.testing import CliRunner

    from sage_rapids.cli.main import main

    # the group quiets transformers for the process it owns; in this test process that
    # would outlast the test and turn bars off for the next test on this worker
    monkeypatch.setattr("sage_rapids.progress.quiet_libraries", lambda: None)
    runner = CliRunner()
    run = runner.invoke(main, ["run", "--help"]).output
    assert "off by default" in run and "with SAGE augmentation." not in run
    evaluate = runner.invoke(main, ["evaluate", "--help"]).output
    assert "overrides the config" not in evaluate and "by name" in evaluate
    profile = runner.invoke(main, ["profile", "--help"]).output
    assert "profile.json is written there" in profile
