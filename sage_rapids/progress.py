"""Progress bars on long loops: shown on a terminal, silent in logs or with --quiet."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterable, Iterator, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def interactive() -> bool:
    """A person watches: stderr is a terminal, or this runs in a Jupyter kernel."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return sys.stderr.isatty() or type(shell).__name__ == "ZMQInteractiveShell"


def progress_bar(items: Iterable[T], desc: str, quiet: bool = False, **kwargs) -> Iterable[T]:
    """Wrap `items` in a tqdm bar (a widget in Jupyter) unless quiet or nobody watches."""
    disable = quiet or not interactive()
    return tqdm(items, desc=desc, disable=disable, leave=False, dynamic_ncols=True, **kwargs)


def quiet_libraries() -> None:
    """Silence transformers' load reports and shard bars, and print warnings as one
    line each: for command-line front ends, which own the process's output."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.showwarning = lambda message, category, *_: print(f"warning: {message}",
                                                               file=sys.stderr)


@contextmanager
def library_bars_off(off: bool = True) -> Iterator[None]:
    """Turn transformers' own bars (loading weights, writing shards) off while the
    block runs, then back to what they were: for a quiet call from a notebook or script,
    where the caller owns the process's other output."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    if off and was_on:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if off and was_on:
            hf_logging.enable_progress_bar()
