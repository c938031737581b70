"""Export: the trained student as an ordinary model that takes token ids.

At export the student receives `E_T` (passed through its projection when widths differ,
which is exact because the projection is linear per token); the layer transfer's maps
stay behind. Saved with `save_pretrained` plus the teacher's tokenizer, loadable by
plain `transformers`.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn

from ..artifacts import DiskFull, give_umask_mode, is_disk_full
from .models import Student


@torch.no_grad()
def exportable_student(student: Student, teacher_embeddings: torch.Tensor) -> nn.Module:
    """A copy of the student that takes token ids: its word table is `proj(E_T)`.

    Args:
        student: the trained student.
        teacher_embeddings: (V, H_T) teacher word-embedding table.

    Returns:
        A plain Hugging Face classifier, eval mode, on CPU.
    """
    model = copy.deepcopy(student.model).cpu().eval()
    table = teacher_embeddings.detach().cpu().float()  # (V, H_T)
    if student.projection is not None:
        table = student.projection.cpu()(table)  # (V, H_S), exact: linear per token
        student.projection.to(teacher_embeddings.device)
    embedding = nn.Embedding(table.shape[0], table.shape[1],
                             padding_idx=getattr(model.config, "pad_token_id", None))
    embedding.weight.copy_(table)
    model.set_input_embeddings(embedding)
    model.config.vocab_size = table.shape[0]
    model.get_input_embeddings().weight.requires_grad_(True)
    return model


def export_student(student: Student, teacher_embeddings: torch.Tensor, tokenizer,
                   out_dir: str | Path, label_names: list[str] | None = None,
                   regression: bool = False) -> Path:
    """Save the student with `save_pretrained` plus the teacher's tokenizer.

    A regression student is saved with `problem_type="regression"` (one output), so
    plain transformers scores it with MSE and reads its logit as the score.

    Written to a temporary folder first and renamed, so a crash never leaves a
    half-written model in `out_dir`.

    Returns:
        The export folder.

    Raises:
        DiskFull: no space left; the temporary folder is removed, `out_dir` kept as it was.
    """
    out_dir = Path(out_dir)
    model = exportable_student(student, teacher_embeddings)
    if label_names:
        model.config.id2label = dict(enumerate(label_names))
        model.config.label2id = {n: i for i, n in enumerate(label_names)}
    model.config.problem_type = "regression" if regression else "single_label_classification"
    save_model_folder(model, tokenizer, out_dir, f"the student ({out_dir.name}/)")
    return out_dir


def save_model_folder(model: nn.Module, tokenizer, out: Path, what: str, kept: str = "",
                      extra: dict[str, str] | None = None, replace: bool = True) -> None:
    """`save_pretrained` of a model and its tokenizer (and `extra` text files) into `out`,
    through a temporary folder renamed over it. `replace=False` (a cache entry, the same
    whoever makes it) keeps an `out` another process put there first.

    Raises:
        DiskFull: no space left (`what` and `kept` say what and what is kept); the
            temporary folder is removed and `out` is as it was.
    """
    tmp = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        for name, text in (extra or {}).items():
            (tmp / name).write_text(text)
        give_umask_mode(tmp)  # the folder is 0700 and safetensors' file 0600 otherwise
        if out.exists() and not replace:
            shutil.rmtree(tmp)  # made meanwhile by another process: theirs stays
            return
        previous = None
        if out.exists():  # moved aside whole, not deleted: no kill leaves a half-removed one
            previous = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, previous / out.name)
        try:
            os.replace(tmp, out)
        except OSError:
            if previous is not None:
                os.replace(previous / out.name, out)
                previous.rmdir()
            if replace or not out.exists():
                raise
            shutil.rmtree(tmp)  # another process renamed theirs in first
        tmp = None
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
    except BaseException as err:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if is_disk_full(err):
            needed = sum(p.numel() * p.element_size() for p in model.state_dict().values())
            raise DiskFull(out.parent, what, needed, kept) from None
        raise
