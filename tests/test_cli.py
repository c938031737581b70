"""End to end through the installed `sage-rapids` command, on tiny random models."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BIN = Path(sys.executable).parent / "sage-rapids"


def cli(*args, env_extra=None, check=True):
    env = {**os.environ, **(env_extra or {})}
    proc = subprocess.run([str(BIN), *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def tiny_config(tmp_path, teacher_dir, **sections) -> Path:
    import yaml

    config = {
        "seed": 0, "device": "cpu",
        "data": {"name": "glue/sst2", "max_length": 32},
        "teacher": {"model": str(teacher_dir), "finetune": True, "finetune_limit": 200,
                    "finetune_lr": 3e-3, "finetune_epochs": 12.0,
                    "finetune_batch_size": 16},
        "student": {"layers": [0, 2]},
        "train": {"epochs": 3, "batch_size": 16, "lr": 5e-4},
        "augment": {"strategy": "sage", "space": "student", "umap_epochs": 30, "k": 5,
                    "umap_n_neighbors": 8},
        "eval": {"efficiency": False},  # timed once, in test_sage_run_end_to_end
    }
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_entry_point_is_installed():
    assert BIN.exists()
    assert "distil" in cli("--help").stdout.lower()


DEVICES = [pytest.param("cpu"), pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs CUDA")])]


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_sage_run_end_to_end(tmp_path, tiny_teacher_dir, sst_like_dir, device):
    env = {"SAGE_DATA_DIR": str(sst_like_dir)}
    out = tmp_path / "run"
    proc = cli("run", "--config", tiny_config(tmp_path, tiny_teacher_dir,
                                              eval={"efficiency": True}), "--out", out,
               "--quiet", "--device", device, env_extra=env)
    assert "dev accuracy: teacher / student" in proc.stdout
    table = re.sub(r"\n +\| ", " ", proc.stdout)  # a long value's lines, joined again
    assert re.search(r"what the student buys +\| student [\d.]+ dev accuracy \([\d.]+% of the "
                     r"teacher\), [\d.]+x faster at batch 128, [\d.]+x at batch 1, [\d.]+ MB "
                     r"against [\d.]+ MB", table), proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["teacher_dev_accuracy"] >= 0.9  # the fine-tuned tiny teacher learnt the toy task
    assert summary["student_dev_accuracy"] >= 0.8
    speed = summary["efficiency"]  # measured, so only their shape is asserted
    assert speed["device"] == device and speed["threads"] >= 1
    for model in ("teacher", "student"):
        assert speed[model]["examples"] == {"latency": 60, "throughput": 60, "batch_size": 128}
        params = speed[model]["parameters"]
        assert params["embeddings"] + params["rest"] == params["total"] > 0
        assert speed[model]["latency_ms"]["p95"] >= speed[model]["latency_ms"]["median"] > 0
        assert speed[model]["throughput"]["max"] >= speed[model]["throughput"]["min"] > 0
    assert speed["student"]["parameters"]["rest"] < speed["teacher"]["parameters"]["rest"]
    assert 0 < speed["student_mb"] < speed["teacher_mb"]
    for key in ("teacher_dev_accuracy", "student_dev_accuracy", "best_epoch",
                "student_parameters", "total_seconds"):
        assert key in summary
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[0]["n_synthetic"] == 0
    assert rows[1]["n_synthetic"] == rows[2]["n_synthetic"] == 48  # ratio 0.2 of 240
    assert rows[0]["anchor_mean_loss"] > rows[0]["overall_mean_loss"]
    knn = {"cpu": ("scikit-learn",), "cuda": ("cuml", "torch-bruteforce")}[device]
    assert summary["implementations"]["knn"].startswith(knn)
    assert summary["precision"] == "fp32"
    profile = json.loads((out / "profile.json").read_text())
    assert profile["implementations"] == summary["implementations"]
    for stage in ("train", "reduce", "anchors", "neighbours", "synthesize", "label"):
        assert profile["total"][stage] > 0
    assert 0 < profile["augmentation_overhead"] and 0 < profile["labelling_overhead"]
    for name in ("region_map_epoch1.png", "region_map_epoch2.png", "training_curves.png"):
        assert (out / "plots" / name).read_bytes()[:4] == b"\x89PNG"
    import yaml

    saved = yaml.safe_load((out / "config.yaml").read_text())  # where the data was found
    assert saved["data"]["path"] == str((sst_like_dir / "glue" / "sst2").resolve())
    # the exported student, scored from raw text by plain transformers, matches the run;
    # `evaluate` finds the run's data through its config.yaml, without the environment
    scored = cli("evaluate", out / "student", "--device", device,
                 env_extra={"SAGE_DATA_DIR": ""}).stdout
    accuracy = float(scored.split("accuracy:")[1].split()[0])
    best = rows[summary["best_epoch"] - 1]["dev_accuracy"]
    assert accuracy == pytest.approx(best, abs=6e-5)  # printed with 4 decimals
    # a second run into the same folder is refused, nothing overwritten
    again = cli("run", "--config", tiny_config(tmp_path, tiny_teacher_dir), "--out", out,
                "--quiet", env_extra=env, check=False)
    assert again.returncode == 2 and "already holds a run" in again.stderr


@pytest.mark.slow
def test_none_strategy_runs_without_synthetic(tmp_path, tiny_teacher_dir, sst_like_dir):
    out = tmp_path / "none"
    cli("run", "--config", tiny_config(tmp_path, tiny_teacher_dir), "-o", "train.epochs=2",
        "-o", "augment.strategy=none", "--out", out, "--quiet",
        env_extra={"SAGE_DATA_DIR": str(sst_like_dir)})
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["n_synthetic"] for r in rows] == [0, 0]
    assert not (out / "plots" / "region_map_epoch1.png").exists()


def test_config_commands(tmp_path):
    shown = cli("config", "show").stdout
    assert "strategy: none" in shown and "early_stopping: 2" in shown
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochs: 0\n  batchsize: 8\n")
    proc = cli("config", "validate", bad, check=False)
    assert proc.returncode == 2
    assert "train.epochs: must be in [1, inf), got 0" in proc.stderr
    assert "did you mean 'train.batch_size'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_data_is_a_clear_runtime_error(tmp_path, tiny_teacher_dir):
    proc = cli("run", "--config", tiny_config(tmp_path, tiny_teacher_dir), "-o",
               f"data.path={tmp_path / 'nowhere'}", "--out", tmp_path / "r", "--quiet",
               check=False, env_extra={"SAGE_DATA_DIR": ""})
    assert proc.returncode == 1
    assert "no dev.tsv" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("args, says", [
    (["run", "-o", "train.epochs=three"], "train.epochs: expected an integer, got three"),
    (["ladder", "--layers", "one"], "expected comma-separated whole numbers, got 'one'"),
])
def test_a_refusal_that_needs_no_model_answers_before_torch_loads(tmp_path, args, says):
    """A mistyped option or key is answered in a fraction of a second: the library's
    heavy imports (torch, transformers: seconds) wait until a command gets past them."""
    script = ("import sys\nfrom sage_rapids.cli.main import entry\n"
              "try:\n    entry()\nfinally:\n"
              "    print(sorted({'torch', 'transformers'} & set(sys.modules)))\n")
    proc = subprocess.run([sys.executable, "-c", script, *args, "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
