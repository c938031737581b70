"""The convergence study's arithmetic: the schedule pilot's rule, the race to `none`'s
best dev score, and the verdict, on hand-made run records."""

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))
import convergence  # noqa: E402


def record(variant, seed, dev, epoch_seconds, setup=10.0, heldout=0.8):
    return {"variant": variant, "seed": seed, "dev_by_epoch": dev, "primary_metric": "accuracy",
            "epoch_seconds": epoch_seconds, "run_seconds": setup + sum(epoch_seconds),
            "best_epoch": dev.index(max(dev)) + 1, "stopped_epoch": len(dev),
            "heldout_primary": heldout, "train_examples": 100}


def test_time_to_target_counts_setup_and_epochs():
    run = record("sage", 0, [0.70, 0.80, 0.85], [5.0, 6.0, 7.0])
    assert convergence.time_to_target(run, 0.80) == (2, 21.0)  # 10 s setup + 5 + 6
    assert convergence.time_to_target(run, 0.90) == (None, math.inf)


def test_race_against_nones_best_per_seed():
    runs = [record("none", 0, [0.70, 0.78, 0.80, 0.79], [5.0] * 4),
            record("sage", 0, [0.72, 0.81, 0.80], [8.0] * 3),  # reaches 0.80 at 26 s
            record("none", 1, [0.75, 0.77], [5.0] * 2),
            record("sage", 1, [0.70, 0.71], [8.0] * 2)]  # never reaches 0.77
    race = convergence.race(runs, "sage")
    assert [(r["epoch"], r["seconds"]) for r in race["per_seed"]] == [(2, 26.0), (None, math.inf)]
    assert [(r["none_epoch"], r["none_seconds"]) for r in race["per_seed"]] == [(3, 25.0),
                                                                                 (2, 20.0)]
    assert race["reached"] == 1 and race["faster"] is False


def test_pilot_picks_the_higher_ceiling_and_breaks_ties_by_seconds(tmp_path):
    def write(schedule, heldout, seconds):
        runs = [record(v, s, [0.8], [seconds], heldout=heldout)
                for v in ("none", "sage") for s in (0, 1, 2)]
        (tmp_path / f"{convergence.stem('sst2', schedule)}.json").write_text(
            json.dumps({"runs": runs}))

    write("linear", 0.850, 50.0)
    assert convergence.pilot_choice(tmp_path)["schedule"] is None  # half the pilot ran
    write("constant", 0.860, 60.0)
    assert convergence.pilot_choice(tmp_path)["schedule"] == "constant"
    write("constant", 0.8505, 60.0)  # within 0.1 points: the faster one
    assert convergence.pilot_choice(tmp_path)["schedule"] == "linear"


@pytest.mark.parametrize("diffs, expected", [([1.0, 1.2, 0.9, 1.1], True),
                                             ([2.0, -1.5, 1.0, -0.5], False),
                                             ([-1.0, -1.2, -0.9, -1.1], False)])
def test_the_default_rule_needs_two_standard_errors(diffs, expected):
    runs = [r for i, d in enumerate(diffs) for r in (
        record("none", i, [0.8], [1.0], heldout=0.8),
        record("sage", i, [0.8], [1.0], heldout=0.8 + d / 100))]
    assert convergence.beats(convergence.paired(runs, "sage", "none")) is expected


def test_report_of_an_unfinished_study_renders_as_interim(tmp_path, capsys):
    import results_doc

    for schedule, heldout in (("linear", 0.85), ("constant", 0.84)):
        runs = [record(v, s, [0.80, 0.81, 0.79] if v == "sage" else [0.78, 0.80, 0.79],
                       [5.0, 6.0, 7.0],
                       heldout=heldout + 0.01 * s + 0.004 * (v == "sage"))
                for s in (0, 1, 2) for v in ("none", "sage", "random")]
        (tmp_path / f"{convergence.stem('sst2', schedule)}.json").write_text(
            json.dumps({"runs": runs}))
    assert convergence.report(tmp_path) == 0
    result = json.loads((tmp_path / "convergence.json").read_text())
    assert result["schedule"] == "linear" and not result["complete"]
    assert result["rules"]["RULE"].startswith("SAGE is the default where")
    sst2 = result["tasks"]["sst2"]
    assert sst2["vs_none"]["sage"]["heldout"]["mean"] == pytest.approx(0.4)
    assert sst2["race"]["sage"]["faster"] is True  # sage's epoch 1 reaches none's best
    assert (tmp_path / "convergence.png").stat().st_size > 0
    text = results_doc.convergence(result)
    assert "Interim report" in text and "### sst2: accuracy" in text
    assert "interim report" in capsys.readouterr().out


def write_study(folder, diffs_by_task, seeds=5):
    """Every task's result file: none, random and sage per seed, sage's held-out ceiling
    `diff` points above none's."""
    pilot = [record(v, s, [0.8], [1.0], heldout=0.7)  # the pilot picks `linear`
             for v in ("none", "sage") for s in (0, 1, 2)]
    (folder / f"{convergence.stem('sst2', 'constant')}.json").write_text(
        json.dumps({"runs": pilot}))
    for task in convergence.TASKS:
        diffs = diffs_by_task.get(task, [0.0] * seeds)
        runs = [record(v, s, [0.8], [1.0], heldout=0.8 + (diffs[s] / 100 if v == "sage" else 0))
                for s in range(len(diffs)) for v in ("none", "random", "sage")]
        (folder / f"{convergence.stem(task, 'linear')}.json").write_text(
            json.dumps({"runs": runs}))


@pytest.mark.parametrize("diff, due", [([0.5, -0.4, 0.6, -0.3, 0.2], True),  # > 0, < 2 SE
                                       ([1.0, 1.1, 0.9, 1.2, 1.0], False),  # past 2 SE
                                       ([-0.5, 0.4, -0.6, 0.3, -0.2], False)])  # not > 0
def test_the_larger_budget_runs_only_when_the_gain_is_positive_but_short(tmp_path, diff,
                                                                         due):
    write_study(tmp_path, {t: diff for t in convergence.TASKS})
    assert convergence.pilot_choice(tmp_path)["schedule"] == "linear"
    assert convergence.larger_budget_due(tmp_path) is due
    write_study(tmp_path, {t: diff[:4] for t in convergence.TASKS})  # seed 4 still to run
    assert convergence.larger_budget_due(tmp_path) is False


def test_runs_with_work_beside_them_leave_the_race_by_seed():
    runs = [record(v, s, [0.8], [1.0]) for s in (0, 1, 2) for v in ("none", "sage")]
    disturbed = [{"task": "mrpc", "variant": "sage", "seed": 1, "beside": "tests"},
                 {"task": "cola", "variant": "none", "seed": 2, "beside": "tests"}]
    kept = convergence.undisturbed(runs, "mrpc", disturbed)
    assert sorted({(r["variant"], r["seed"]) for r in kept}) == [
        ("none", 0), ("none", 2), ("sage", 0), ("sage", 2)]  # seed 1 leaves, both variants


def test_a_rerun_replaces_the_run_and_checks_it_gives_the_same_scores(tmp_path, monkeypatch):
    write_study(tmp_path, {})
    (tmp_path / "convergence_beside.json").write_text(json.dumps({"how": "pinned", "runs": [
        {"task": "mrpc", "variant": "none", "seed": 2, "beside": "the test suite"}]}))
    name = convergence.stem("mrpc", "linear")

    def run_again(task, schedule, seeds, only, quick, variants, seconds=7.0):
        path = tmp_path / f"{name}.json"
        d = json.loads(path.read_text())
        assert (only, seeds) == ("none", "2") and not any(
            (r["variant"], r["seed"]) == ("none", 2) for r in d["runs"])  # the first left
        d["runs"].append(record("none", 2, [0.8], [seconds - 10.0], heldout=0.8))
        path.write_text(json.dumps(d))
        return 0

    monkeypatch.setattr(convergence, "run_task", run_again)
    assert convergence.rerun(tmp_path, "mrpc", "none", 2) == 0
    shared = json.loads((tmp_path / "convergence_beside.json").read_text())
    assert shared["runs"] == []
    assert shared["reruns"] == [{"task": "mrpc", "variant": "none", "seed": 2,
                                 "first_seconds": 11.0, "seconds": 7.0,
                                 "first_beside": "the test suite", "same_scores": True}]
    runs = json.loads((tmp_path / f"{name}.json").read_text())["runs"]
    assert sum((r["variant"], r["seed"]) == ("none", 2) for r in runs) == 1
    assert convergence.rerun(tmp_path, "mrpc", "none", 7) == 2  # no such run
