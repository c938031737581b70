"""The benchmarks' --quick modes, so the scripts cannot rot: their machinery on tiny
random models and toy SST-2-shaped data (what they measure needs the real files and
weights; the machinery does not)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import glue_sst2_dir

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def tiny_bench(tmp_path_factory, tiny_teacher_dir):
    """A config naming the tiny teacher, and toy SST-2 files big enough for every
    benchmark's quick sizes (held-out 300 + train 600)."""
    root = tmp_path_factory.mktemp("bench")
    glue_sst2_dir(root / "data", 1000, 120, seed=5)
    config = {"seed": 0, "device": "cpu",
              "data": {"name": "glue/sst2", "max_length": 32},
              "teacher": {"model": str(tiny_teacher_dir), "finetune": True,
                          "finetune_lr": 3e-3, "finetune_epochs": 3.0,
                          "finetune_batch_size": 16},
              "student": {"layers": [0, 2]},
              "train": {"batch_size": 16, "lr": 5e-4},
              "augment": {"umap_epochs": 30, "k": 5, "umap_n_neighbors": 8}}
    path = root / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, str(root / "data")


def quick(script, tmp_path, tiny_bench, *extra) -> dict:
    """The arguments of subprocess.run / Popen for a benchmark's --quick mode on the tiny
    config into tmp_path, its temporary files in tmp_path/tmp (to check none is left)."""
    config, data = tiny_bench
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return {"args": [sys.executable, str(ROOT / "bench" / script), "--quick", "--out",
                     str(tmp_path), "--config", str(config), *extra],
            "cwd": ROOT, "text": True,
            "env": {**os.environ, "SAGE_DATA_DIR": data, "TMPDIR": str(tmp_path / "tmp")}}


def run_quick(script, tmp_path, tiny_bench, *extra):
    """Run a benchmark's --quick mode (`quick`); its stdout."""
    proc = subprocess.run(**quick(script, tmp_path, tiny_bench, *extra), capture_output=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_overhead_quick(tmp_path, tiny_bench):
    assert "round cost by N" in run_quick("overhead.py", tmp_path, tiny_bench)
    result = json.loads((tmp_path / "overhead_quick.json").read_text())
    assert [r["n"] for r in result["by_n"]] == [300, 600]
    for row in result["by_n"]:
        assert row["seconds"]["train"] > 0 and row["round_seconds"] > 0
        assert row["n_synthetic"] == round(0.2 * row["n"])
    assert [r["ratio"] for r in result["ratio_sweep"]] == [0.1, 0.5]
    assert (tmp_path / "overhead_quick.png").stat().st_size > 0


@pytest.mark.slow
def test_memory_quick(tmp_path, tiny_bench):
    run_quick("memory.py", tmp_path, tiny_bench)
    result = json.loads((tmp_path / "memory_quick.json").read_text())
    assert result["synthetic"]["pair"]["bytes"] == 16 + 4 * result["classes"]
    assert result["real_bytes"] > result["synthetic"]["pair"]["bytes"]
    for row in result["layouts"].values():  # ragged storage costs the real tokens only
        assert row["ragged_bytes"] < row["padded_bytes"]


@pytest.mark.slow
def test_vs_online_kd_quick(tmp_path, tiny_bench):
    out = run_quick("vs_online_kd.py", tmp_path, tiny_bench)
    assert "online / vector epoch time" in out
    result = json.loads((tmp_path / "vs_online_kd_quick.json").read_text())
    assert len(result["epochs_detail"]) == 2
    for row in result["epochs_detail"]:
        assert 0 < row["online_teacher_seconds"] < row["online_seconds"]
    assert result["ideal_ratio"] > 1 and result["median_ratio"] > 0


@pytest.mark.slow
def test_accuracy_quick_stopped_part_way_resumes_keeping_its_finished_runs(tmp_path,
                                                                           tiny_bench):
    """A study stopped between runs (Ctrl-C) leaves its finished runs in the log and no
    work folder; --resume keeps those runs as they were and does only the rest."""
    proc = subprocess.Popen(**quick("accuracy.py", tmp_path, tiny_bench),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    log = tmp_path / "accuracy_quick.runs.jsonl"
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None and not (
            log.is_file() and log.read_text().count("\n") >= 1):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    assert proc.returncode != 0, "the study finished before it was stopped"
    assert not list((tmp_path / "tmp").glob("sage-accuracy-*"))  # its work folder, removed
    kept = [json.loads(line) for line in log.read_text().splitlines()]
    assert 1 <= len(kept) < 3 and not (tmp_path / "accuracy_quick.json").exists()

    out = run_quick("accuracy.py", tmp_path, tiny_bench, "--resume")
    assert "accuracy by variant" in out
    assert f"{kept[0]['variant']:<7} seed 0:" not in out  # kept, not run again
    result = json.loads((tmp_path / "accuracy_quick.json").read_text())
    assert result["runs"][:len(kept)] == kept
    assert set(result["summary"]) == {"none", "random", "sage"}
    assert not log.exists()  # removed once complete
    assert not list((tmp_path / "tmp").glob("sage-accuracy-*"))
    for strategy in result["summary"].values():
        assert len(strategy["dev_by_epoch_mean"]) == 2
        assert 0.0 <= strategy["heldout_mean"] <= 1.0


@pytest.mark.slow
def test_gpu_bench_quick_runs_anywhere(tmp_path):
    """The GPU benchmark's machinery at toy size on this machine's backend."""
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_bench.py"), "--quick",
                           "--device", "cpu", "--out", str(tmp_path)], capture_output=True,
                          text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_bench_quick.json").read_text())
    assert [r["precision"] for r in result["runs"]] == ["fp32", "bf16"]
    for run in result["runs"]:
        assert 0 < run["online_teacher_seconds"] < run["online_epoch_seconds"]
        assert run["ideal_ratio"] > 1 and run["examples_per_second"] > 0
        assert [r["n"] for r in run["rounds"]] == [100, 200, 400]
        for row in run["rounds"]:
            assert row["round_seconds"] > 0 and row["stage_seconds"]["label"] > 0
    assert result["implementations"]["knn"].startswith("scikit-learn")
