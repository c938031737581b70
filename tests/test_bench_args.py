"""The benchmarks' argument parsing and summaries, on made-up runs (no training)."""

import importlib.util
from pathlib import Path

import pytest


def load_bench(name):
    spec = importlib.util.spec_from_file_location(
        f"bench_{name}", Path(__file__).parent.parent / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


accuracy = load_bench("accuracy")


def test_variant_is_a_name_and_overrides():
    assert accuracy.parse_variant("soft2: augment.q=0 augment.anchor_power=2") == (
        "soft2", ["augment.q=0", "augment.anchor_power=2"])
    assert accuracy.parse_variant("none:augment.strategy=none") == (
        "none", ["augment.strategy=none"])


@pytest.mark.parametrize("text", ["augment.q=0", ": augment.q=0"])
def test_variant_without_a_name_is_refused(text):
    with pytest.raises(SystemExit, match="expected 'NAME: key=value"):
        accuracy.parse_variant(text)


def test_summary_reports_the_epoch_reaching_none():
    runs = [{"variant": "none", "dev_by_epoch": [0.70, 0.80], "heldout_accuracy": 0.8,
             "seconds": 1.0},
            {"variant": "sage", "dev_by_epoch": [0.81, 0.82], "heldout_accuracy": 0.85,
             "seconds": 2.0}]
    summary = accuracy.summarise(runs)
    assert list(summary) == ["none", "sage"]
    assert summary["none"]["first_epoch_reaching_none_final"] == 2
    assert summary["sage"]["first_epoch_reaching_none_final"] == 1
    assert summary["sage"]["heldout_mean"] == pytest.approx(0.85)


def test_compare_pairs_variants_by_seed_across_files(tmp_path, capsys):
    import json

    compare = load_bench("compare")

    def run(variant, seed, dev, held):
        return {"variant": variant, "seed": seed, "dev_by_epoch": [0.5, dev],
                "heldout_accuracy": held}

    (tmp_path / "a.json").write_text(json.dumps({"runs": [
        run("none", 0, 0.80, 0.85), run("sage", 0, 0.81, 0.86),
        run("none", 1, 0.82, 0.85), run("sage", 1, 0.82, 0.87)]}))
    (tmp_path / "b.json").write_text(json.dumps({"runs": [  # older files say "strategy"
        {**run("none", 0, 0.70, 0.75), "strategy": "none"},
        {**run("sage", 0, 0.73, 0.75), "strategy": "sage"}]}))
    files = [tmp_path / "a.json", tmp_path / "b.json"]
    row = compare.paired(files, "sage", "none")
    assert row["n"] == 3
    assert row["dev"]["mean"] == pytest.approx((1 + 0 + 3) / 3)
    assert row["heldout"]["mean"] == pytest.approx((1 + 2 + 0) / 3)
    assert compare.paired(files, "sage", "random") is None  # never ran together
    assert compare.main([str(f) for f in files] + ["--pairs", "sage-none"]) == 0
    assert "sage-none" in capsys.readouterr().out
    assert compare.main([str(tmp_path / "missing.json")]) == 2


def made_up_runs(task_shift: float, seeds, variants=("none", "none_time", "random", "sage",
                                                     "region", "boundary", "adaptive")):
    """Runs whose held-out accuracy is random's plus a fixed gain per variant, with a
    little seed noise; `boundary` gains 1 point, `sage` nothing."""
    gain = {"none": -0.01, "none_time": 0.0, "random": 0.0, "sage": 0.0, "region": 0.002,
            "boundary": 0.01, "adaptive": 0.0}
    runs = []
    for seed in seeds:
        for v in variants:
            noise = 0.001 * ((seed * 7 + len(v)) % 3 - 1)
            acc = 0.8 + task_shift + gain[v] + noise
            runs.append({"variant": v, "seed": seed, "dev_by_epoch": [acc - 0.01, acc],
                         "heldout_accuracy": acc, "run_seconds": 10.0 + len(v),
                         "epoch_seconds": [4.0, 4.0], "seconds": 12.0,
                         "rounds": [{"anchor_neighbour_anchors": 0.1}, {}]})
    return runs


def write_result(path, runs, **extra):
    import json

    path.write_text(json.dumps({"train": 100, "teacher_train": 200, "held_out": 50,
                                "dev": 40, "teacher_dev_accuracy": 0.9, "seeds": [],
                                "runs": runs, "summary": {}, **extra}))


def test_guidance_report_pools_tasks_and_parts_and_applies_the_rule(tmp_path):
    import json

    guidance = load_bench("guidance")
    write_result(tmp_path / "guidance_sst2.json", made_up_runs(0.0, [0, 1, 2]))
    write_result(tmp_path / "guidance_qnli.json", made_up_runs(-0.1, [0, 1]))
    write_result(tmp_path / "guidance_qnli.b.json", made_up_runs(-0.1, [3]))  # another part
    assert guidance.report(tmp_path) == 0
    result = json.loads((tmp_path / "guidance.json").read_text())
    assert result["tasks"]["qnli"]["seeds"] == [0, 1, 3]
    pooled = result["pooled_vs_random"]
    assert pooled["boundary"]["n"] == 6 and pooled["boundary"]["heldout"]["mean"] == \
        pytest.approx(1.0, abs=0.2)
    assert result["verdicts"]["boundary"] == "beats random"
    assert result["verdicts"]["sage"] == "does not beat random"
    assert result["pooled_vs_random"]["same_class"] is None  # never ran
    assert result["verdicts"]["same_class"] == "not run"
    curve = result["tasks"]["sst2"]["curves"]["none"]  # 14 s a run: 6 s of setup, 2 x 4 s
    assert curve["seconds"] == pytest.approx([10.0, 14.0])
    assert (tmp_path / "guidance.png").stat().st_size > 0


def _paper_run(arm: str, seed: int, held: float, dev: list[float]) -> dict:
    return {"arm": arm, "seed": seed, "heldout_accuracy": held, "dev_by_epoch": dev,
            "best_dev": max(dev), "work_seconds": [100.0 if arm == "none" else 130.0] * len(dev)}


def test_the_paper_study_s_plan_is_the_one_written_before_its_first_run():
    import json

    paper = load_bench("paper")
    written = json.loads((Path(__file__).parent.parent / "bench" / "results" / "paper.json")
                         .read_text())["plan"]
    assert set(paper.RULES) == {"TEACHER", "STUDENTS", "HELD OUT", "RULE", "HEADLINE",
                                "ONLINE KD", "EXPORT", "QNLI"}
    assert written["rules"] == paper.RULES  # the script still says what was registered
    assert written["base"] == paper.BASE and written["arms"] == paper.ARMS
    assert paper.within_epoch([0.80, 0.905, 0.91], 0.91) == 2
    assert paper.within_epoch([0.80, 0.90, 0.91], 0.91) == 3


def test_the_paper_rule_needs_two_standard_errors_of_paired_held_out_gain():
    paper = load_bench("paper")
    dev = [0.88, 0.905, 0.91]
    pays = {(r["arm"], r["seed"]): r for r in
            [_paper_run("none", s, 0.900 + 0.001 * s, dev) for s in range(3)]
            + [_paper_run("sage", s, 0.905 + 0.001 * s + 0.0005 * (s == 1), dev)
               for s in range(3)]}
    v = paper.verdict(pays)
    assert v["complete"] and v["sage_pays"] is True
    assert v["heldout_sage_minus_none"]["mean"] == pytest.approx(0.5 + 0.05 / 3)
    assert v["sage_per_second"] is False  # same epochs, more seconds each
    assert paper.headline_arm(pays) == "sage"
    noisy = {**pays, ("sage", 2): _paper_run("sage", 2, 0.890, dev)}
    assert paper.verdict(noisy)["sage_pays"] is False
    partial = {k: v for k, v in pays.items() if k[1] == 0}
    assert paper.verdict(partial)["complete"] is False and paper.headline_arm(partial) == "none"


def test_the_paper_schedule_counts_sage_s_synthetic_steps_and_warms_up_over_a_tenth():
    import json

    paper = load_bench("paper")
    plans = paper.planned(paper.BASE, 20000)  # batch 32, a cap of 10 epochs
    assert plans["none"] == {"steps": 10 * 625, "warmup_steps": 625}
    # 0.2 x 20,000 synthetic points an epoch after the first round: 9 x 125 steps more
    assert plans["sage"] == {"steps": 10 * 625 + 9 * 125, "warmup_steps": 737}
    written = json.loads((Path(__file__).parent.parent / "bench" / "results" / "paper.json")
                         .read_text())["schedule"]["planned"]["sst2"]
    assert written == plans  # the page reports what the pipeline plans
