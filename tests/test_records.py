"""What a run records about itself: its files' modes, its seconds across a resume, its
profile's warm-up apart, and errors that name the inputs a caller passed."""

import json
import os
import shutil
import stat
import subprocess
import tempfile

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_bert, tiny_tokenizer
from safetensors.numpy import load_file
from test_cli import BIN, cli, tiny_config

import sage_rapids
from sage_rapids.artifacts import give_umask_mode, write_atomic
from sage_rapids.backend import resolve_backend
from sage_rapids.context import Context
from sage_rapids.distillation.table import empty_pool
from sage_rapids.distillation.train import Training
from sage_rapids.profiling import AUGMENT_STAGES, overheads
from sage_rapids.run.checkpoint import TrainingState, load_checkpoint, save_checkpoint
from sage_rapids.run.report import format_profile


@pytest.fixture(scope="module")
def umask_run(tmp_path_factory, tiny_teacher_dir, sst_like_dir, cache_dir) -> dict:
    """A tiny SAGE run (two epochs, one round) made under umask 022: its folder, the
    environment it ran with, and its summary."""
    root = tmp_path_factory.mktemp("umask")
    env = {**os.environ, "SAGE_DATA_DIR": str(sst_like_dir), "SAGE_CACHE_DIR": str(cache_dir),
           "HF_HUB_OFFLINE": "1"}
    config = tiny_config(root, tiny_teacher_dir, train={"epochs": 2})
    out = root / "run"
    proc = subprocess.run([str(BIN), "run", "--config", str(config), "--out", str(out),
                           "--quiet"], capture_output=True, text=True, env=env, timeout=600,
                          preexec_fn=lambda: os.umask(0o022))
    assert proc.returncode == 0, proc.stderr
    return {"out": out, "env": env, "summary": json.loads((out / "summary.json").read_text())}


@pytest.mark.slow
def test_a_run_directory_gets_the_modes_the_umask_gives(umask_run):
    out = umask_run["out"]
    seen = set()
    for folder, dirs, files in os.walk(out):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o755, folder
        for name in files:
            assert stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode) == 0o644, \
                os.path.join(folder, name)
            seen.add(os.path.relpath(os.path.join(folder, name), out))
    assert {"summary.json", "config.yaml", "metrics.jsonl", "profile.json",
            "student/model.safetensors", "checkpoint/meta.json",
            "plots/region_map_epoch1.png"} <= seen


def test_write_atomic_gives_a_file_the_umask_s_mode(tmp_path):
    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "a.json", b"{}")
        folder = tempfile.mkdtemp(dir=tmp_path)  # 0700 whatever the umask
        give_umask_mode(folder)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o640
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o750


@pytest.mark.slow
def test_a_resumed_run_counts_the_seconds_of_the_processes_before_it(umask_run, tmp_path):
    first = umask_run["summary"]
    run = tmp_path / "run"
    shutil.copytree(umask_run["out"], run)
    before = load_file(str(run / "teacher_targets.safetensors"))
    proc = cli("run", "--resume", run, env_extra=umask_run["env"])
    again = json.loads((run / "summary.json").read_text())
    # the teacher's logits are read back, not made again, and stay what they were
    assert "teacher targets: read back from teacher_targets.safetensors (the run's own, " \
        in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    after = load_file(str(run / "teacher_targets.safetensors"))
    assert before.keys() == after.keys() == {"logits", "index", "fingerprints"}
    for key in before:
        np.testing.assert_array_equal(before[key], after[key], err_msg=key)
    assert again["total_seconds"] >= first["total_seconds"]
    assert 0 < again["process_seconds"] < again["total_seconds"]
    assert f"({again['process_seconds']:.1f} s since it was resumed)" in proc.stdout
    # the profile still holds the epochs the first process trained, as their rows say
    profile = json.loads((run / "profile.json").read_text())
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [profile["epochs"][str(r["epoch"])] for r in rows] == \
        [r["stage_seconds"] for r in rows]
    assert profile["total"]["train"] == pytest.approx(sum(r["stage_seconds"]["train"]
                                                          for r in rows))


def test_a_checkpoint_keeps_the_run_s_seconds_and_an_older_one_still_loads(tmp_path):
    import torch

    backend = resolve_backend("cpu")
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    t = Training(model, model, opt, sched, {"batches": np.random.default_rng(0)})
    ctx = Context(backend)
    state = TrainingState(1, [{"epoch": 1}], {"epoch": 1}, empty_pool(backend), None, 12.5)
    folder = save_checkpoint(tmp_path, state, t, ctx)
    assert load_checkpoint(folder, t, ctx).seconds == 12.5
    meta = json.loads((folder / "meta.json").read_text())
    del meta["seconds"]  # as a checkpoint written before seconds were recorded
    (folder / "meta.json").write_text(json.dumps(meta))
    assert load_checkpoint(folder, t, ctx).seconds == 0.0


@pytest.mark.slow
def test_the_profile_keeps_umap_s_warm_up_apart(umask_run):
    profile = json.loads((umask_run["out"] / "profile.json").read_text())
    warmup = profile["epochs"]["0"]["warmup"]  # before any round, once per process
    assert profile["total"]["warmup"] == warmup > 0
    # the round paid no compile: its map took less than the warm-up (which compiles, or
    # at least loads numba's cache, ~1.6 s on 2 cores, against ~0.1 s for this map)
    assert profile["epochs"]["1"]["reduce"] < warmup
    total = profile["total"]
    assert profile["augmentation_overhead"] == pytest.approx(
        sum(total[s] for s in AUGMENT_STAGES) / total["train"])


def test_the_printed_profile_shows_the_warm_up_apart_and_counts_it_nowhere():
    total = {"train": 10.0, "reduce": 1.0, "label": 0.5, "warmup": 25.0}
    report = {"epochs": {"0": {"warmup": 25.0}, "1": {"train": 10.0, "reduce": 1.0,
                                                      "label": 0.5}},
              "total": total, **overheads(total)}
    assert report["augmentation_overhead"] == pytest.approx(0.1)
    text = format_profile(report)
    assert "warmup: 25.00 s (UMAP's JIT compile, once per process, not counted)" in text
    assert not any(line.startswith("warmup ") for line in text.splitlines())  # no table row
    assert "augmentation_overhead: 10.0%" in text


@pytest.mark.parametrize("container", ["DataFrame", "list of dicts", "datasets.Dataset"])
def test_an_api_data_error_names_what_the_caller_passed(container):
    train = pd.DataFrame({"sentence": ["a good film", "a bad film"] * 10,
                          "label": ["pos", "neg"] * 10})
    dev = pd.DataFrame({"sentence": ["good", "bad", "fun", "dull"],
                        "label": ["pos", "neg", "pos", "x"]})
    if container == "list of dicts":
        train, dev = train.to_dict("records"), dev.to_dict("records")
    elif container == "datasets.Dataset":
        datasets = pytest.importorskip("datasets")
        train, dev = (datasets.Dataset.from_pandas(d) for d in (train, dev))
    with pytest.raises(sage_rapids.DataError) as err:
        sage_rapids.distill(train, dev, teacher=tiny_bert(), tokenizer=tiny_tokenizer(),
                            overrides={"device": "cpu", "data.text_column": "sentence",
                                       "student.layers": [0, 2], "teacher.finetune": False},
                            quiet=True)
    assert str(err.value).startswith(f"dev= ({container}), row 3: unknown label 'x'; "
                                     "known labels: neg, pos"), str(err.value)
