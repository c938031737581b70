"""Every task shape users bring, end to end through the real `sage-rapids` command on
tiny random models: a sentence-pair task with a BOM'd header (MRPC), a headerless task
judged by MCC (CoLA), a Hugging Face `save_to_disk` folder, and an unlabelled corpus.
Plus: the same seed gives the same student whether the teacher was cached or not."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import save_tiny_teacher
from safetensors.numpy import load_file
from test_cli import DEVICES, cli, tiny_config

GLUE_ASSETS = Path(__file__).parent / "assets" / "glue"


def task_config(tmp_path, teacher_dir, task, **sections):
    data = {"name": f"glue/{task}", "path": str(GLUE_ASSETS / task), "max_length": 32,
            **sections.pop("data", {})}
    return tiny_config(tmp_path, teacher_dir, data=data,
                       train={"epochs": 2, "batch_size": 8, **sections.pop("train", {})},
                       teacher={"finetune_limit": None, "finetune_epochs": 4.0},
                       augment={"umap_n_neighbors": 5, "k": 3, **sections.pop("augment", {})},
                       **sections)


def metrics_rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_sentence_pair_task_end_to_end(tmp_path, tiny_teacher_dir, device):
    out = tmp_path / "mrpc"
    proc = cli("run", "--config", task_config(tmp_path, tiny_teacher_dir, "mrpc"), "--out", out,
               "--quiet", "--device", device)
    assert "dev f1: teacher / student" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["primary_metric"] == "f1"
    for key in ("teacher_dev_f1", "student_dev_f1", "teacher_dev_accuracy",
                "student_dev_accuracy"):
        assert 0.0 <= summary[key] <= 1.0
    rows = metrics_rows(out)
    assert rows[1]["n_synthetic"] == round(0.2 * 24)  # a SAGE round ran on pairs
    best = max(rows, key=lambda r: r["dev_f1"])
    assert summary["best_epoch"] == best["epoch"]
    # the exported student classifies a raw pair with plain transformers ...
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(out / "student")
    tok = AutoTokenizer.from_pretrained(out / "student")
    assert model.config.id2label == {0: "not_equivalent", 1: "equivalent"}
    batch = tok(["the plot was good"], ["the story was good"], return_tensors="pt")
    assert batch["token_type_ids"].max() == 1
    assert model(**batch).logits.shape == (1, 2)
    # ... and scores dev from raw text exactly as the run measured it in vector space
    scored = cli("evaluate", out / "student", "--data", "glue/mrpc", "--device", device,
                 env_extra={"SAGE_DATA_DIR": str(GLUE_ASSETS.parent)}).stdout
    assert float(scored.split("f1:")[1].split()[0]) == pytest.approx(best["dev_f1"], abs=6e-5)


@pytest.mark.slow
def test_headerless_task_is_judged_by_its_own_metric(tmp_path, tiny_teacher_dir):
    out = tmp_path / "cola"
    proc = cli("run", "--config", task_config(tmp_path, tiny_teacher_dir, "cola"), "--out", out,
               "--quiet")
    assert "dev mcc: teacher / student" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["primary_metric"] == "mcc" and summary["train_examples"] == 24
    rows = metrics_rows(out)
    assert summary["best_epoch"] == max(rows, key=lambda r: r["dev_mcc"])["epoch"]
    labels = json.loads((out / "student" / "config.json").read_text())["id2label"]
    assert labels == {"0": "unacceptable", "1": "acceptable"}


@pytest.mark.slow
def test_hugging_face_dataset_runs(tmp_path, tiny_teacher_dir):
    datasets = pytest.importorskip("datasets")
    from conftest import make_sentences

    texts, labels = make_sentences(60, seed=3)
    label = datasets.ClassLabel(names=["neg", "pos"])
    features = datasets.Features({"text": datasets.Value("string"), "label": label})
    datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"text": texts[:40], "label": labels[:40]}, features),
        "validation": datasets.Dataset.from_dict({"text": texts[40:], "label": labels[40:]},
                                                 features),
    }).save_to_disk(str(tmp_path / "ds"))
    out = tmp_path / "run"
    config = tiny_config(tmp_path, tiny_teacher_dir, data={
        "name": "hf", "path": str(tmp_path / "ds"), "text_column": "text"},
        train={"epochs": 2}, teacher={"finetune_limit": None})
    cli("run", "--config", config, "--out", out, "--quiet")
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["train_examples"], summary["dev_examples"]) == (40, 20)
    labels = json.loads((out / "student" / "config.json").read_text())["id2label"]
    assert labels == {"0": "neg", "1": "pos"}


@pytest.mark.slow
def test_unlabelled_corpus_distils_with_alpha_one(tmp_path, tiny_teacher_dir, sst_like_dir):
    from conftest import make_sentences

    corpus = tmp_path / "corpus.jsonl"
    texts, _ = make_sentences(80, seed=9)
    corpus.write_text("".join(json.dumps({"sentence": t}) + "\n" for t in texts))
    dev = sst_like_dir / "glue" / "sst2" / "dev.tsv"
    data = {"name": "local", "train_file": str(corpus), "dev_file": str(dev),
            "text_column": "sentence"}
    # the teacher was fine-tuned elsewhere: fine-tune it here on labelled data first
    teacher = tiny_config(tmp_path, tiny_teacher_dir)
    shown = cli("teacher", "--config", teacher, env_extra={"SAGE_DATA_DIR": str(sst_like_dir)})
    tuned = shown.stdout.split("teacher: ")[1].split()[0]
    config = tiny_config(tmp_path, tuned, data=data, teacher={"finetune": False},
                         loss={"alpha": 1.0}, train={"epochs": 2})
    out = tmp_path / "run"
    cli("run", "--config", config, "--out", out, "--quiet")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["train_examples"] == 80
    assert any("unlabelled" in note for note in summary["notes"])
    assert summary["student_dev_accuracy"] >= 0.8  # learnt from the teacher's logits alone
    refused = cli("run", "--config", config, "-o", "loss.alpha=0.5", "--out", tmp_path / "r2",
                  "--quiet", check=False)
    assert refused.returncode == 2
    assert "loss.alpha" in refused.stderr and "data.label_column" in refused.stderr
    assert "Traceback" not in refused.stderr


@pytest.mark.slow
def test_same_seed_same_student_whether_the_teacher_was_cached_or_not(tmp_path):
    teacher = save_tiny_teacher(tmp_path / "teacher", dropout=0.1)  # dropout draws random numbers
    config = task_config(tmp_path, teacher, "sst2")
    cache = {"SAGE_CACHE_DIR": str(tmp_path / "empty-cache")}
    cold = cli("run", "--config", config, "--out", tmp_path / "cold", env_extra=cache)
    assert "fine-tuning" in cold.stderr
    warm = cli("run", "--config", config, "--out", tmp_path / "warm", env_extra=cache)
    assert "using cached fine-tuned model" in warm.stderr
    assert metrics_rows(tmp_path / "cold")[-1]["train_loss"] == \
        metrics_rows(tmp_path / "warm")[-1]["train_loss"]
    a = load_file(str(tmp_path / "cold" / "student" / "model.safetensors"))
    b = load_file(str(tmp_path / "warm" / "student" / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_unknown_glue_task_is_a_config_error_before_any_run(tmp_path):
    proc = cli("config", "validate", Path(__file__).parent.parent / "configs" / "default.yaml",
               "-o", "data.name=glue/foo", check=False)
    assert proc.returncode == 2 and "unknown GLUE task foo;" in proc.stderr
    run = cli("run", "-o", "data.name=glue/foo", "--out", tmp_path / "r", check=False)
    assert run.returncode == 2 and not (tmp_path / "r").exists()
