"""The ladder: students of several sizes from one teacher, through the API and the CLI
with tiny models; one teacher fine-tuning and one targets pass for every rung."""

import json

import pytest
from test_cli import cli, tiny_config

import sage_rapids
from sage_rapids.config import ConfigError
from sage_rapids.run.ladder import Rung, rung_overrides, spread_layers
from sage_rapids.run.ladder_table import format_ladder, ladder_table, pareto

TINY = {"train": {"epochs": 2}, "augment": {"strategy": "none"},
        "eval": {"efficiency": True}}


@pytest.mark.parametrize("k, depth, layers", [(3, 6, [0, 2, 4]), (2, 6, [0, 3]), (1, 6, [0]),
                                              (4, 6, [0, 2, 3, 5]), (6, 6, list(range(6))),
                                              (2, 4, [0, 2])])
def test_rungs_spread_the_teachers_layers_from_the_bottom(k, depth, layers):
    assert spread_layers(k, depth) == layers


def test_a_rung_the_teacher_cannot_give_is_refused():
    from transformers import BertConfig

    teacher = BertConfig(num_hidden_layers=4, hidden_size=32, num_attention_heads=2)
    with pytest.raises(ConfigError, match="5 is deeper than the teacher's 4 layers"):
        rung_overrides(Rung(5), teacher)
    with pytest.raises(ConfigError, match="20 is not a multiple of the teacher's head size 16"):
        rung_overrides(Rung(2, 20), teacher)
    assert rung_overrides(Rung(2, 16), teacher)[1] == (
        "student.config={num_hidden_layers: 2, hidden_size: 16, intermediate_size: 64, "
        "num_attention_heads: 1}")


def _summary(metric: float, speed: float, params: int, seed_shift: float = 0.0) -> dict:
    timed = {"throughput": {"median": speed}, "latency_ms": {"median": 1000 / speed},
             "parameters": {"embeddings": 100, "rest": params - 100, "total": params},
             "examples": {"batch_size": 8}}
    teacher = {"throughput": {"median": 100.0}, "latency_ms": {"median": 10.0},
               "parameters": {"embeddings": 100, "rest": 900, "total": 1000},
               "examples": {"batch_size": 8}}
    return {"primary_metric": "accuracy", "task": "glue/sst2", "teacher_dev_accuracy": 0.90,
            "student_dev_accuracy": metric + seed_shift,
            "efficiency": {"device": "cpu", "threads": 2, "student": timed, "teacher": teacher,
                           "student_mb": params / 100, "teacher_mb": 10.0}}


def test_the_table_marks_the_pareto_front_and_the_smallest_student_within_reach():
    runs = [{"rung": name, "layers": k, "width": None, "seed": seed,
             "summary": _summary(metric, speed, params, 0.002 * seed)}
            for name, k, metric, speed, params in [("L1", 1, 0.80, 400.0, 300),
                                                   ("L2", 2, 0.892, 250.0, 500),
                                                   ("L3", 3, 0.885, 180.0, 700),  # beaten by L2
                                                   ("L4", 4, 0.90, 140.0, 800)]
             for seed in (0, 1)]
    table = ladder_table(runs, within=1.0)
    assert [r["rung"] for r in table["rungs"]] == ["L1", "L2", "L3", "L4"]
    assert table["front_throughput"] == ["L1", "L2", "L4"]
    assert table["front_size"] == ["L1", "L2", "L4"]
    # within 1.0 point of 0.90: L2 (0.893 mean), L3 (0.886: no), L4 (0.901); L2 is smaller
    assert table["smallest_within"] == "L2"
    l2 = table["rungs"][1]
    assert l2["metric_per_seed"] == pytest.approx([0.892, 0.894])
    assert l2["speedup"] == pytest.approx(2.5)
    assert ladder_table(runs, within=0.0)["smallest_within"] == "L4"
    text = format_ladder(table)
    assert "L2*" in text and "L3 " in text and "within 1.0 points of the teacher: L2" in text
    rows = [{"rung": "a", "metric_mean": 0.5, "throughput": 1.0,
             "parameters": {"total": 1}}] * 1
    assert pareto(rows, True) == ["a"]


@pytest.mark.slow
def test_the_api_runs_every_rung_from_one_teacher_and_one_targets_pass(
        tmp_path, tiny_teacher_dir, sst_like_dir, monkeypatch):
    from sage_rapids.run import preparation

    monkeypatch.setenv("SAGE_DATA_DIR", str(sst_like_dir))
    monkeypatch.setenv("SAGE_CACHE_DIR", str(tmp_path / "cache"))  # the teacher is new here
    passes = []
    real = preparation.teacher_targets

    def counted(*args, **kwargs):
        passes.append(len(args[1]))
        return real(*args, **kwargs)

    monkeypatch.setattr(preparation, "teacher_targets", counted)
    lines = []
    config = tiny_config(tmp_path, tiny_teacher_dir, **TINY)
    # the teacher's width (students from its layers) and half of it (behind a projection)
    result = sage_rapids.ladder([1, 2], widths=[32, 16], seeds=[0, 1], config=config,
                                out=tmp_path / "ladder", quiet=False, log=lines.append,
                                overrides={"loss.layers": 1.0, "loss.layer_pool": "mean"})
    assert len(passes) == 1  # one targets pass for 4 rungs x 2 seeds
    assert sum("teacher: fine-tuning" in line for line in lines) == 1
    table = json.loads((tmp_path / "ladder" / "ladder.json").read_text())
    assert table == result.table
    assert [r["rung"] for r in table["rungs"]] == ["L1-w32", "L1-w16", "L2-w32", "L2-w16"]
    assert all(r["seeds"] == 2 for r in table["rungs"])
    assert (tmp_path / "ladder" / "ladder.png").stat().st_size > 0
    for name in ("L1-w32-s0", "L1-w32-s1", "L2-w16-s0", "L2-w16-s1"):
        run = tmp_path / "ladder" / name
        assert (run / "student" / "config.json").is_file()
        assert f"seed: {name[-1]}" in (run / "config.yaml").read_text()  # train.seed
    wide = json.loads((tmp_path / "ladder" / "L2-w32-s0" / "summary.json").read_text())
    narrow = json.loads((tmp_path / "ladder" / "L2-w16-s0" / "summary.json").read_text())
    assert wide["student_layers"] == narrow["student_layers"] == 2
    assert narrow["student_parameters"] < wide["student_parameters"]
    exported = json.loads((tmp_path / "ladder" / "L2-w16-s0" / "student" / "config.json")
                          .read_text())
    assert exported["hidden_size"] == 16  # the projection's output width, exported
    assert "teacher_targets" not in json.loads(
        (tmp_path / "ladder" / "L2-w32-s0" / "profile.json").read_text())["total"]


@pytest.mark.slow
def test_the_ladder_through_the_cli_resumes_rung_by_rung(tmp_path, tiny_teacher_dir,
                                                        sst_like_dir):
    env = {"SAGE_DATA_DIR": str(sst_like_dir)}
    config = tiny_config(tmp_path, tiny_teacher_dir, **TINY)
    out = tmp_path / "ladder"
    proc = cli("ladder", "--config", config, "--layers", "1,2", "--within", "50",
               "--out", out, env_extra=env)
    assert "teacher" in proc.stdout and "L1" in proc.stdout and "L2" in proc.stdout
    assert "smallest student within 50.0 points of the teacher: L1" in proc.stdout
    (out / "L2-s0" / "summary.json").unlink()  # as if it had been stopped at the end
    again = cli("ladder", "--resume", out, env_extra=env)
    assert "L1-s0: finished earlier, kept" in again.stderr
    assert "L2-s0: resuming" in again.stderr
    assert (out / "L2-s0" / "summary.json").is_file()
    other = cli("ladder", "--resume", out, "--layers", "1,3", env_extra=env, check=False)
    assert other.returncode == 2 and "Traceback" not in other.stderr
    assert "rungs: ladder has [[1, None], [2, None]], asked for [[1, None], [3, None]]" \
        in other.stderr
    used = cli("ladder", "--config", config, "--layers", "1", "--out", out, env_extra=env,
               check=False)
    assert used.returncode == 2 and f"--resume {out}" in used.stderr
    deep = cli("ladder", "--config", config, "--layers", "9", "--out", tmp_path / "deep",
               env_extra=env, check=False)
    assert deep.returncode == 2
    assert "error: " in deep.stderr and "9 is deeper than the teacher's 4 layers" in deep.stderr
    bad = cli("ladder", "--layers", "one", env_extra=env, check=False)
    assert bad.returncode == 2 and "--layers" in bad.stderr
