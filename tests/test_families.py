"""Every common encoder family as a teacher: its vectors give the logits its token ids
give, the default student built from its layers keeps them and exports to a model that
takes token ids, or the family is refused before anything is written."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from conftest import make_sentences
from families import FAMILIES, save_family
from torch import nn

import sage_rapids
from sage_rapids.config import ConfigError, StudentConfig, load_config
from sage_rapids.distillation.export import export_student
from sage_rapids.distillation.models import (
    ModelError,
    build_student,
    config_problems,
    input_embeddings,
    load_classifier,
    lookup,
    vector_forward,
)

SHARED = ("albert",)  # one layer's weights run at every depth: no layers to pick from
TEXTS = ["the movie is good", "boring", "a wonderful film and the acting was moving"]
PAIRS = ["the plot was dull and flat", "a city", "fun"]


@pytest.fixture(scope="session", params=FAMILIES)
def family(request, tmp_path_factory):
    """(family, folder of its tiny saved classifier), built once per session."""
    name = request.param
    return name, save_family(name, tmp_path_factory.mktemp(name.replace("-", "_")))


def encode(tokenizer, pair: bool) -> dict:
    """Right-padded batch of different lengths, with segment ids as stage 0 keeps them:
    the tokenizer's, or zeros for a pair when it gives none."""
    enc = dict(tokenizer(TEXTS, PAIRS if pair else None, padding=True, return_tensors="pt"))
    assert tokenizer.padding_side == "right" and (enc["attention_mask"][:, -1] == 0).any()
    if pair:
        enc.setdefault("token_type_ids", torch.zeros_like(enc["input_ids"]))
    return enc


def vectors_of(teacher, enc: dict) -> torch.Tensor:
    return lookup(input_embeddings(teacher), enc["input_ids"])  # (B, L, H_T)


def layer_list(model: nn.Module) -> nn.ModuleList:
    """The model's stack of transformer layers."""
    depth = model.config.num_hidden_layers
    return next(m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m) == depth)


@pytest.mark.parametrize("pair", [False, True], ids=["single", "pair"])
@torch.no_grad()
def test_vectors_give_the_logits_of_token_ids(family, pair):
    teacher, tokenizer = load_classifier(str(family[1]))
    enc = encode(tokenizer, pair)
    direct = teacher(**{k: v for k, v in enc.items() if k in tokenizer.model_input_names})
    via = vector_forward(teacher, vectors_of(teacher, enc), enc["attention_mask"],
                         enc.get("token_type_ids"))
    torch.testing.assert_close(via.logits, direct.logits, atol=1e-5, rtol=1e-4)


def assert_exports_like_it_trains(student, teacher, tokenizer, folder) -> None:
    """The saved student, loaded by plain transformers with its tokenizer, gives from
    token ids the logits the trained student gives from the teacher's vectors."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    with torch.no_grad():  # move the student away from its initialisation
        for p in student.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    student.eval()
    export_student(student, input_embeddings(teacher), tokenizer, folder)
    loaded = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    with torch.no_grad():
        for pair in (False, True):
            enc = encode(tokenizer, pair)
            trained = student(vectors_of(teacher, enc), enc["attention_mask"],
                              enc.get("token_type_ids")).logits
            plain = loaded(**{k: v for k, v in enc.items()
                              if k in tokenizer.model_input_names}).logits
            torch.testing.assert_close(plain, trained, atol=1e-5, rtol=1e-4)


def test_student_from_teacher_layers_keeps_them_and_exports(family, tmp_path):
    name, folder = family
    teacher, tokenizer = load_classifier(str(folder))
    if name in SHARED:
        with pytest.raises(ModelError, match="share") as err:
            build_student(teacher, StudentConfig(layers=[0, 2]), 2)
        assert "student.config" in str(err.value) and "\n" not in str(err.value)
        return
    student = build_student(teacher, StudentConfig(layers=[0, 2]), 2)
    for s, t in [(0, 0), (1, 2)]:
        for (key, a), b in zip(layer_list(student.model)[s].state_dict().items(),
                               layer_list(teacher)[t].state_dict().values()):
            assert torch.equal(a, b), key
    depth = teacher.config.num_hidden_layers
    for key, value in vars(teacher.config).items():  # per-layer settings follow the layers
        if isinstance(value, list) and len(value) == depth:
            assert getattr(student.model.config, key) == [value[0], value[2]], key
    # the student of all the teacher's layers is the teacher
    whole = build_student(teacher, StudentConfig(layers=list(range(depth))), 2).eval()
    with torch.no_grad():
        for pair in (False, True):
            enc = encode(tokenizer, pair)
            args = vectors_of(teacher, enc), enc["attention_mask"], enc.get("token_type_ids")
            torch.testing.assert_close(whole(*args).logits,
                                       vector_forward(teacher, *args).logits)
    assert_exports_like_it_trains(student, teacher, tokenizer, tmp_path / "student")


@pytest.mark.parametrize("settings", [{"num_hidden_layers": 2},
                                      {"num_hidden_layers": 1, "hidden_size": 16}],
                         ids=["shallower", "narrower"])
def test_student_from_a_config_trains_on_the_teacher_s_vectors_and_exports(
        family, settings, tmp_path):
    teacher, tokenizer = load_classifier(str(family[1]))
    torch.manual_seed(0)
    student = build_student(teacher, StudentConfig(layers=None, config=settings), 2)
    assert student.model.config.num_hidden_layers == settings["num_hidden_layers"]
    assert_exports_like_it_trains(student, teacher, tokenizer, tmp_path / "student")


def run_config(folder, **more):
    return load_config(None, {"teacher.model": str(folder), "student.layers": [0, 2], **more})


def test_shared_layers_are_refused_from_the_teacher_config_alone(family):
    name, folder = family
    problems = config_problems(run_config(folder))
    if name not in SHARED:
        assert problems == []
        return
    assert len(problems) == 1 and problems[0].startswith("student.layers:"), problems
    assert "student.config" in problems[0] and "student.model" in problems[0]
    assert config_problems(run_config(folder, **{"student.config": {"num_hidden_layers": 2}}))\
        == []


SETTINGS = {"device": "cpu", "data.text_column": "sentence", "data.label_column": "label",
            "data.max_length": 32, "teacher.finetune": False, "student.layers": [0, 2],
            "train.epochs": 1, "train.batch_size": 16, "augment.strategy": "none"}


def frame(n, seed):
    texts, labels = make_sentences(n, seed=seed)
    return pd.DataFrame({"sentence": texts, "label": labels})


@pytest.mark.parametrize("name", ["modernbert", "albert"])
def test_distill_runs_or_refuses_before_writing(name, tmp_path):
    folder = save_family(name, tmp_path / "teacher")
    out = tmp_path / "run"
    overrides = {**SETTINGS, "teacher.model": str(folder)}
    if name in SHARED:
        with pytest.raises(ConfigError, match="student.layers:.*share"):
            sage_rapids.distill(frame(64, 1), frame(16, 2), overrides=overrides, out=out,
                                quiet=True)
        assert not out.exists()
        return
    result = sage_rapids.distill(frame(64, 1), frame(16, 2), overrides=overrides, out=out,
                                 quiet=True)
    assert [m["epoch"] for m in result.metrics] == [1]
    # the teacher attends globally at layers 0 and 2 of 4: so do both student layers
    assert result.student.config.layer_types == ["full_attention"] * 2
    batch = result.tokenizer(["the film was good"], return_tensors="pt")
    assert result.student(**batch).logits.shape == (1, 2)


def pairs_frame(n, seed):
    """A sentence-pair toy task: the label is the first sentence's sentiment; the second
    sentence is another toy sentence (noise the model must learn to ignore)."""
    texts, labels = make_sentences(n, seed=seed)
    others, _ = make_sentences(n, seed=seed + 100)
    return pd.DataFrame({"sentence": texts, "other": others, "label": labels})


@pytest.mark.slow
def test_a_fine_tuned_teacher_of_each_family_passes_its_knowledge_on(family, tmp_path):
    """Pairs, the teacher fine-tuned a few steps, layer transfer and one SAGE round:
    teacher and student both beat the majority class, each family through one story."""
    name, folder = family
    # a shared-layer teacher gives no layers: its architecture, randomly initialised,
    # which needs more steps than a student that starts from the teacher's layers
    student = {"student.config": {"num_hidden_layers": 2}, "train.epochs": 8,
               "train.early_stopping": None, "train.lr": 3e-3} if name in SHARED else {}
    overrides = {**SETTINGS, "teacher.model": str(folder), "teacher.finetune": True,
                 "teacher.finetune_lr": 3e-3, "teacher.finetune_epochs": 12.0,
                 "teacher.finetune_batch_size": 16, "data.text_pair_column": "other",
                 "train.epochs": 3, "train.lr": 2e-3, "loss.layers": 1.0,
                 "augment.strategy": "sage", "augment.space": "student",
                 "augment.umap_epochs": 20, "augment.k": 5, "augment.umap_n_neighbors": 8,
                 "augment.plots": False, "eval.efficiency": False, **student}
    result = sage_rapids.distill(pairs_frame(160, 5), pairs_frame(60, 6), overrides=overrides,
                                 quiet=True)
    s = result.summary
    assert not s["teacher_learnt_nothing"] and not s["student_learnt_nothing"], s["notes"]
    majority = 0.5 + abs(pairs_frame(60, 6)["label"].mean() - 0.5)
    assert s["teacher_dev_accuracy"] >= majority + 0.15, s
    assert s["student_dev_accuracy"] >= majority + 0.1, s
    assert result.metrics[-1]["n_synthetic"] > 0  # the round ran and was trained on
