"""The encoded corpus's format, shared by its writer (`scale.encode`) and its reader
(`data.shards`): the manifest's format name and the fingerprints that tie shards to the
teacher and tokenizer that made them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

FORMAT = "sage-rapids encoded corpus 1"


def file_digest(folder: Path, names: tuple[str, ...]) -> str:
    """A hash of the named files of a model folder (those present), by content."""
    h = hashlib.sha256()
    for name in names:
        for path in sorted(folder.glob(name)):
            h.update(path.name.encode() + b"\x00")
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    h.update(block)
    return h.hexdigest()


def fingerprints(teacher: str) -> dict[str, str]:
    """Teacher and tokenizer fingerprints: hashes of their files, so a copied folder
    matches and a re-trained one does not. A fast tokenizer's file also records the
    truncation it was last used with; that state is left out of its fingerprint."""
    folder = Path(teacher)
    if not folder.is_dir():
        return {"teacher": f"name:{teacher}", "tokenizer": f"name:{teacher}"}
    spec = folder / "tokenizer.json"
    if spec.is_file():
        rules = {k: v for k, v in json.loads(spec.read_text()).items()
                 if k not in ("truncation", "padding")}
        tokenizer = hashlib.sha256(json.dumps(rules, sort_keys=True).encode()).hexdigest()
    else:
        tokenizer = file_digest(folder, ("vocab.txt", "vocab.json", "merges.txt", "*.model"))
    return {"teacher": file_digest(folder, ("config.json", "*.safetensors", "*.bin")),
            "tokenizer": tokenizer}


def targets_fingerprint(path: str | Path) -> str:
    """A file of teacher outputs as the teacher's fingerprint: its content's hash."""
    path = Path(path)
    return "targets:" + file_digest(path.parent, (path.name,))
