"""Progress bars on long loops: shown on a terminal, silent in logs or with --quiet."""

from __future__ import annotations

import sys
from typing import Iterable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_bar(items: Iterable[T], desc: str, quiet: bool = False, **kwargs) -> Iterable[T]:
    """Wrap `items` in a tqdm bar unless quiet or stderr is not a terminal."""
    disable = quiet or not sys.stderr.isatty()
    return tqdm(items, desc=desc, disable=disable, leave=False, dynamic_ncols=True, **kwargs)
