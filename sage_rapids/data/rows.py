"""Table files read into rows: TSV, CSV, JSONL and Parquet, each row with its line.

Every reading error names the file and line; a row with the wrong number of fields is
an error, or skipped and counted under `data.bad_rows: skip`.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path


class DataError(ValueError):
    """Bad or missing input data; the message names the file, line or column."""


@dataclass(frozen=True)
class Rows:
    """A table file as read: column names, (line, row) pairs, and lines skipped."""

    columns: list[str]
    rows: list[tuple[int, dict]]
    skipped: list[int]  # line numbers of malformed rows left out (`bad_rows: skip`)


def read_rows(path: Path, header: bool = True, columns: list[str] | None = None,
              bad_rows: str = "error") -> Rows:
    """Read a table file by its extension.

    A UTF-8 byte-order mark (spreadsheet programs write one) is dropped.

    Args:
        path: a .tsv, .csv, .jsonl / .json or .parquet file.
        header: TSV / CSV only: the first line names the columns. Without one,
            `columns` names them.
        bad_rows: `error` raises on a row with the wrong number of fields; `skip`
            leaves it out and records its line.

    Returns:
        `Rows`.

    Raises:
        DataError: missing or unreadable file, bad encoding, or a malformed row.
    """
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _read_parquet(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            if suffix in (".jsonl", ".json"):
                return read_jsonl(path, handle)
            if suffix in (".tsv", ".csv"):
                return read_delimited(path, handle, suffix, header, columns, bad_rows)
    except UnicodeDecodeError as err:
        line = _line_of_offset(path, err.start)
        raise DataError(f"{path}:{line}: not valid UTF-8 ({err.reason}); "
                        "re-save the file as UTF-8") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read file: {err.strerror}") from None
    raise DataError(f"{path}: unsupported file type {suffix!r}; use .tsv, .csv, .jsonl "
                    "or .parquet")


def _line_of_offset(path: Path, offset: int) -> int:
    return path.read_bytes()[:offset].count(b"\n") + 1


def read_delimited(path: Path, handle, suffix: str, header: bool,
                    columns: list[str] | None, bad_rows: str, line_offset: int = 0) -> Rows:
    """Rows of a TSV / CSV (or of a stretch of one: `line_offset` lines precede it)."""
    if suffix == ".tsv":  # GLUE TSV: quotes are literal text (QNLI contains them)
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(handle)
    if header:
        names = next(reader, None)
        if not names:
            raise DataError(f"{path}: empty file, expected a header line (set "
                            "data.header: false and data.columns for a file without one)")
        names = [h.strip() for h in names]
    else:
        names = list(columns or [])
    rows, skipped = [], []
    for row in reader:
        line = reader.line_num + line_offset
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if not names:  # headerless and unnamed: number the columns
            names = [f"column_{i}" for i in range(len(row))]
        if len(row) != len(names):
            if bad_rows == "skip":
                skipped.append(line)
                continue
            raise DataError(f"{path}:{line}: expected {len(names)} fields "
                            f"({', '.join(map(shown, names))}), found {len(row)}; fix the "
                            "line, or set data.bad_rows: skip to leave such rows out")
        rows.append((line, dict(zip(names, row))))
    return Rows(names, rows, skipped)


def read_jsonl(path: Path, handle, line_offset: int = 0) -> Rows:
    """Rows of a JSONL file (or of a stretch of one: `line_offset` lines precede it)."""
    rows, columns = [], {}
    for line, text in enumerate(handle, start=1 + line_offset):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{line}: not valid JSON ({err.msg})") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{line}: expected a JSON object per line")
        columns.update(dict.fromkeys(obj))
        rows.append((line, obj))
    return Rows(list(columns), rows, [])


def _read_parquet(path: Path) -> Rows:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, use_threads=False)
    except Exception as err:  # pyarrow raises several types for corrupt files
        raise DataError(f"{path}: cannot read Parquet: {err}") from None
    records = table.to_pylist()
    return Rows(table.column_names, [(i + 1, r) for i, r in enumerate(records)], [])


def shown(name: object) -> str:
    """A column name as a user can read it: `repr` when it holds invisible characters."""
    text = str(name)
    return text if text.isprintable() and text.strip() == text and text else repr(text)
