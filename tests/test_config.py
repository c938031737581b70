import pytest

from sage_rapids.config import Config, ConfigError, default_config_path, load_config


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_embedded_default_loads_and_follows_the_convergence_study():
    config = load_config(None)
    assert default_config_path().is_file()
    assert config.augment.strategy == "none" == Config().augment.strategy
    assert (config.train.epochs, config.train.early_stopping) == (6, 2)
    assert config.student.layers == [0, 2, 4]


def test_empty_file_gives_dataclass_defaults(tmp_path):
    assert load_config(write(tmp_path, "")) == Config()


def test_overrides_parse_yaml_values(tmp_path):
    config = load_config(write(tmp_path, "train:\n  epochs: 2\n"),
                         ["train.lr=3e-5", "student.layers=[1, 3]", "augment.strategy=random"])
    assert config.train.epochs == 2
    assert config.train.lr == pytest.approx(3e-5)
    assert config.student.layers == [1, 3]
    assert config.augment.strategy == "random"


def test_all_problems_reported_at_once_with_dotted_keys(tmp_path):
    path = write(tmp_path, "augment:\n  q: 1.5\n  stratgy: sage\ntrain:\n  epochs: two\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, ["loss.alpha=-1"])
    problems = info.value.problems
    assert "augment.q: must be in [0.0, 1.0), got 1.5" in problems
    assert any(p.startswith("augment.stratgy: unknown key (did you mean 'augment.strategy'")
               for p in problems)
    assert any(p.startswith("train.epochs: expected an integer") for p in problems)
    assert any(p.startswith("loss.alpha: must be in [0.0, 1.0]") for p in problems)
    assert len(problems) == 4


def test_bad_choice_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="augment.synthesis: must be one of"):
        load_config(write(tmp_path, "augment:\n  synthesis: triangle\n"))
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


def test_relative_paths_resolve_against_config_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "c.yaml"
    path.write_text("data:\n  name: local\n  train_file: t.tsv\n  text_column: sentence\n")
    assert load_config(path).data.train_file == str((tmp_path / "sub" / "t.tsv").resolve())


def test_an_overrides_relative_paths_resolve_against_the_working_folder(tmp_path,
                                                                       monkeypatch):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "c.yaml"
    path.write_text("data:\n  name: local\n  dev_file: d.tsv\n  text_column: sentence\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_config(path, ["data.train_file=t.tsv", "teacher.targets=out/teacher.jsonl"])
    assert cfg.data.train_file == str(tmp_path / "t.tsv")  # where the command was typed
    assert cfg.data.dev_file == str(tmp_path / "sub" / "d.tsv")  # beside the file
    assert cfg.teacher.targets == str(tmp_path / "out" / "teacher.jsonl")
    embedded = load_config(None, ["data.name=local", "data.train_file=t.tsv",
                                  "data.text_column=sentence"])
    assert embedded.data.train_file == str(tmp_path / "t.tsv")


def test_yaml_is_loaded_safely(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "seed: !!python/object/apply:os.system ['true']\n"))


def test_soft_anchor_settings_are_validated():
    cfg = load_config(None, ["augment.q=0", "augment.anchor_power=2"])
    assert (cfg.augment.q, cfg.augment.anchor_power) == (0.0, 2.0)
    with pytest.raises(ConfigError) as err:
        load_config(None, ["augment.anchor_power=-1"])
    assert "augment.anchor_power: must be in [0.0, inf), got -1.0" in str(err.value)


def test_a_config_saved_with_a_retired_key_still_loads(tmp_path):
    saved = tmp_path / "config.yaml"  # as run directories written before the key went
    saved.write_text("train:\n  epochs: 2\n  eval_batch_size: 128\n")
    assert load_config(saved).train.epochs == 2
