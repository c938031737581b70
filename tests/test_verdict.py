"""Distil or just quantize: the static student, the teacher's ONNX and int8 copies as
baselines (cached with the teacher), every rung in int8, the budget's verdict and the
student's model card; with tiny models, through the API and the CLI."""

import json

import numpy as np
import pytest
import torch
import yaml
from test_cli import cli, tiny_config
from test_ladder import _summary

import sage_rapids
from sage_rapids.distillation.static import fit_reduction
from sage_rapids.run.efficiency import headline
from sage_rapids.run.ladder_table import format_ladder, ladder_table


def test_the_static_reduction_is_the_pca_of_the_training_text_s_word_vectors():
    rng = np.random.default_rng(0)
    table = torch.as_tensor(rng.normal(size=(50, 8)) * np.arange(1, 9), dtype=torch.float32)
    ids = rng.integers(0, 20, size=400)  # tokens 20..49 never occur in the text
    projection = torch.nn.Linear(8, 3)
    fit_reduction(projection, table, ids)
    vectors = table.numpy()[ids].astype(np.float64)  # every occurrence, as a PCA sees it
    centred = vectors - vectors.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    w = projection.weight.detach().numpy()
    for k in range(3):  # the same components, up to sign, in the same order
        assert abs(abs(float(w[k] @ vt[k])) - 1.0) < 1e-4
    out = projection(torch.as_tensor(vectors, dtype=torch.float32)).detach().numpy()
    assert np.abs(out.mean(0)).max() < 1e-3  # centred on the text's mean


def _runs(metric_int8: dict, int8_speed: dict, baselines: dict | None) -> list[dict]:
    runs = []
    for name, k, metric, speed, params in [("static", 0, 0.80, 5000.0, 200),
                                           ("L1", 1, 0.86, 400.0, 300),
                                           ("L2", 2, 0.89, 250.0, 500)]:
        summary = _summary(metric, speed, params)
        if baselines:
            summary["efficiency"]["baselines"] = baselines
        int8 = {"accuracy": metric_int8[name], "throughput": {"median": int8_speed[name]},
                "latency_ms": {"median": 1000 / int8_speed[name]}, "mb": params / 400}
        runs.append({"rung": name, "layers": k, "width": None, "seed": 0,
                     "summary": summary, "int8": int8})
    return runs


BASELINES = {"teacher_onnx": {"accuracy": 0.90, "throughput": {"median": 120.0, "min": 110.0,
                                                               "max": 130.0},
                              "latency_ms": {"median": 8.0}, "mb": 10.0},
             "teacher_int8": {"accuracy": 0.897, "throughput": {"median": 200.0, "min": 190.0,
                                                                "max": 210.0},
                              "latency_ms": {"median": 5.0}, "mb": 2.6}}


def test_the_budget_picks_the_fastest_model_and_says_so_in_one_sentence():
    runs = _runs({"static": 0.79, "L1": 0.858, "L2": 0.888},
                 {"static": 9000.0, "L1": 900.0, "L2": 500.0}, BASELINES)
    table = ladder_table(runs, within=1.5)
    names = [r["rung"] for r in table["baselines"]] + [r["rung"] for r in table["int8"]]
    assert names == ["teacher onnx", "teacher int8", "static int8", "L1 int8", "L2 int8"]
    # within 1.5 points of 0.90: L2 (0.89) and its int8 copy (0.888), the teacher's copies;
    # the fastest of those is L2 int8
    assert table["pick"] == "L2 int8"
    assert table["verdict"] == ("int8 2-layer student: 0.888 accuracy (teacher 0.900), 5.0x the "
                                "fp32 teacher and 2.5x its int8 copy at batch 8, 1.2 MB "
                                "(within 1.5 points of the teacher); the int8 teacher alone "
                                "would also do, at 2.0x")
    assert "teacher int8" in table["front_throughput"] and "static int8" in table["front_size"]
    text = format_ladder(table)
    assert "L2 int8" in text and "teacher int8" in text and "verdict: int8 2-layer" in text
    # a latency budget only: the lowest batch-1 latency that meets it
    by_latency = ladder_table(runs, within=1.5, budget={"max_latency_ms": 4.0})
    assert by_latency["pick"] == "L2 int8"
    assert "at batch 1" in by_latency["verdict"] and "at most 4.0 ms" in by_latency["verdict"]
    assert "would also do" not in by_latency["verdict"]  # the int8 teacher takes 5 ms
    # the int8 teacher is the fastest that stays within 0.5 points: no distillation
    close = ladder_table(runs, within=0.5)
    assert close["pick"] == "teacher int8"
    assert close["verdict"].startswith("quantizing the teacher alone meets the budget")
    assert close["verdict"].endswith("distillation is not needed")
    # a throughput no model reaches
    none = ladder_table(runs, within=1.5, budget={"min_throughput": 1e6})
    assert none["pick"] is None and none["verdict"].startswith("no model meets the budget")
    # the static student wins where the budget is loose
    loose = ladder_table(runs, within=20.0)
    assert loose["pick"] == "static int8"
    assert loose["verdict"].startswith("int8 static student: 0.790")


def test_without_baselines_the_table_is_the_students_and_the_teacher():
    runs = [{**r, "int8": None} for r in _runs({"static": 0.8, "L1": 0.8, "L2": 0.8},
                                                {"static": 1.0, "L1": 1.0, "L2": 1.0}, None)]
    table = ladder_table(runs, within=1.5)
    assert table["baselines"] == [] and table["int8"] == []
    assert table["pick"] == "L2" and "its int8 copy" not in table["verdict"]


@pytest.mark.slow
def test_static_rung_int8_rows_baselines_and_the_verdict_through_the_cli(
        tmp_path, tiny_teacher_dir, sst_like_dir):
    """`ladder --layers 0,1`: the static student trains, every rung is quantized and
    re-scored, the teacher's copies are rows (measured once: the second ladder reads
    them from the cache), and the command ends with the verdict."""
    env = {"SAGE_DATA_DIR": str(sst_like_dir), "SAGE_CACHE_DIR": str(tmp_path / "cache")}
    config = tiny_config(tmp_path, tiny_teacher_dir, train={"epochs": 2},
                         augment={"strategy": "none"})
    out = tmp_path / "ladder"
    proc = cli("ladder", "--config", config, "--layers", "0,1", "--within", "50",
               "--min-throughput", "1", "--out", out, env_extra=env)
    assert "exporting the teacher to ONNX and int8 once" in proc.stderr
    table = json.loads((out / "ladder.json").read_text())
    rows = {r["rung"]: r for r in [*table["rungs"], *table["int8"], *table["baselines"]]}
    assert set(rows) == {"static", "L1", "static int8", "L1 int8", "teacher onnx",
                         "teacher int8"}
    static = json.loads((out / "static-s0" / "summary.json").read_text())
    assert static["student_layers"] == 0
    assert static["student_parameters"] < json.loads(
        (out / "L1-s0" / "summary.json").read_text())["student_parameters"]
    # the teacher's ONNX copy answers as the teacher does
    assert rows["teacher onnx"]["metric_mean"] == pytest.approx(table["teacher"]["metric_mean"])
    assert proc.stdout.strip().splitlines()[-2].startswith("verdict: ")
    assert table["pick"] in rows or table["pick"] == "teacher"
    # the static student's int8 copy is a plain ONNX file that answers like it
    export = json.loads((out / "static-s0" / "int8.json").read_text())
    assert 0.0 <= export["accuracy"] <= 1.0 and export["mb"] > 0


def test_the_teacher_s_copies_are_measured_once_and_cached_with_it(tmp_path, tiny_teacher_dir):
    from conftest import make_sentences

    from sage_rapids.data.text_dataset import TextDataset
    from sage_rapids.distillation.models import load_classifier
    from sage_rapids.run.baselines import teacher_baselines

    texts, labels = make_sentences(40, seed=3)
    dev = TextDataset(texts, None, np.array(labels), ["negative", "positive"], "dev")
    teacher, tokenizer = load_classifier(str(tiny_teacher_dir))
    said = []
    first = teacher_baselines(teacher, tokenizer, dev, ["accuracy"], 32, 16, tmp_path,
                              said.append)
    again = teacher_baselines(teacher, tokenizer, dev, ["accuracy"], 32, 16, tmp_path,
                              said.append)
    assert said == ["efficiency: exporting the teacher to ONNX and int8 once (cached with it)"]
    assert not first["cached"] and again["cached"]
    assert {k: v for k, v in again.items() if k != "cached"} == \
        {k: v for k, v in first.items() if k != "cached"}
    assert first["teacher_int8"]["mb"] < first["teacher_onnx"]["mb"]
    (folder,) = (tmp_path / "baselines").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["baselines.json", "model.onnx",
                                                       "model_quantized.onnx"]
    # another dev set is another measurement
    other = TextDataset(texts[:20], None, np.array(labels[:20]), ["negative", "positive"], "dev")
    assert not teacher_baselines(teacher, tokenizer, other, ["accuracy"], 32, 16, tmp_path,
                                 said.append)["cached"]


@pytest.mark.slow
def test_a_run_names_the_int8_teacher_and_writes_a_model_card_that_parses(
        tmp_path, tiny_teacher_dir, sst_like_dir, monkeypatch):
    monkeypatch.setenv("SAGE_DATA_DIR", str(sst_like_dir))
    monkeypatch.setenv("SAGE_CACHE_DIR", str(tmp_path / "cache"))
    config = tiny_config(tmp_path, tiny_teacher_dir, train={"epochs": 1},
                         augment={"strategy": "none"}, eval={"efficiency": True},
                         student={"layers": []})
    result = sage_rapids.distill(config=config, out=tmp_path / "run", quiet=True)
    summary = result.summary
    e = summary["efficiency"]
    assert e["baselines"]["teacher_int8"]["mb"] < e["baselines"]["teacher_onnx"]["mb"]
    assert e["speedup_batch_int8"] > 0
    assert "against the int8 teacher" in headline(summary)  # the final table's last line
    card = (tmp_path / "run" / "student" / "README.md").read_text()
    assert card.startswith("---\n")
    header = yaml.safe_load(card.split("---\n")[1])
    index = header["model-index"][0]["results"][0]
    assert index["dataset"] == {"name": "GLUE SST2", "type": "nyu-mll/glue", "config": "sst2",
                                "split": "validation"}
    accuracy = next(m for m in index["metrics"] if m["type"] == "accuracy")
    assert accuracy["value"] == round(summary["student_dev_accuracy"], 4)
    assert "base_model" not in header  # a local folder is no hub id
    assert "A static (no transformer layer) student" in card and "teacher (ONNX, int8)" in card
    # export carries the card beside the ONNX files
    proc = cli("export", tmp_path / "run" / "student", "--out", tmp_path / "onnx",
               env_extra={"SAGE_DATA_DIR": str(sst_like_dir)})
    assert proc.returncode == 0
    assert (tmp_path / "onnx" / "README.md").read_text() == card
    scored = cli("evaluate", tmp_path / "run" / "student",
                 env_extra={"SAGE_DATA_DIR": str(sst_like_dir)})  # read by its model type
    assert f"accuracy: {summary['student_dev_accuracy']:.4f}" in scored.stdout


def test_a_static_student_with_layer_transfer_is_refused_by_its_key():
    from sage_rapids.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"student.layers: \[\] is the static student"):
        load_config(None, ["student.layers=[]", "loss.layers=1.0"])
    with pytest.raises(ConfigError, match="student.static_dim"):
        load_config(None, ["student.layers=[]", "student.static_dim=0"])
    assert load_config(None, ["student.layers=[]"]).student.static_dim == 256
