"""Checkpoints, resume after SIGKILL, interrupts, and write failures."""

import errno
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import glue_sst2_dir
from safetensors.numpy import load_file
from test_cli import BIN, cli, tiny_config

from sage_rapids.artifacts import DiskFull
from sage_rapids.backend import resolve_backend
from sage_rapids.context import Context
from sage_rapids.distillation.table import empty_pool
from sage_rapids.distillation.train import Training
from sage_rapids.run.checkpoint import TrainingState, latest_checkpoint, save_checkpoint

STABLE = ("epoch", "dev_accuracy", "train_loss", "n_synthetic", "anchor_mean_loss",
          "overall_mean_loss", "agreement")


@pytest.fixture(scope="module")
def bigger_data(tmp_path_factory) -> Path:
    """Enough toy data that an epoch lasts long enough to be killed in."""
    return glue_sst2_dir(tmp_path_factory.mktemp("bigger"), 3000, 80, seed=5)


def stable(run: Path) -> list[dict]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: r.get(k) for k in STABLE} for r in rows]


def wait_for_epoch(proc: subprocess.Popen, run: Path, epoch: int, timeout: float = 300) -> None:
    """Wait until `run` holds the checkpoint of `epoch` (or the process has ended)."""
    meta = run / "checkpoint" / "meta.json"
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if meta.is_file() and json.loads(meta.read_text())["epoch"] >= epoch:
            return
        time.sleep(0.01)


def config_for(tmp_path, teacher_dir, precision="fp32", epochs=3, loss=None):
    return tiny_config(tmp_path, teacher_dir, train={"epochs": epochs, "batch_size": 8,
                                                     "precision": precision},
                       augment={"space": "input", "umap_fit_max": 500}, loss=loss or {})


def launched_ranks(launcher: int) -> list[int]:
    """The rank processes a `run --nproc N` launcher spawned."""
    found = []
    for child in Path(f"/proc/{launcher}/task").glob("*/children"):
        for pid in child.read_text().split():
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
    return sorted(found)


@pytest.mark.slow
def test_a_rank_killed_in_epoch_two_restarts_and_ends_with_the_uninterrupted_student(
        tmp_path, tiny_teacher_dir, bigger_data):
    """One process under the launcher, SIGKILLed after its first checkpoint and restarted
    by `--max-restarts`, ends bit-identical to the plain run without the launcher: resume
    restores fp16's grad scaler and layer transfer's cached states, and the launcher
    changes nothing."""
    precision, loss = "fp16", {"layers": 1.0}
    # one thread each: the uninterrupted run goes on beside the killed one
    env = {**os.environ, "SAGE_DATA_DIR": str(bigger_data), "OMP_NUM_THREADS": "1",
           "NUMBA_NUM_THREADS": "1"}
    config = config_for(tmp_path, tiny_teacher_dir, precision, epochs=2, loss=loss)
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    uninterrupted = subprocess.Popen([str(BIN), "run", "--config", str(config), "--out",
                                      str(whole), "--quiet"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    proc = subprocess.Popen([str(BIN), "run", "--config", str(config), "--out", str(killed),
                             "--nproc", "1", "--max-restarts", "1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_epoch(proc, killed, 1)
    done = json.loads(latest_checkpoint(killed).joinpath("meta.json").read_text())["epoch"]
    os.kill(launched_ranks(proc.pid)[-1], signal.SIGKILL)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert done == 1, "the kill must land in the last epoch, after the first one's checkpoint"
    assert "restart 1: resuming" in err and "from its last complete checkpoint" in err
    summary = json.loads((killed / "summary.json").read_text())
    assert summary["restarts"] == 1 and summary["precision"] == "fp16"
    assert summary["student_dev_accuracy"] >= 0.7, summary["student_dev_accuracy"]  # it learnt
    assert json.loads((killed / "checkpoint" / "meta.json").read_text())["grad_scaler"]["scale"] > 0
    assert uninterrupted.wait(timeout=600) == 0, uninterrupted.stderr.read()
    assert stable(killed) == stable(whole)
    a = load_file(str(whole / "student" / "model.safetensors"))
    b = load_file(str(killed / "student" / "model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_a_resume_with_another_config_is_refused(tmp_path,
                                                                         tiny_teacher_dir,
                                                                         bigger_data):
    """SIGTERM (a scheduler's stop) ends in exit 143 and the resume command; SIGINT goes
    through the same handler (test_api stops a call with it and resumes on the CLI)."""
    env = {**os.environ, "SAGE_DATA_DIR": str(bigger_data)}
    run = tmp_path / "run"
    proc = subprocess.Popen([str(BIN), "run", "--config",
                             str(config_for(tmp_path, tiny_teacher_dir)), "--out", str(run),
                             "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    meta = run / "checkpoint" / "meta.json"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not meta.is_file():
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal landed")
    assert proc.returncode == 143
    assert f"resume with: sage-rapids run --resume {run}" in err
    assert "Traceback" not in err
    latest_checkpoint(run)  # still loadable
    refused = cli("run", "--resume", run, "-o", "train.lr=0.1", "-o", "seed=3", check=False,
                  env_extra={"SAGE_DATA_DIR": str(bigger_data)})
    assert refused.returncode == 2
    assert "train.lr: run has 0.0005, asked for 0.1" in refused.stderr
    assert "seed: run has 0, asked for 3" in refused.stderr


def test_failed_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch):
    import torch

    from sage_rapids.run import checkpoint

    backend = resolve_backend("cpu")
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    rng = np.random.default_rng(0)
    state = TrainingState(1, [{"epoch": 1}], {"epoch": 1}, empty_pool(backend), None)
    t, ctx = Training(model, model, opt, sched, {"batches": rng}), Context(backend)
    save_checkpoint(tmp_path, state, t, ctx)

    def broken(path, data):  # the disk fills up on the second epoch's checkpoint
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "_write", broken)
    with pytest.raises(DiskFull, match=f"{tmp_path}: no space left on the device while "
                                       "writing the checkpoint of epoch 2 .it needed about"):
        save_checkpoint(tmp_path, TrainingState(2, [], None, empty_pool(backend), None), t, ctx)
    folder = latest_checkpoint(tmp_path)
    assert json.loads((folder / "meta.json").read_text())["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint"]  # no temp folder left


@pytest.mark.slow
def test_bf16_trains_and_needs_no_scaler(tmp_path, tiny_teacher_dir, sst_like_dir):
    """bf16 on the CPU (asked for: the default stays fp32) trains, says so in the summary,
    and keeps no grad scaler (fp16's: in the restart test above)."""
    precision = "bf16"
    env = {**os.environ, "SAGE_DATA_DIR": str(sst_like_dir)}
    config = tiny_config(tmp_path, tiny_teacher_dir, train={"precision": precision},
                         augment={"space": "input", "plots": False})
    run = tmp_path / "run"
    cli("run", "--config", config, "--out", run, "--quiet", env_extra=env)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["precision"] == precision and summary["student_dev_accuracy"] >= 0.7
    assert json.loads((run / "checkpoint" / "meta.json").read_text())["grad_scaler"] is None


def test_saved_teacher_logits_serve_only_the_examples_they_were_made_for(tmp_path):
    from safetensors.numpy import save_file

    from sage_rapids.distillation.table import ragged_table
    from sage_rapids.distillation.targets import row_fingerprints, saved_targets

    backend = resolve_backend("cpu")
    lengths = np.array([3, 5, 2, 4])
    ids = np.arange(101, 101 + lengths.sum(), dtype=np.int32)
    table = ragged_table(ids, lengths, None, np.zeros(4, np.int64), backend)
    logits = np.random.default_rng(0).normal(size=(4, 2)).astype(np.float32)
    path = tmp_path / "teacher_targets.safetensors"
    rows = np.arange(4)
    save_file({"logits": logits, "index": rows, "fingerprints": row_fingerprints(table, backend)},
              str(path))
    np.testing.assert_array_equal(saved_targets(path, table, rows, backend), logits)
    # a shard of the split: its own rows, in its order
    shard = ragged_table(ids[3:8], lengths[1:2], None, np.zeros(1, np.int64), backend)
    np.testing.assert_array_equal(saved_targets(path, shard, np.array([1]), backend),
                                  logits[1:2])
    swapped = ids.copy()
    swapped[[0, 1]] = swapped[[1, 0]]  # the same tokens in another order
    for other, at in ((ragged_table(swapped, lengths, None, np.zeros(4, np.int64), backend),
                       rows),  # other tokens
                      (table, np.array([0, 1, 2, 7]))):  # a row the file does not hold
        assert saved_targets(path, other, at, backend) is None
    assert len(set(row_fingerprints(table, backend).tolist())) == 4
    save_file({"logits": logits, "index": rows}, str(path))  # an older run's file
    assert saved_targets(path, table, rows, backend) is None
    path.write_bytes(b"not safetensors")
    assert saved_targets(path, table, rows, backend) is None


def test_a_resume_by_another_number_of_processes_is_refused_before_any_starts(tmp_path):
    from sage_rapids.run.checkpoint import CheckpointError, check_world_before_launch

    check_world_before_launch(tmp_path, 3)  # no checkpoint yet: the ranks start over
    (tmp_path / "checkpoint").mkdir()
    (tmp_path / "checkpoint" / "meta.json").write_text(json.dumps({"epoch": 1,
                                                                   "world_size": 2}))
    check_world_before_launch(tmp_path, 2)
    with pytest.raises(CheckpointError, match=r"written by 2 process\(es\), this run has 3; "
                                              r"resume with the same number \(--nproc 2"):
        check_world_before_launch(tmp_path, 3)
