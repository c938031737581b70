"""Property-based tests: random rows and random config values never escape as
anything but the library's own clear errors."""

import json
import string

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sage_rapids.config import Config, ConfigError, DataConfig, flat_config, load_config
from sage_rapids.data.rows import DataError
from sage_rapids.data.tasks import load_split

TEXT = st.text(alphabet=string.printable + "éü\u00a0\"'", max_size=12)
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(rows=st.lists(st.lists(TEXT, min_size=0, max_size=4), max_size=8),
       suffix=st.sampled_from([".tsv", ".csv", ".jsonl"]), raw=st.binary(max_size=40))
def test_random_rows_load_or_raise_data_error(tmp_path, rows, suffix, raw):
    path = tmp_path / f"d{suffix}"
    if suffix == ".jsonl":
        body = "\n".join(json.dumps(dict(zip(["sentence", "label", "x"], r))) for r in rows)
    else:
        sep = "\t" if suffix == ".tsv" else ","
        body = "\n".join(sep.join(r) for r in [["sentence", "label"], *rows])
    path.write_bytes(body.encode("utf-8") + raw)
    cfg = DataConfig(name="local", train_file=str(path), text_column="sentence")
    try:
        ds = load_split(cfg, "train")
    except DataError as err:
        assert str(path) in str(err)
    else:
        assert len(ds.texts) == len(ds.labels) > 0


LEAVES = sorted(flat_config(Config()))
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True),
                   TEXT, st.lists(st.integers(-3, 9), max_size=4),
                   st.dictionaries(TEXT, st.integers(), max_size=2))


@SETTINGS
@given(values=st.dictionaries(st.one_of(st.sampled_from(LEAVES), TEXT), VALUES, max_size=6))
def test_random_config_values_validate_or_raise_config_error(tmp_path, values):
    raw: dict = {}
    for key, value in values.items():
        node = raw
        *sections, leaf = key.split(".")
        for part in sections:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[leaf] = value
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    try:
        config = load_config(path)
    except ConfigError as err:
        assert err.problems and all(isinstance(p, str) and p for p in err.problems)
    else:
        assert isinstance(config, Config)
