"""The cluster path under faults, through the real CLI on localhost: two launchers as
two nodes (matching, with different run directories, one never started). A rank killed
under `--max-restarts`: in test_checkpoint (one process) and test_distributed (two); a
dask worker killed in the middle of an encode: in test_encode."""

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from conftest import glue_sst2_dir
from test_cli import BIN, tiny_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return glue_sst2_dir(tmp_path_factory.mktemp("fault-data"), 3000, 80, seed=5)


@pytest.fixture(scope="module")
def config(tmp_path_factory, tiny_teacher_dir) -> Path:
    return tiny_config(tmp_path_factory.mktemp("fault-config"), tiny_teacher_dir,
                       train={"epochs": 3, "batch_size": 8},
                       augment={"space": "input", "umap_fit_max": 500})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node(config, out, rank: int, port: int, data_dir, *extra) -> subprocess.Popen:
    """One launcher of a two-node run on this machine (one CPU process, one thread)."""
    env = {**os.environ, "SAGE_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1",
           "NUMBA_NUM_THREADS": "1"}
    return subprocess.Popen(
        [str(BIN), "run", "--config", str(config), "--out", str(out), "--quiet", "--nproc", "1",
         "--nnodes", "2", "--node-rank", str(rank), "--rdzv-endpoint", f"127.0.0.1:{port}",
         *map(str, extra)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_nodes_meet_whatever_order_they_start_in(tmp_path, config, data_dir):
    out, port = tmp_path / "both", free_port()
    small = ["-o", "data.train_limit=400", "-o", "train.epochs=1"]
    late = node(config, out, 1, port, data_dir, "--rdzv-timeout", "120", *small)
    said = late.stderr.readline()  # node 1 waits for node 0's store and says so
    assert said.startswith(f"waiting for node 0 at 127.0.0.1:{port}, 2 s of 120"), said
    first = node(config, out, 0, port, data_dir, "--rdzv-timeout", "120", *small)
    _, err0 = first.communicate(timeout=300)
    _, err1 = late.communicate(timeout=300)
    assert first.returncode == 0 and late.returncode == 0, err0 + err1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["restarts"] == 0


def test_nodes_with_different_run_directories_are_refused_naming_both(tmp_path, config,
                                                                      data_dir):
    a, b, port = tmp_path / "a", tmp_path / "b", free_port()
    procs = [node(config, a, 0, port, data_dir, "--rdzv-timeout", "60"),
             node(config, b, 1, port, data_dir, "--rdzv-timeout", "60")]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 2
        assert "the nodes met but do not describe the same run" in err
        assert f"different run directories: {a} and {b}" in err
        assert "Traceback" not in err
    assert not a.exists() and not b.exists()  # nothing was written


def test_a_node_that_never_comes_ends_the_wait_with_the_likely_causes(tmp_path, config,
                                                                      data_dir):
    port = free_port()
    start = time.time()
    proc = node(config, tmp_path / "alone", 0, port, data_dir, "--rdzv-timeout", "5")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and time.time() - start < 60
    assert f"waiting for 1 of 2 nodes at 127.0.0.1:{port} (run id " in err
    assert f"the rendezvous at 127.0.0.1:{port}" in err and "timed out after 5 s" in err
    assert "missing: node 1" in err and "--node-rank 1" in err and "--rdzv-timeout" in err
    assert "Traceback" not in err
    assert not (tmp_path / "alone").exists()


def test_a_restart_before_the_first_checkpoint_starts_over(tmp_path):
    from sage_rapids.cli.main import restart_point

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("seed: 0\n")
    (run / "metrics.jsonl").write_text('{"epoch": 1}\n')  # written, then the crash
    assert restart_point(run) is False
    assert not (run / "metrics.jsonl").exists() and (run / "config.yaml").exists()


def test_run_id_is_given_or_derived_from_the_endpoint_alone():
    from sage_rapids.scale.launch import run_id

    assert run_id(2, "node0:29400", "exp-7") == "exp-7"
    assert run_id(2, "node0:29400") == run_id(2, "node0:29400")  # whatever --out says
    assert run_id(2, "node0:29400") != run_id(2, "node0:29401")
    assert run_id(1, None) != run_id(1, None)  # one machine: a fresh id each run


def test_nodes_with_different_configs_are_refused_naming_the_keys():
    from sage_rapids.scale.rendezvous import _disagreement

    base = {"host": "a", "out": "/shared/r", "resume": False, "run_id": "x",
            "given_run_id": None, "config": {"train.epochs": 3, "seed": 0}}
    assert _disagreement([base, {**base, "host": "b"}]) is None
    other = {**base, "host": "b", "config": {"train.epochs": 5, "seed": 0}}
    message = _disagreement([base, other])
    assert "node 0 (a) and node 1 (b) have different configs (train.epochs: 3 and 5)" in message
    named = {**base, "host": "b", "given_run_id": "two"}
    assert "different --run-id" in _disagreement([{**base, "given_run_id": "one"}, named])
