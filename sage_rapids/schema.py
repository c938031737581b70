"""What a run can be configured with: the frozen dataclasses that YAML mirrors 1:1,
the allowed values of each key, and `check`, which lists every problem with a built
config (`config.load_config` reads, coerces and calls it).

The dataclasses are the one home of every default: a config file, `overrides=` and the
embedded `configs/default.yaml` all start from them. The embedded default differs only
in `EMBEDDED_BUDGET` (a test holds the YAML and the docs' default column to this).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

import yaml


@dataclass(frozen=True)
class DataConfig:
    name: str = "glue/sst2"  # glue/<task>, "local" (train_file / dev_file), or "hf"
    path: Optional[str] = None  # glue: folder of <split>.tsv; hf: a save_to_disk folder
    train_file: Optional[str] = None  # local file: .tsv .csv .jsonl .parquet
    dev_file: Optional[str] = None
    dev_sets: Optional[dict] = None  # several dev sets {name: file | hf split | glue file stem}
    task_type: Optional[str] = None  # classification | regression (null: task's, or inferred)
    header: Optional[bool] = None  # TSV / CSV first line names columns (null: the task's)
    columns: Optional[list[str]] = None  # column names of a headerless file
    bad_rows: str = "error"  # error | skip: rows with missing fields, empty text
    train_split: str = "train"  # hf: split names
    dev_split: str = "validation"
    hub_name: Optional[str] = None  # hf: load_dataset(hub_name, hub_config) (needs network)
    hub_config: Optional[str] = None
    text_column: Optional[str] = None  # defaults per glue task; required for local
    text_pair_column: Optional[str] = None  # second text of a sentence pair
    label_column: Optional[str] = None
    label_names: Optional[list[str]] = None  # fixes the label order; inferred if unset
    train_limit: Optional[int] = None  # seeded stratified subset of train
    dev_limit: Optional[int] = None
    train_from_dev_split: Optional[float] = None  # fraction of dev to train on (no train split)
    max_length: int = 64  # SST-2 sentences fit; longer ones are truncated (counted)
    encoded: Optional[str] = None  # folder of `sage-rapids encode`: replaces the train split


@dataclass(frozen=True)
class TeacherConfig:
    model: Optional[str] = "minilm-l6"  # alias (all-MiniLM-L6-v2, offline), folder, hub name;
    # null: no teacher model, its outputs come from `targets` (the student's own input layer)
    targets: Optional[str] = None  # teacher outputs from a file (.parquet .jsonl .csv)
    # instead of running the model: logits, probs, top-k logprobs, a label, or a score
    weight: float = 1.0  # this teacher's weight among several (`others`)
    combine: str = "probs"  # several teachers: weighted mean of probs | logits
    others: Optional[list] = None  # more teachers: each this section's keys that
    # differ, e.g. [{finetune_limit: 2000}, {targets: api.jsonl, weight: 0.5}]
    finetune: bool = True  # fine-tune the model on the task first (cached); false: use
    # teacher.model as it is (a teacher already fine-tuned on the task)
    finetune_limit: Optional[int] = None  # stratified subset of the whole train split
    finetune_epochs: float = 1.0
    finetune_lr: float = 1.0e-4  # bench/teacher_recipe.py: 0.849 over 3 seeds, 0.835 at 5e-5
    finetune_batch_size: int = 32
    finetune_schedule: str = "linear"  # linear: warmup then decay to 0 | constant
    finetune_max_grad_norm: Optional[float] = 1.0  # null: no clipping
    cache_dir: Optional[str] = None  # default $SAGE_CACHE_DIR or ~/.cache/sage-rapids
    trust_remote_code: bool = False


@dataclass(frozen=True)
class StudentConfig:
    layers: Optional[list[int]] = dataclasses.field(default_factory=lambda: [0, 2, 4])
    model: Optional[str] = None  # a named model instead of teacher layers
    config: Optional[dict] = None  # HF config overrides: a randomly initialised student
    static_dim: Optional[int] = 256  # layers []: the static student's width, its word
    # vectors reduced by a PCA of the training text (null: the teacher's width)


@dataclass(frozen=True)
class LossConfig:
    temperature: float = 2.0
    alpha: float = 0.5  # weight of the KD term; 1 - alpha weighs gold-label CE
    cosine: float = 0.0  # weight of 1 - cos(pooled student, pooled teacher)
    layers: float = 0.0  # weight of the per-layer transfer term (0: off)
    layer_map: Optional[list[list[int]]] = None  # [[student, teacher], ...] layer outputs,
    # 1-based (0: the embedding output); null: each student layer to the teacher's at the
    # same relative depth (3 of 6: [[1, 2], [2, 4], [3, 6]])
    layer_pool: str = "mean"  # mean | cls: a layer's tokens pooled into one vector (cached
    # in stage 1; mean won the layer study's pilot) | tokens: token by token, with the
    # teacher in the loop (forward only)
    layer_loss: str = "pkd"  # pkd (squared distance of L2-normalised states) | mse | cosine
    layer_cache_gb: float = 8.0  # refuse a cache of teacher layer states above this size
    attention: float = 0.0  # weight of attention transfer: KL between the mapped layers'
    # attention distributions (TinyBERT, MiniLM); runs the teacher in the loop


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 6  # the cap; the linear schedule decays to 0 here
    batch_size: int = 32
    lr: float = 1.0e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    bucket_batches: int = 50  # batches drawn from one length bucket
    precision: str = "fp32"  # fp32 | bf16 | fp16: student steps, teacher targets and labels
    early_stopping: Optional[int] = 2  # patience in epochs on the primary dev metric
    schedule: str = "linear"  # linear: warmup, decay to 0 at train.epochs | constant: warmup, flat
    seed: Optional[int] = None  # the student's own seed: dropout, batch order, augmentation
    # (null: `seed`, which also picks the data subsets and the teacher's fine-tuning)


@dataclass(frozen=True)
class AugmentConfig:
    strategy: str = "none"  # none | sage | random (none: bench/convergence.py)
    start_epoch: int = 1  # first epoch after which a round runs
    space: str = "input"  # input (map of pooled input vectors, fit once) | student (refit)
    umap_fit_max: int = 2000  # fit UMAP on a subsample this large, place the rest by kNN
    umap_n_neighbors: int = 15
    umap_min_dist: float = 0.1
    umap_metric: str = "cosine"
    umap_epochs: Optional[int] = 100  # layout epochs (null: umap's own default)
    q: float = 0.9  # anchors: top 1 - q of the loss (0: every example)
    anchor_power: float = 1.0  # draw anchors in proportion to loss ** anchor_power
    anchor_loss: str = "kd"  # kd | total
    anchor_score: str = "point"  # point (own loss) | region (mean loss of its map neighbours)
    partner: str = "other_class"  # any | other_class | same_class (teacher classes)
    partner_margin: float = 0.5  # regression: "another class" = teacher scores this many SDs apart
    budget: str = "fixed"  # fixed | adaptive (ratio scaled by the KD loss left)
    k: int = 10
    ratio: float = 0.2  # synthetic points per real point each round
    lam_max: float = 0.5
    synthesis: str = "pair"  # pair | barycentric
    pool: str = "replace"  # replace | accumulate
    pool_max: Optional[int] = None
    label_batch_size: int = 256
    plots: bool = True


@dataclass(frozen=True)
class EvalConfig:
    batch_size: int = 128
    metrics: Optional[list[str]] = None  # default per task, primary first: mcc, f1, accuracy
    select_by: Optional[str] = None  # metric that picks the best epoch (null: the primary);
    # with several dev sets also <set>_<metric>, e.g. mismatched_accuracy
    efficiency: bool = True  # time teacher and student as deployed after the last epoch


@dataclass(frozen=True)
class Config:
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    tensorboard: bool = False  # event files in RUN_DIR/tensorboard (needs tensorboard)
    data: DataConfig = field(default_factory=DataConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


# What the embedded default sets apart from the dataclass defaults: its own data budget
# (a user's data trains on all of it unless a limit is set).
EMBEDDED_BUDGET = {"data.train_limit": 8000, "teacher.finetune_limit": 20000}

GLUE_TASKS = ("sst2", "qnli", "rte", "mrpc", "qqp", "cola", "stsb", "mnli", "wnli")
REGRESSION_TASKS = ("stsb",)
METRICS = ("accuracy", "f1", "mcc", "pearson", "spearman")
REGRESSION_METRICS = ("pearson", "spearman")
GLUE_DEV_SETS = {"mnli": ("matched", "mismatched")}
CHOICES = {
    "device": {"auto", "cpu", "cuda"},
    "data.bad_rows": {"error", "skip"},
    "data.task_type": {None, "classification", "regression"},
    "teacher.finetune_schedule": {"linear", "constant"},
    "teacher.combine": {"probs", "logits"},
    "train.precision": {"fp32", "bf16", "fp16"},
    "train.schedule": {"linear", "constant"},
    "augment.strategy": {"sage", "random", "none"},
    "augment.space": {"student", "input"},
    "augment.anchor_loss": {"kd", "total"},
    "augment.anchor_score": {"point", "region"},
    "augment.partner": {"any", "other_class", "same_class"},
    "augment.budget": {"fixed", "adaptive"},
    "augment.synthesis": {"pair", "barycentric"},
    "augment.pool": {"replace", "accumulate"},
    "augment.umap_metric": {"cosine", "euclidean"},
    "loss.layer_pool": {"cls", "mean", "tokens"},
    "loss.layer_loss": {"pkd", "mse", "cosine"},
}
# (low, high, low_open, high_open); None means unbounded.
RANGES = {
    "data.train_limit": (1, None, False, False),
    "data.dev_limit": (1, None, False, False),
    "data.train_from_dev_split": (0.0, 1.0, True, True),
    "data.max_length": (2, 8192, False, False),
    "teacher.finetune_limit": (1, None, False, False),
    "student.static_dim": (1, None, False, False),
    "teacher.finetune_epochs": (0.0, None, True, False),
    "teacher.finetune_lr": (0.0, 1.0, True, False),
    "teacher.finetune_batch_size": (1, None, False, False),
    "teacher.finetune_max_grad_norm": (0.0, None, True, False),
    "teacher.weight": (0.0, None, True, False),
    "loss.temperature": (0.0, None, True, False),
    "loss.alpha": (0.0, 1.0, False, False),
    "loss.cosine": (0.0, None, False, False),
    "loss.layers": (0.0, None, False, False),
    "loss.attention": (0.0, None, False, False),
    "loss.layer_cache_gb": (0.0, None, True, False),
    "train.epochs": (1, None, False, False),
    "train.batch_size": (1, None, False, False),
    "train.lr": (0.0, 1.0, True, False),
    "train.weight_decay": (0.0, None, False, False),
    "train.warmup_ratio": (0.0, 1.0, False, True),
    "train.max_grad_norm": (0.0, None, True, False),
    "train.bucket_batches": (1, None, False, False),
    "train.early_stopping": (1, None, False, False),
    "train.seed": (0, None, False, False),
    "augment.start_epoch": (1, None, False, False),
    "augment.umap_fit_max": (10, None, False, False),
    "augment.umap_n_neighbors": (2, None, False, False),
    "augment.umap_min_dist": (0.0, None, False, False),
    "augment.umap_epochs": (1, None, False, False),
    "augment.q": (0.0, 1.0, False, True),
    "augment.anchor_power": (0.0, None, False, False),
    "augment.k": (1, None, False, False),
    "augment.ratio": (0.0, None, False, False),
    "augment.lam_max": (0.0, 1.0, False, False),
    "augment.partner_margin": (0.0, None, False, False),
    "augment.pool_max": (1, None, False, False),
    "augment.label_batch_size": (1, None, False, False),
    "eval.batch_size": (1, None, False, False),
}


def _flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out.update(_flatten(value, f"{prefix}{f.name}."))
        else:
            out[f"{prefix}{f.name}"] = value
    return out


class _OneLine(yaml.SafeDumper):
    """Flow style on one line: a string with a line break is written double-quoted
    (`"a\\nb"`), a tuple as a list, anything else YAML has no tag for as its str()."""


_OneLine.add_representer(str, lambda d, v: d.represent_scalar(
    "tag:yaml.org,2002:str", v, style='"' if any(c in v for c in "\n\r\x85\u2028\u2029")
    else None))
_OneLine.add_representer(tuple, yaml.SafeDumper.represent_list)
_OneLine.add_multi_representer(object, lambda d, v: d.represent_str(str(v)))


def yaml_value(value: Any) -> str:
    """`value` as a user writes it in YAML, on one line, for messages: `[[1, null], [3,
    null]]`, `true`, `{matched: null}`, `cosine`; strings are quoted only where YAML
    would read them as something else (`'1'`, `'null'`, `''`)."""
    text = yaml.dump(value, Dumper=_OneLine, default_flow_style=True, allow_unicode=True,
                     sort_keys=False, width=float("inf"))
    return text.removesuffix("\n...\n").strip()  # a bare scalar also ends the document


def flat_config(config: Config) -> dict[str, Any]:
    """Dotted key -> value for every leaf of the config."""
    return _flatten(config)


def _check_task_shape(config: Config) -> list[str]:
    """Task type, dev sets and metrics agree with each other and with the task."""
    problems, data = [], config.data
    task = data.name[5:] if data.name.startswith("glue/") else None
    if task in GLUE_TASKS and data.task_type is not None:
        own = "regression" if task in REGRESSION_TASKS else "classification"
        if data.task_type != own:
            problems.append(f"data.task_type: glue/{task} is a {own} task, got "
                            f"{yaml_value(data.task_type)}; leave data.task_type unset")
    sets = data.dev_sets
    if sets is not None:
        if not sets or not all(isinstance(k, str) and k and isinstance(v, str) and v
                               for k, v in sets.items()):
            problems.append(f"data.dev_sets: expected a mapping of names to files (local), "
                            f"splits (hf) or file stems (glue), got {yaml_value(sets)}")
        elif data.dev_file:
            problems.append("data.dev_file: give data.dev_file or data.dev_sets, not both")
    names = list(sets or GLUE_DEV_SETS.get(task, ()))
    regression = data.task_type == "regression" or task in REGRESSION_TASKS
    metrics = config.eval.metrics or []
    for name in metrics:
        if name not in METRICS:
            problems.append(f"eval.metrics: unknown metric {yaml_value(name)}; known: "
                            f"{', '.join(METRICS)}")
    wrong = [m for m in metrics if (m in REGRESSION_METRICS) != regression]
    if wrong and (regression or data.task_type == "classification" or task):
        kind = "regression" if regression else "classification"
        problems.append(f"eval.metrics: {', '.join(wrong)} do not apply to a {kind} task")
    select = config.eval.select_by
    if select is not None:
        metric = select.removeprefix("dev_")
        for name in names:
            if metric.startswith(f"{name}_"):
                metric = metric[len(name) + 1:]
        if metric not in METRICS:
            sets_hint = f" (or <set>_<metric> for the sets {yaml_value(names)})" if names \
                else ""
            problems.append(f"eval.select_by: must be one of {yaml_value(METRICS)}{sets_hint}, "
                            f"got {yaml_value(select)}")
        elif metrics and metric not in metrics:
            problems.append(f"eval.select_by: {yaml_value(select)} is not among eval.metrics "
                            f"{yaml_value(metrics)}")
    return problems


def _check_layer_map(pairs) -> list[str]:
    """`loss.layer_map` is a list of [student, teacher] pairs of layer outputs (>= 0);
    whether the models have those layers is checked once they are built."""
    if pairs is None:
        return []
    ok = isinstance(pairs, list) and pairs and all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(i, int) and not
                                                    isinstance(i, bool) and i >= 0 for i in p)
        for p in pairs)
    if not ok:
        return [f"loss.layer_map: expected a list of [student, teacher] layer pairs "
                f"(non-negative integers, e.g. [[1, 2], [2, 4]]), got {yaml_value(pairs)}"]
    students = [p[0] for p in pairs]
    if len(set(students)) != len(students):
        return [f"loss.layer_map: a student layer is mapped twice in {yaml_value(pairs)}"]
    return []


def _check_teachers(config: Config) -> list[str]:
    """A teacher model or a file of its outputs; what needs a model has one; several
    teachers do not label synthetic points."""
    t, loss, problems = config.teacher, config.loss, []
    if t.model is None and t.targets is None:
        problems.append("teacher.model: give a teacher model, or the teacher's outputs in a "
                        "file (teacher.targets)")
    if t.model is None:
        if t.finetune:
            problems.append("teacher.finetune: there is no teacher model to fine-tune "
                            "(teacher.model is null); set teacher.finetune: false")
        if not config.student.model:
            problems.append("student.model: without a teacher model the student reads token "
                            "ids through its own input layer: name one (e.g. "
                            "student.model: minilm-l6)")
        for key, weight in (("loss.layers", loss.layers), ("loss.attention", loss.attention),
                            ("loss.cosine", loss.cosine)):
            if weight > 0:
                problems.append(f"{key}: needs the teacher model's hidden states, and "
                                f"teacher.model is null (outputs from a file); set {key}: 0")
    strategy = config.augment.strategy
    if strategy != "none" and t.model is None:
        problems.append(f"augment.strategy: {strategy} has the teacher label the synthetic "
                        "points it makes, and there is no teacher model (teacher.model is "
                        "null, outputs from a file); set augment.strategy: none")
    elif strategy != "none" and t.others:
        problems.append(f"augment.strategy: {strategy} with several teachers: synthetic points "
                        "would be labelled by teacher.model alone, not by the mix the real "
                        "examples learn from; set augment.strategy: none")
    if t.others and config.data.encoded:
        problems.append("teacher.others: an encoded corpus (data.encoded) holds one teacher's "
                        "outputs; encode it with the mix's outputs in a file (teacher.targets), "
                        "or train on the raw files")
    if t.others is not None and not (isinstance(t.others, list) and t.others):
        problems.append(f"teacher.others: expected a list of teachers (mappings of teacher "
                        f"keys), got {yaml_value(t.others)}")
    return problems


def check(config: Config) -> list[str]:
    """Every problem with the values of a built config, one line per dotted key:
    choices, ranges, and the keys that must agree with each other."""
    problems = []
    flat = _flatten(config)
    for key, allowed in CHOICES.items():
        if flat[key] not in allowed:
            choices = sorted(allowed, key=lambda v: (v is not None, str(v)))  # None first
            problems.append(f"{key}: must be one of {yaml_value(choices)}, got "
                            f"{yaml_value(flat[key])}")
    for key, (low, high, low_open, high_open) in RANGES.items():
        value = flat[key]
        if value is None:
            continue
        bad = (low is not None and (value < low or (low_open and value == low))) or (
            high is not None and (value > high or (high_open and value == high)))
        if bad:
            lo = "(" if low_open or low is None else "["
            hi = ")" if high_open or high is None else "]"
            span = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
            problems.append(f"{key}: must be in {span}, got {yaml_value(value)}")
    data = config.data
    if data.name == "local" and not data.train_file and not data.encoded:
        problems.append("data.train_file: required when data.name is 'local'")
    if data.name in ("local", "hf") and not data.text_column:
        problems.append(f"data.text_column: required when data.name is '{data.name}'")
    if data.name == "hf" and not (data.path or data.hub_name):
        problems.append("data.path: required when data.name is 'hf' (a save_to_disk "
                        "folder), unless data.hub_name names a hub dataset")
    if data.name.startswith("glue/"):
        if data.name[5:] not in GLUE_TASKS:
            problems.append(f"data.name: unknown GLUE task {yaml_value(data.name[5:])}; known: "
                            f"{', '.join(GLUE_TASKS)}")
    elif data.name not in ("local", "hf"):
        problems.append(f"data.name: must be glue/<task>, 'local' or 'hf', got "
                        f"{yaml_value(data.name)}")
    if data.encoded and data.train_from_dev_split is not None:
        problems.append("data.train_from_dev_split: not with data.encoded (the encoded "
                        "corpus is the training split)")
    if data.encoded and config.loss.cosine > 0:
        problems.append("loss.cosine: not with data.encoded (shards keep the teacher's "
                        "logits, not its hidden states); set loss.cosine: 0")
    problems += _check_layer_map(config.loss.layer_map)
    if data.header is False and data.name == "local" and not data.columns:
        problems.append("data.columns: required when data.header is false (name the "
                        "columns of the headerless file)")
    problems += _check_task_shape(config)
    problems += _check_teachers(config)
    s = config.student
    if s.model is None and s.config is None and s.layers is None:
        problems.append("student.layers: give layers, student.model or student.config")
    if s.model is None and s.config is None and s.layers == [] and (
            config.loss.layers > 0 or config.loss.attention > 0):
        problems.append("student.layers: [] is the static student (no transformer layer): "
                        "it has no layer outputs for loss.layers or loss.attention to match; "
                        "set them to 0 or give the student layers")
    if s.layers is not None and any(i < 0 for i in s.layers):
        problems.append(f"student.layers: layer indices must be >= 0, got {yaml_value(s.layers)}")
    if config.augment.pool == "accumulate" and config.augment.pool_max is None:
        problems.append("augment.pool_max: required when augment.pool is 'accumulate'")
    return problems
