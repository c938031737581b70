"""The optional TensorBoard logger: a tiny run writes per-epoch scalars and region maps;
without the package a run says so once and changes nothing else."""

import sys

import pytest
from conftest import glue_sst2_dir
from test_cli import cli, tiny_config

from sage_rapids.run.recorder import scalars, tensorboard_writer


@pytest.mark.slow
def test_tiny_run_writes_tensorboard_events(tmp_path, tiny_teacher_dir):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    data = glue_sst2_dir(tmp_path / "data", 200, 40, seed=3)
    config = tiny_config(tmp_path, tiny_teacher_dir, train={"epochs": 2},
                         augment={"space": "input", "plots": True})
    out = tmp_path / "run"
    cli("run", "--config", config, "--out", out, "--quiet", "-o", "tensorboard=true",
        env_extra={"SAGE_DATA_DIR": str(data)})
    events = EventAccumulator(str(out / "tensorboard")).Reload()
    tags = events.Tags()
    accuracy = [e.value for e in events.Scalars("dev/accuracy")]
    assert [e.step for e in events.Scalars("dev/accuracy")] == [1, 2]
    metrics = [line for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert accuracy == pytest.approx([__import__("json").loads(m)["dev_accuracy"]
                                      for m in metrics])
    for tag in ("train/loss", "augment/n_synthetic", "seconds/train", "teacher/accuracy"):
        assert tag in tags["scalars"], tag
    assert "region_map" in tags["images"]


def test_missing_package_is_one_note(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    said = []
    assert tensorboard_writer(tmp_path / "tb", said.append) is None
    assert len(said) == 1 and "pip install 'sage-rapids[tensorboard]'" in said[0]
    assert not (tmp_path / "tb").exists()


def test_scalar_tags():
    row = {"epoch": 2, "dev_accuracy": 0.8, "teacher_dev_f1": 0.9, "train_loss": 0.3,
           "n_synthetic": 40, "agreement": 0.95, "seconds": 12.0,
           "stage_seconds": {"train": 10.0, "reduce": 1.5}}
    assert scalars(row) == {"dev/accuracy": 0.8, "teacher/f1": 0.9, "train/loss": 0.3,
                            "augment/n_synthetic": 40.0, "dev/agreement": 0.95,
                            "seconds/epoch": 12.0, "seconds/train": 10.0,
                            "seconds/reduce": 1.5}
