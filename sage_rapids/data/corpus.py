"""A corpus cut into partitions: what one `encode` task reads.

The driver cuts by byte range (stretches of lines of a TSV / JSONL), by file (a CSV,
whose quoted fields may span lines) or by Parquet row groups, so every row keeps its
file and line number and a bad row is reported as `run` reports it.
"""

from __future__ import annotations

import glob
import io
import os
from dataclasses import dataclass
from pathlib import Path

from .rows import DataError, Rows, read_delimited, read_jsonl, read_rows

SUFFIXES = (".tsv", ".csv", ".jsonl", ".json", ".parquet")


@dataclass(frozen=True)
class Part:
    """One partition of the corpus: what one dask task reads.

    Attributes:
        index: position in the plan; names the shard (`part-00000.parquet`).
        path: the file.
        start, stop: byte range (TSV / JSONL / CSV) or row-group range (Parquet).
        first_line: line (or row) number of the partition's first row, 1-based.
        columns: column names of a TSV / CSV (from its header or `data.columns`).
    """

    index: int
    path: str
    start: int
    stop: int
    first_line: int
    columns: list[str] | None = None

    @property
    def name(self) -> str:
        return f"part-{self.index:05d}"


def expand_inputs(inputs: list[str]) -> list[Path]:
    """Files named or matched by `inputs`, in the order given (each glob sorted).

    Raises:
        DataError: a name that matches nothing, or an unsupported file type.
    """
    paths: list[Path] = []
    for item in inputs:
        matches = sorted(glob.glob(os.path.expanduser(item), recursive=True))
        if not matches:
            raise DataError(f"{item}: no such file (or no match for the pattern)")
        for match in matches:
            path = Path(match)
            if path.is_dir():
                continue
            if path.suffix.lower() not in SUFFIXES:
                raise DataError(f"{path}: unsupported file type {path.suffix!r}; use "
                                f"{', '.join(SUFFIXES)}")
            paths.append(path)
    if not paths:
        raise DataError(f"{' '.join(inputs)}: no files to encode")
    return list(dict.fromkeys(paths))


def plan_parts(paths: list[Path], rows_per_part: int, header: bool,
               columns: list[str] | None) -> list[Part]:
    """Cut the corpus into partitions of about `rows_per_part` rows."""
    parts: list[Part] = []
    for path in paths:
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            parts += _parquet_parts(path, rows_per_part, len(parts))
        elif suffix == ".csv":
            parts.append(Part(len(parts), str(path), 0, path.stat().st_size, 1))
        else:
            parts += _line_parts(path, rows_per_part, len(parts), suffix == ".tsv" and header,
                                 columns)
    return parts


def _line_parts(path: Path, rows: int, first_index: int, header: bool,
                columns: list[str] | None) -> list[Part]:
    parts, names = [], list(columns) if columns else None
    with path.open("rb") as handle:
        offset, line = 0, 0
        if header:
            first = handle.readline()
            offset, line = len(first), 1
            try:
                names = [h.strip() for h in first.decode("utf-8-sig").rstrip("\r\n").split("\t")]
            except UnicodeDecodeError:
                raise DataError(f"{path}:1: not valid UTF-8; re-save the file as UTF-8") from None
            if not any(names):
                raise DataError(f"{path}: empty file, expected a header line (set "
                                "data.header: false and data.columns for a file without one)")
        start, start_line, count = offset, line + 1, 0
        for raw in handle:
            offset += len(raw)
            line += 1
            count += raw.strip() != b""
            if count == rows:
                parts.append(Part(first_index + len(parts), str(path), start, offset,
                                  start_line, names))
                start, start_line, count = offset, line + 1, 0
        if count:
            parts.append(Part(first_index + len(parts), str(path), start, offset, start_line,
                              names))
    return parts


def _parquet_parts(path: Path, rows: int, first_index: int) -> list[Part]:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as err:  # pyarrow raises several types for corrupt files
        raise DataError(f"{path}: cannot read Parquet: {err}") from None
    parts, start, first_row, count = [], 0, 1, 0
    for group in range(meta.num_row_groups):
        count += meta.row_group(group).num_rows
        if count >= rows or group == meta.num_row_groups - 1:
            parts.append(Part(first_index + len(parts), str(path), start, group + 1, first_row))
            start, first_row, count = group + 1, first_row + count, 0
    return parts


def read_part(part: Part, bad_rows: str) -> Rows:
    """The rows of one partition, with their real line numbers."""
    path = Path(part.path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_rows(path, part.columns is None, part.columns, bad_rows)
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.ParquetFile(path).read_row_groups(range(part.start, part.stop),
                                                     use_threads=False)
        return Rows(table.column_names, [(part.first_line + i, r) for i, r in
                                         enumerate(table.to_pylist())], [])
    with path.open("rb") as handle:
        handle.seek(part.start)
        raw = handle.read(part.stop - part.start)
    try:
        text = raw.decode("utf-8-sig" if part.start == 0 else "utf-8")
    except UnicodeDecodeError as err:
        line = part.first_line + raw[:err.start].count(b"\n")
        raise DataError(f"{path}:{line}: not valid UTF-8 ({err.reason}); re-save the file "
                        "as UTF-8") from None
    handle = io.StringIO(text, newline="")
    if suffix == ".tsv":
        return read_delimited(path, handle, suffix, False, part.columns, bad_rows,
                               part.first_line - 1)
    return read_jsonl(path, handle, part.first_line - 1)
