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
    out = tmp_path / "run"
    result = sage_rapids.distill(pairs_frame(160, 5), pairs_frame(60, 6), overrides=overrides,
                                 out=out, quiet=True)
    s = result.summary
    assert not s["teacher_learnt_nothing"] and not s["student_learnt_nothing"], s["notes"]
    majority = 0.5 + abs(pairs_frame(60, 6)["label"].mean() - 0.5)
    assert s["teacher_dev_accuracy"] >= majority + 0.15, s
    assert s["student_dev_accuracy"] >= majority + 0.1, s
    assert result.metrics[-1]["n_synthetic"] > 0  # the round ran and was trained on
    # deployed: ONNX and int8 through onnxruntime, re-scored on the run's dev pairs
    from sage_rapids.run.deploy import export_student as to_onnx

    formats = {r["format"]: r for r in to_onnx(out / "student", tmp_path / "onnx", "int8",
                                               log=lambda message: None)["formats"]}
    assert formats["onnx"]["accuracy"] == formats["pytorch"]["accuracy"] == \
        s["student_dev_accuracy"]
    assert formats["onnx"]["max_abs_logit_diff"] < 1e-4 and "onnx-int8" in formats
    # resumed: the family's student is rebuilt and the last checkpoint loaded into it
    # (a mismatch of the rebuilt architecture would raise); it trains no further
    again = sage_rapids.distill(pairs_frame(160, 5), pairs_frame(60, 6), overrides=overrides,
                                out=out, quiet=True, resume=True)
    assert [m["dev_accuracy"] for m in again.metrics] == \
        [m["dev_accuracy"] for m in result.metrics]


@pytest.mark.slow
def test_each_family_distils_a_score(family, tmp_path):
    """Regression (one output, the teacher's score): every family's teacher fine-tunes a
    regression head and its student exports one."""
    name, folder = family
    texts, labels = make_sentences(80, seed=7)
    scores = [2.5 + 2 * (y - 0.5) + 0.1 * (i % 5) for i, y in enumerate(labels)]
    frame_ = pd.DataFrame({"sentence": texts, "label": scores})
    student = {"student.config": {"num_hidden_layers": 2}} if name in SHARED else {}
    result = sage_rapids.distill(frame_[:60], frame_[60:], quiet=True, overrides={
        **SETTINGS, "teacher.model": str(folder), "teacher.finetune": True,
        "teacher.finetune_epochs": 2.0, "teacher.finetune_batch_size": 16, **student})
    assert result.summary["task_type"] == "regression" and "student_dev_pearson" in \
        result.summary
    assert result.student.config.num_labels == 1


@pytest.mark.slow
def test_a_student_of_another_vocabulary_keeps_its_own_tokenizer(tmp_path, sst_like_dir):
    """A RoBERTa teacher (byte-level BPE) and a named BERT student (WordPiece): the student
    trains on its own token ids against the teacher's outputs, and exports with its own
    tokenizer and word table; what needs the teacher's input space is refused first."""
    import json

    from conftest import tiny_tokenizer
    from safetensors.torch import load_file
    from test_cli import cli, tiny_config

    teacher = save_family("roberta", tmp_path / "roberta")
    env = {"SAGE_DATA_DIR": str(sst_like_dir)}
    student = pretrained_student(tmp_path, sst_like_dir)
    config = tiny_config(tmp_path, teacher, student={"model": str(student)},
                         train={"epochs": 4, "lr": 2e-3, "early_stopping": None},
                         augment={"strategy": "none"})
    refused = config_problems(load_config(config, ["augment.strategy=sage"]))
    assert len(refused) == 1 and refused[0].startswith(
        "augment.strategy: sage mixes two examples' word vectors")  # before anything runs
    out = tmp_path / "run"
    proc = cli("run", "--config", config, "--out", out, env_extra=env)
    assert "input layer: the student's own" in proc.stderr  # said once, with the reason
    assert proc.stderr.count("input layer: the student's own") == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["teacher_outputs"] == "own tokenizer"
    assert not summary["student_learnt_nothing"], summary["notes"]
    assert summary["student_dev_accuracy"] >= 0.7, summary
    exported, _ = load_classifier(str(out / "student"))
    words = exported.get_input_embeddings().weight
    own = load_file(str(student / "model.safetensors"))["bert.embeddings.word_embeddings.weight"]
    assert torch.equal(words, own)  # its own word vectors, as they were
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out / "student")
    assert tok.get_vocab() == tiny_tokenizer().get_vocab()  # its own tokenizer


def pretrained_student(tmp_path, data_dir):
    """A BERT student as a pretrained one is: word vectors that mean something (taken
    from a tiny BERT fine-tuned on the toy task), its layers and head fresh."""
    from conftest import save_tiny_teacher, tiny_bert, tiny_tokenizer

    taught = sage_rapids.distill(overrides={
        **SETTINGS, "data.name": "glue/sst2", "data.path": str(data_dir / "glue" / "sst2"),
        "data.text_column": None, "data.label_column": None,
        "teacher.model": str(save_tiny_teacher(tmp_path / "tiny")), "teacher.finetune": True,
        "teacher.finetune_limit": 200, "teacher.finetune_lr": 3e-3,
        "teacher.finetune_epochs": 12.0, "teacher.finetune_batch_size": 16,
        "eval.efficiency": False}, quiet=True)
    fresh = tiny_bert(layers=2, seed=9)
    with torch.no_grad():
        fresh.get_input_embeddings().weight.copy_(taught.student.get_input_embeddings().weight)
    fresh.save_pretrained(tmp_path / "student", safe_serialization=True)
    tiny_tokenizer().save_pretrained(tmp_path / "student")
    return tmp_path / "student"


def test_the_readme_table_says_what_these_tests_check():
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    rows = readme.split("## Any teacher")[1].split("\n\n")[1].splitlines()[2:]
    names = {"BERT": "bert", "RoBERTa": "roberta", "XLM-RoBERTa": "xlm-roberta",
             "DeBERTa-v2/v3": "deberta-v2", "ELECTRA": "electra", "DistilBERT": "distilbert",
             "MPNet": "mpnet", "ModernBERT": "modernbert", "ALBERT": "albert"}
    table = {names[r.split("|")[1].strip()]: [c.strip() for c in r.split("|")[2:-1]]
             for r in rows}
    assert sorted(table) == sorted(FAMILIES)
    for family, cells in table.items():
        assert cells[0] == cells[2] == cells[3] == "yes", family
        assert (cells[1] == "yes") == (family not in SHARED), family
