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
    # each says where its value came from: the file and line, or the override
    assert "augment.q: must be in [0.0, 1.0), got 1.5 (c.yaml, line 2)" in problems
    assert any(p.startswith("augment.stratgy: unknown key (did you mean 'augment.strategy'")
               and p.endswith("(c.yaml, line 3)") for p in problems)
    assert any(p.startswith("train.epochs: expected an integer") and p.endswith("line 5)")
               for p in problems)
    assert "loss.alpha: must be in [0.0, 1.0], got -1.0 (overrides loss.alpha=-1)" in problems
    assert len(problems) == 4 and info.value.source == str(path)


def test_override_errors_name_the_override_not_the_embedded_file():
    with pytest.raises(ConfigError) as info:
        load_config(None, ["epochs=2", "augment.q=3"], overrides_from="-o")
    assert info.value.source == "-o overrides"  # not configs/default.yaml
    assert info.value.problems == [
        "epochs: unknown key (did you mean 'train.epochs'?) (-o epochs=2)",
        "augment.q: must be in [0.0, 1.0), got 3.0 (-o augment.q=3)"]
    with pytest.raises(ConfigError) as info:
        load_config(None, {"train.lr": 0})
    assert info.value.source == "overrides"
    assert info.value.problems == ["train.lr: must be in (0.0, 1.0], got 0.0 (overrides train.lr)"]


def test_one_home_for_defaults_yaml_and_dataclasses_differ_only_in_the_data_budget(tmp_path):
    from sage_rapids.config import flat_config
    from sage_rapids.schema import EMBEDDED_BUDGET

    embedded, library = flat_config(load_config(None)), flat_config(Config())
    differ = {k: embedded[k] for k in library if embedded[k] != library[k]}
    assert differ == EMBEDDED_BUDGET
    # a user's file with only a data section runs what `sage-rapids run` runs, on all its data
    mine = load_config(write(tmp_path, "data:\n  name: glue/sst2\n"))
    assert mine == load_config(None, {k: None for k in EMBEDDED_BUDGET})
    assert (Config().teacher.model, Config().teacher.finetune, Config().data.max_length,
            Config().train.epochs, Config().train.early_stopping,
            Config().loss.layer_pool) == ("minilm-l6", True, 64, 6, 2, "mean")


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


def test_a_message_shows_a_bad_value_as_yaml_writes_it():
    with pytest.raises(ConfigError) as err:
        load_config(None, ["loss.layer_map=[[1, null], [3, null]]"])
    message = err.value.problems[0]
    assert message.startswith("loss.layer_map:") and "[[1, null], [3, null]]" in message
    assert "None" not in message


def test_the_schema_checks_show_values_as_yaml_writes_them():
    with pytest.raises(ConfigError) as err:
        load_config(None, ["data.task_type=regresion", "data.dev_sets={matched: null}",
                           'train.schedule="1"', "loss.layer_map=[[1, 2], [1, 3]]"])
    problems = [p.partition(" (overrides")[0] for p in err.value.problems]
    assert "data.task_type: must be one of [null, classification, regression], got " \
           "regresion" in problems
    assert any(p.startswith("data.dev_sets:") and p.endswith("got {matched: null}")
               for p in problems)
    assert "train.schedule: must be one of [constant, linear], got '1'" in problems
    assert "loss.layer_map: a student layer is mapped twice in [[1, 2], [1, 3]]" in problems
    assert not any("None" in p for p in problems)


@pytest.mark.parametrize("value, written", [
    ([[1, None], [3, None]], "[[1, null], [3, null]]"), (None, "null"), (True, "true"),
    ({"matched": None, "n": 2}, "{matched: null, n: 2}"), ("cosine", "cosine"),
    ("1", "'1'"), ("", "''"), ("a: b", "'a: b'"), ("two\nlines", '"two\\nlines"'),
    (1.5, "1.5"), (("a", 1), "[a, 1]"), (float("nan"), ".nan")])
def test_yaml_value_writes_flow_style_yaml_on_one_line(value, written):
    import yaml

    from sage_rapids.schema import yaml_value

    assert yaml_value(value) == written
    assert yaml.safe_load(written) == (list(value) if isinstance(value, tuple) else value) \
        or value != value  # NaN is not equal to itself
