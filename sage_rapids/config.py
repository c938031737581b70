"""Reading a run configuration (its schema is `schema.py`).

`load_config` reads YAML with `safe_load`, applies `a.b=value` overrides, and checks
every field. All problems are collected and raised together in one `ConfigError`,
each line starting with its dotted key, so a user fixes a file in one pass.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, Union

import yaml

from .schema import (
    GLUE_TASKS,
    AugmentConfig,
    Config,
    DataConfig,
    EvalConfig,
    LossConfig,
    StudentConfig,
    TeacherConfig,
    TrainConfig,
    check,
    flat_config,
    yaml_value,
)

__all__ = [  # the schema's names stay importable from here
    "GLUE_TASKS", "AugmentConfig", "Config", "ConfigError", "DataConfig", "EvalConfig",
    "LossConfig", "Overrides", "StudentConfig", "TeacherConfig", "TrainConfig",
    "config_to_dict", "default_config_path", "flat_config", "load_config",
]


class ConfigError(ValueError):
    """One or more configuration problems; `problems` holds one line per key."""

    def __init__(self, problems: list[str], source: str = "config"):
        self.problems = problems
        self.source = source
        super().__init__(f"{source}: {len(problems)} problem(s)\n  " + "\n  ".join(problems))


def default_config_path() -> Path:
    """Path of the embedded default config shipped inside the package.

    Installed, `configs/` is the subpackage `sage_rapids.configs`; in a source tree that
    shadows an installed copy it is the `configs/` folder beside the package.
    """
    try:
        return Path(str(resources.files("sage_rapids.configs").joinpath("default.yaml")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "configs" / "default.yaml"


Overrides = Union[Sequence[str], Mapping[str, Any]]


def load_config(path: "str | Path | Config | None" = None, overrides: Overrides = (),
                overrides_from: str = "overrides",
                checks: Callable[[Config], list[str]] | None = None) -> Config:
    """Load a YAML config (or the embedded default, or a `Config` built in Python), apply
    overrides, validate: a `Config` object goes through the same checks as a file.

    Args:
        path: YAML file; None loads the embedded default; or a `Config`.
        overrides: strings `a.b=value` (the value parsed as YAML: `1e-4`, `[0, 2]`), or a
            mapping `{"a.b": value}` of values as they are.
        overrides_from: how a message names where an override came from (`-o` on the
            command line).
        checks: more checks of the built config (e.g. against the models' own configs,
            `models.config_problems`), reported with the others.

    Returns:
        The validated, frozen `Config`.

    Raises:
        ConfigError: listing every problem, each starting with its dotted key and ending
            with where its value came from (the file and line, or the override).
    """
    if isinstance(path, Config):
        return _validated(config_to_dict(path), overrides, Path.cwd(), "config",
                          overrides_from, {}, checks)
    path = Path(path) if path is not None else default_config_path()
    try:
        text = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(text)
    except FileNotFoundError:
        raise ConfigError([f"file not found: {path}"], str(path)) from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError([f"not valid YAML: {err}"], str(path)) from None
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError(["top level must be a mapping of sections"], str(path))
    origins = {key: f"{path.name}, line {line}" for key, line in key_lines(text).items()}
    return _validated(raw, overrides, path.parent, str(path), overrides_from, origins, checks)


def key_lines(text: str) -> dict[str, int]:
    """The 1-based line of every dotted key of a YAML mapping (`train.epochs`: 31)."""
    out: dict[str, int] = {}

    def walk(node, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                name = f"{prefix}{key.value}"
                out[name] = key.start_mark.line + 1
                walk(value, f"{name}.")

    try:
        walk(yaml.compose(text), "")
    except yaml.YAMLError:
        pass
    return out


def _validated(raw: dict, overrides: Overrides, base: Path, source: str,
               overrides_from: str, origins: dict[str, str],
               checks: Callable[[Config], list[str]] | None = None) -> Config:
    """Overrides applied to the raw mapping, then built and checked as one; each problem
    says where its key's value came from."""
    problems: list[str] = []
    _resolve_relative_paths(raw, base)  # the file's own paths: against its folder
    if isinstance(overrides, Mapping):
        for key, value in overrides.items():
            origins[str(key)] = f"{overrides_from} {key}"
            _set_key(raw, str(key), value, problems)
    else:
        for item in overrides:
            origins[str(item).partition("=")[0].strip()] = f"{overrides_from} {item}"
            _apply_override(raw, item, problems)
    _drop_retired(raw)
    _resolve_relative_paths(raw, Path.cwd())  # an override's paths: against the caller's
    config = _build(Config, raw, "", problems)
    problems += check(config)
    problems += _check_other_teachers(config)
    if not problems and checks is not None:
        problems += checks(config)
    if problems:
        said = [_with_origin(p, origins) for p in problems]
        given = [o for _, o in said if o]
        if given and all(o.startswith(f"{overrides_from} ") for o in given):
            source = f"{overrides_from} overrides" if overrides_from.startswith("-") else \
                overrides_from  # not the file the user never touched
        raise ConfigError([text for text, _ in said], source)
    return config


def _with_origin(problem: str, origins: dict[str, str]) -> tuple[str, str | None]:
    """A problem line with where its key's value came from appended: the override, or
    the file and line (the key's own, else its section's)."""
    key = problem.split(":", 1)[0].split(" ", 1)[0].split("[", 1)[0]
    parts = key.split(".")
    for n in range(len(parts), 0, -1):
        origin = origins.get(".".join(parts[:n]))
        if origin:
            return f"{problem} ({origin})", origin
    return problem, None


# What each of `teacher.others` does not take from the main teacher: its outputs, its
# weight, and the ensemble's own settings.
NOT_INHERITED = ("targets", "weight", "others", "combine")


def other_teachers(teacher: TeacherConfig) -> list[TeacherConfig]:
    """The teachers of `teacher.others`, each the main teacher's settings with the keys
    the item gives (its file, weight and outputs are its own). An item with `targets` is a
    file of outputs; the others are models (fine-tuned when `finetune` says so)."""
    base = {k: v for k, v in dataclasses.asdict(teacher).items() if k not in NOT_INHERITED}
    out = []
    for item in teacher.others or []:
        merged = {**base, **item}
        if item.get("targets") and "model" not in item:
            merged.update(model=None, finetune=False)  # a file: no model of its own
        out.append(_build(TeacherConfig, merged, "teacher.others.", []))  # typed as checked
    return out


def _check_other_teachers(config: Config) -> list[str]:
    """Each of `teacher.others` checked like the teacher section, under its own prefix
    (`teacher.others[1].finetune_lr: ...`)."""
    problems: list[str] = []
    others = config.teacher.others
    for i, item in enumerate(others if isinstance(others, list) else []):
        prefix = f"teacher.others[{i}]."
        if not isinstance(item, dict) or not item:
            problems.append(f"teacher.others[{i}]: expected a mapping of teacher keys (e.g. "
                            f"{{model: my-teacher, weight: 0.5}}), got {yaml_value(item)}")
            continue
        nested = [k for k in ("others", "combine") if k in item]
        if nested:
            problems.append(f"{prefix}{nested[0]}: set it on the main teacher section only")
            continue
        found: list[str] = []
        built = _build(TeacherConfig, item, prefix, found)
        problems += found
        if found:
            continue
        merged = other_teachers(dataclasses.replace(config.teacher, others=[item]))[0]
        built = dataclasses.replace(merged, others=None)
        problems += [prefix + p[len("teacher."):] for p in
                     check(dataclasses.replace(config, teacher=built, student=dataclasses.replace(
                         config.student, model=config.student.model or "named"),
                         augment=dataclasses.replace(config.augment, strategy="none")))
                     if p.startswith("teacher.")]
    return problems


# Keys that once existed and did nothing: configs saved by earlier runs (every run
# directory keeps its resolved config) still load, and resume.
RETIRED = {("train", "eval_batch_size")}


def _drop_retired(raw: dict) -> None:
    for section, key in RETIRED:
        if isinstance(raw.get(section), dict):
            raw[section].pop(key, None)


def config_to_dict(config: Config) -> dict:
    """The resolved config as plain data, ready for `yaml.safe_dump`."""
    return dataclasses.asdict(config)


def _apply_override(raw: dict, item: str, problems: list[str]) -> None:
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        problems.append(f"{item}: override must look like section.key=value")
        return
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = text
    _set_key(raw, key, value, problems)


def _set_key(raw: dict, key: str, value: Any, problems: list[str]) -> None:
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            problems.append(f"{key}: {part} is not a section")
            return
    node[parts[-1]] = value


def _absolute(value: str) -> bool:
    """Whether a path is absolute once `~` is expanded (`~name` of no such user: as
    written, a relative path whose file will be reported missing by name)."""
    try:
        return Path(value).expanduser().is_absolute()
    except RuntimeError:
        return Path(value).is_absolute()


def _resolve_relative_paths(raw: dict, base: Path) -> None:
    """Relative file paths in a config resolve against the config file's folder."""
    data = raw.get("data")
    if isinstance(data, dict):
        for key in ("path", "train_file", "dev_file", "encoded"):
            value = data.get(key)
            if isinstance(value, str) and value and not _absolute(value):
                data[key] = str((base / value).resolve())
        sets = data.get("dev_sets")
        if data.get("name") == "local" and isinstance(sets, dict):
            data["dev_sets"] = {k: str((base / v).resolve()) if isinstance(v, str) and v and
                                not _absolute(v) else v
                                for k, v in sets.items()}
    teacher = raw.get("teacher")
    if isinstance(teacher, dict):
        others = teacher.get("others")
        for section in [teacher, *(others if isinstance(others, list) else [])]:
            if not isinstance(section, dict):
                continue
            model, targets = section.get("model"), section.get("targets")
            if isinstance(model, str) and model.startswith((".", "..")):
                section["model"] = str((base / model).resolve())
            if isinstance(targets, str) and targets and \
                    not Path(targets).expanduser().is_absolute():
                section["targets"] = str((base / targets).resolve())


def _build(cls: type, raw: Any, prefix: str, problems: list[str]):
    if not isinstance(raw, dict):
        problems.append(f"{prefix.rstrip('.') or 'config'}: must be a mapping, got {yaml_value(raw)}")
        return cls()
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in raw:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else \
                _in_a_section(str(key)) if cls is Config else ""
            problems.append(f"{prefix}{key}: unknown key{hint}")
    values = {}
    for name in names:
        if name not in raw:
            continue
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, raw[name], f"{prefix}{name}.", problems)
        else:
            ok, value = _coerce(raw[name], hint)
            if ok:
                values[name] = value
            else:
                problems.append(
                    f"{prefix}{name}: expected {_type_name(hint)}, got {yaml_value(raw[name])}"
                )
    return cls(**values)


def _in_a_section(key: str) -> str:
    """`epochs` given at the top level: the sections' keys that it names (or nearly)."""
    leaves = [k for k in flat_config(Config()) if "." in k]
    exact = [k for k in leaves if k.rsplit(".", 1)[1] == key]
    close = exact or difflib.get_close_matches(key, leaves, n=1) or [
        k for k in leaves if difflib.get_close_matches(key, [k.rsplit(".", 1)[1]], n=1)][:1]
    return f" (did you mean {' or '.join(repr(k) for k in close)}?)" if close else ""


def _coerce(value: Any, hint: Any) -> tuple[bool, Any]:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union:  # Optional[X]
        if value is None:
            return True, None
        return _coerce(value, next(a for a in args if a is not type(None)))
    if origin is list:
        if not isinstance(value, list):
            return False, None
        items = [_coerce(v, args[0]) if args else (True, v) for v in value]
        return all(ok for ok, _ in items), [v for _, v in items]
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        if isinstance(value, str):  # YAML 1.1 reads 3e-5 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                return False, None
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return ok, float(value) if ok else None
    if hint is str:
        return isinstance(value, str), value
    if hint is dict:
        return isinstance(value, dict), value
    if hint is list:
        return isinstance(value, list), value
    return True, value


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union:
        inner = next(a for a in args if a is not type(None))
        return f"{_type_name(inner)} or null"
    if origin is list:
        return f"a list of {_type_name(args[0])}" if args else "a list"
    return {bool: "true/false", int: "an integer", float: "a number", str: "a string",
            dict: "a mapping", list: "a list"}.get(hint, str(hint))
