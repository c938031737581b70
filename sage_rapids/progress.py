"""Progress on long loops: a bar on a terminal (a widget in Jupyter), a plain line now
and then in a log, nothing with --quiet."""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
PLAIN_EVERY = 30.0  # seconds between plain progress lines in a log


def interactive() -> bool:
    """A person watches: stderr is a terminal, or this runs in a Jupyter kernel."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return sys.stderr.isatty() or type(shell).__name__ == "ZMQInteractiveShell"


def progress_bar(items: Iterable[T], desc: str, quiet: bool = False, *,
                 every: float = PLAIN_EVERY, clock: Callable[[], float] = time.monotonic,
                 **kwargs) -> Iterable[T]:
    """Show how far a loop over `items` has got: a tqdm bar when a person watches (a
    widget in Jupyter); in a log, a plain line at most every `every` seconds
    (`fine-tune teacher: 312/625 steps (50%), 61 s`), so none for a shorter loop;
    nothing when quiet.

    Args:
        items: what the loop runs over.
        desc: the loop's name, which starts each line.
        quiet: show nothing.
        every: seconds between plain lines in a log.
        clock: seconds now (a fake one in tests).
        **kwargs: for tqdm; `total` and `unit` (default `step`) also name the plain lines'
            count, and `file` (default stderr) is where they go.

    Returns:
        An iterable of `items`, in their order.
    """
    if quiet or interactive():
        return tqdm(items, desc=desc, disable=quiet, leave=False, dynamic_ncols=True, **kwargs)
    total = kwargs.get("total", len(items) if hasattr(items, "__len__") else None)
    return _plain_lines(items, desc, total, kwargs.get("unit", "step"), kwargs.get("file"),
                        every, clock)


def _plain_lines(items: Iterable[T], desc: str, total: int | None, unit: str, file,
                 every: float, clock: Callable[[], float]) -> Iterator[T]:
    """`items`, with a line to `file` (stderr) once `every` seconds have passed since the
    last one, counting the items the loop has finished."""
    start = last = clock()
    for done, item in enumerate(items, 1):
        yield item
        now = clock()
        if now - last >= every:
            last = now
            count = f"{done}/{total} {unit}s ({done / total:.0%})" if total else \
                f"{done} {unit}s"
            print(f"{desc}: {count}, {now - start:.0f} s", file=file or sys.stderr,
                  flush=True)


def quiet_libraries() -> None:
    """Silence transformers' load reports and shard bars, and print warnings as one
    line each: for command-line front ends, which own the process's output. Said
    through the environment, which transformers and huggingface_hub read when they load
    (and the ranks a command starts inherit), so that a command that never loads them,
    such as a refused one, does not wait about a second for their import; a user's own
    TRANSFORMERS_VERBOSITY or HF_HUB_DISABLE_PROGRESS_BARS wins."""
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:  # loaded already: it read the environment before
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity(hf_logging.log_levels.get(os.environ["TRANSFORMERS_VERBOSITY"],
                                                           hf_logging.ERROR))
        if os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1":
            hf_logging.disable_progress_bar()
    warnings.showwarning = lambda message, category, *_: print(f"warning: {message}",
                                                               file=sys.stderr)


@contextmanager
def library_bars_off(off: bool = True) -> Iterator[None]:
    """Turn transformers' own output down while the block runs, then back to what it
    was: for a call from a notebook or script, where the caller owns the process's other
    output. Its bars (loading weights, writing shards) and its warnings, such as the load
    report of a classifier given a new head, go when `off` (a quiet call) or when nobody
    watches: in a log, bars are lines of carriage returns and the report's ANSI colour
    codes land raw. Errors still show."""
    from transformers.utils import logging as hf_logging

    off = off or not interactive()
    logger = hf_logging.get_logger("transformers")  # the library's root: its level rules
    was_on, level = hf_logging.is_progress_bar_enabled(), logger.level
    if off:
        hf_logging.disable_progress_bar()
        logger.setLevel(max(hf_logging.ERROR, logger.getEffectiveLevel()))
    try:
        yield
    finally:
        if off:
            logger.setLevel(level)
            if was_on:
                hf_logging.enable_progress_bar()
