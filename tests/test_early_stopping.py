"""Early stopping: the rule, the schedule it trains with, and a run through the CLI."""

import json

import pytest
import torch
from test_cli import cli, tiny_config

from sage_rapids.config import TrainConfig
from sage_rapids.distillation.train import early_stop, make_optimizer


def history(*values):
    return [{"epoch": i + 1, "dev_mcc": v} for i, v in enumerate(values)]


def test_early_stop_counts_epochs_since_the_first_best():
    assert early_stop(history(0.5, 0.6, 0.6), "dev_mcc", 2) is None  # a tie is no gain
    reason = early_stop(history(0.5, 0.6, 0.6, 0.55), "dev_mcc", 2)
    assert reason == "early stopping: dev_mcc not above epoch 2's 0.6000 for 2 epochs"
    assert early_stop(history(0.5, 0.6, 0.4, 0.7), "dev_mcc", 2) is None
    assert early_stop(history(0.9, 0.1, 0.1, 0.1), "dev_mcc", None) is None  # off
    assert early_stop([], "dev_mcc", 1) is None


@pytest.mark.parametrize("schedule, expected", [
    ("linear", [0.5, 1.0, 8 / 8, 7 / 8, 6 / 8]),  # warmup 2 of 10 steps, then (10 - s) / 8
    ("constant", [0.5, 1.0, 1.0, 1.0, 1.0]),
])
def test_schedules_after_warmup(schedule, expected):
    model = torch.nn.Linear(2, 2)
    optimizer, scheduler = make_optimizer(model, TrainConfig(lr=1.0, warmup_ratio=0.2), 10,
                                          schedule)
    rates = []
    for _ in range(5):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates == pytest.approx(expected)


@pytest.mark.slow
def test_run_stops_early_exports_its_best_and_resume_keeps_it_stopped(
        tmp_path, tiny_teacher_dir, sst_like_dir):
    env = {"SAGE_DATA_DIR": str(sst_like_dir)}
    out = tmp_path / "run"
    # a learning rate too small to change a prediction: epoch 1 stays the best
    config = tiny_config(tmp_path, tiny_teacher_dir, train={"lr": 1e-12, "epochs": 8,
                                                             "early_stopping": 2})
    proc = cli("run", "--config", config, "--out", out, "--quiet", env_extra=env)
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert len({r["dev_accuracy"] for r in rows}) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["best_epoch"], summary["stopped_epoch"]) == (1, 3)
    assert summary["stop_reason"].startswith("early stopping: dev_accuracy not above epoch 1")
    assert "training stopped" in proc.stdout and "after epoch 3" in proc.stdout
    assert "n_made" in rows[1] and "n_made" not in rows[2]  # no round after the last epoch
    # resuming a run that stopped trains no further epoch
    cli("run", "--resume", out, "--quiet", env_extra=env)
    again = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in again] == [1, 2, 3]
    assert json.loads((out / "summary.json").read_text())["stopped_epoch"] == 3


def test_early_stopping_is_validated(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  early_stopping: 0\n  schedule: cosine\n")
    proc = cli("config", "validate", bad, check=False)
    assert proc.returncode == 2
    assert "train.early_stopping: must be in [1, inf), got 0" in proc.stderr
    assert "train.schedule: must be one of [constant, linear], got cosine" in proc.stderr
