"""A full disk and a damaged checkpoint, through the real CLI.

The disk fills up without root: a small preloaded library (`assets/full_disk.c`) makes
every write() under the run folder fail with ENOSPC once a trigger file exists, for
Python's writes and for native writers (safetensors) alike. Each fault must end in one
paragraph, no traceback, no temporary file or folder left, and the last complete
checkpoint intact.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ASSETS, glue_sst2_dir
from test_checkpoint import wait_for_epoch
from test_cli import BIN, cli, tiny_config

from sage_rapids.run.checkpoint import CheckpointDamaged, latest_checkpoint

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def full_disk(tmp_path_factory) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("needs a C compiler to build the full-disk shim")
    lib = tmp_path_factory.mktemp("shim") / "full_disk.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O1", "-o", str(lib),
                    str(ASSETS / "full_disk.c"), "-ldl"], check=True)
    return lib


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return glue_sst2_dir(tmp_path_factory.mktemp("disk-data"), 1500, 60, seed=7)


@pytest.fixture(scope="module")
def config(tmp_path_factory, tiny_teacher_dir) -> Path:
    return tiny_config(tmp_path_factory.mktemp("disk-config"), tiny_teacher_dir,
                       train={"epochs": 2, "batch_size": 8},
                       augment={"space": "input", "umap_fit_max": 400})


def env_for(data_dir: Path, lib: Path | None = None, folder: Path | None = None,
            trigger: Path | None = None) -> dict:
    env = {**os.environ, "SAGE_DATA_DIR": str(data_dir)}
    if lib is not None:
        env.update(LD_PRELOAD=str(lib), FULL_DISK_DIR=str(folder), FULL_DISK_AFTER=str(trigger))
    return env


def listing(folder: Path) -> list[str]:
    """Every path under `folder`, relative, sorted."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def temporaries(folder: Path) -> list[str]:
    return [name for name in listing(folder) if any(part.startswith(".")
                                                    for part in Path(name).parts)]


def one_paragraph(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_a_disk_that_fills_after_the_first_epoch_keeps_its_checkpoint(tmp_path, config,
                                                                      data_dir, full_disk):
    run, trigger = tmp_path / "run", tmp_path / "disk-is-full"
    proc = subprocess.Popen([str(BIN), "run", "--config", str(config), "--out", str(run)],
                            env=env_for(data_dir, full_disk, run, trigger),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_epoch(proc, run, 1)
    trigger.touch()
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    line = one_paragraph(err)
    assert line.startswith(f"error: {run}")  # the run folder, or plots/ or student/ in it
    assert ": no space left on the device while writing" in line
    assert "it needed about" in line and "free)" in line
    assert f"The checkpoint of epoch 1 is kept and verified: free space, then sage-rapids " \
           f"run --resume {run}" in line
    assert "run directory: needs about" in err  # said before the first write
    assert temporaries(run) == []
    assert json.loads((latest_checkpoint(run) / "meta.json").read_text())["epoch"] == 1
    cli("run", "--resume", run, "--quiet", env_extra={"SAGE_DATA_DIR": str(data_dir)})
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]


def test_a_disk_full_from_the_start_says_nothing_was_kept(tmp_path, config, data_dir,
                                                           full_disk):
    run, trigger = tmp_path / "run", tmp_path / "disk-is-full"
    trigger.touch()
    proc = cli("run", "--config", config, "--out", run, "--quiet", check=False,
               env_extra=env_for(data_dir, full_disk, run, trigger))
    assert proc.returncode == 1, proc.stderr
    line = one_paragraph(proc.stderr)
    assert f"{run}: no space left on the device while writing config.yaml" in line
    assert "No epoch had finished, so there is no checkpoint to keep" in line
    assert listing(run) == []


def test_an_encode_on_a_full_disk_keeps_its_finished_shards(tmp_path, config, data_dir,
                                                             full_disk):
    out, trigger = tmp_path / "enc", tmp_path / "disk-is-full"
    trigger.touch()
    corpus = data_dir / "glue" / "sst2" / "train.tsv"
    proc = cli("encode", "--config", config, corpus, "--out", out, "--quiet",
               "--rows-per-part", "500", check=False,
               env_extra=env_for(data_dir, full_disk, out, trigger))
    assert proc.returncode == 1, proc.stderr
    line = one_paragraph(proc.stderr)
    assert "no space left on the device while writing" in line
    assert "The partitions finished so far are kept" in line
    assert temporaries(out) == []
    assert not (out / "manifest.json").exists()


def test_the_space_a_run_needs_is_checked_before_it_trains(tmp_path, config, data_dir):
    script = (
        "import sys, sage_rapids.artifacts as a\n"
        "a.free_bytes = lambda folder: 1000\n"  # a disk with 1 kB left
        "from sage_rapids.cli.main import main\n"
        "sys.exit(main(sys.argv[1:]))\n")
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", script, "run", "--config", str(config),
                           "--out", str(run), "--quiet"], env=env_for(data_dir),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    line = one_paragraph(proc.stderr)
    assert "while writing the run (teacher targets" in line and "checkpoint x 2" in line
    assert "1.0 kB free). Nothing was trained yet." in line
    assert not (run / "metrics.jsonl").exists() and temporaries(run) == []


@pytest.fixture(scope="module")
def finished(tmp_path_factory, config, data_dir) -> Path:
    run = tmp_path_factory.mktemp("finished") / "run"
    cli("run", "--config", config, "--out", run, "--quiet", "-o", "train.epochs=2",
        "-o", "data.train_limit=300", env_extra={"SAGE_DATA_DIR": str(data_dir)})
    return run


def damage_truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def damage_flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name, damage, says", [
    ("state.safetensors", damage_truncate,
     r"has [\d,]+ bytes where meta.json records [\d,]+ \(truncated or overwritten\)"),
    ("rank0.safetensors", damage_flip, r"does not match its SHA-256 in meta.json"),
    ("meta.json", damage_truncate, r"cannot be read \(JSONDecodeError\)"),
    ("rank0.json", lambda p: p.unlink(), r"is missing"),
])
def test_a_damaged_checkpoint_ends_in_one_paragraph(tmp_path, finished, data_dir, name, damage,
                                                    says):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / "summary.json").unlink()  # as if the run had stopped after its checkpoint
    damage(run / "checkpoint" / name)
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    proc = cli("run", "--resume", run, "--quiet", check=False,
               env_extra={"SAGE_DATA_DIR": str(data_dir)})
    assert proc.returncode == 1, proc.stderr
    line = one_paragraph(proc.stderr)
    assert re.search(re.escape(f"{run / 'checkpoint' / name} ") + says, line), line
    assert "cannot be used, and nothing was changed" in line
    assert f"sage-rapids run --config {run / 'config.yaml'} --out NEW_DIR" in line
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before  # nothing touched


def test_a_restart_refuses_a_damaged_checkpoint_instead_of_starting_over(tmp_path, finished):
    from sage_rapids.cli.main import restart_point

    run = tmp_path / "run"
    shutil.copytree(finished, run)
    damage_truncate(run / "checkpoint" / "state.safetensors")
    with pytest.raises(CheckpointDamaged, match="state.safetensors has"):
        restart_point(run)
    assert (run / "metrics.jsonl").exists()


def test_a_crash_mid_checkpoint_resumes_from_the_one_before(tmp_path, finished, data_dir):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    (run / "summary.json").unlink()
    half = run / ".checkpoint.k1ll3d"  # a killed writer's folder: half a checkpoint
    shutil.copytree(run / "checkpoint", half)
    damage_truncate(half / "state.safetensors")
    meta = json.loads((run / "checkpoint" / "meta.json").read_text())
    assert set(meta["files"]) == {"state.safetensors", "rank0.safetensors", "rank0.json"}
    assert latest_checkpoint(run) == run / "checkpoint"
    cli("run", "--resume", run, "--quiet", env_extra={"SAGE_DATA_DIR": str(data_dir)})
    assert temporaries(run) == []
