"""Progress in a log: with stderr not a terminal, a long loop prints a plain line now and
then, a short one nothing, a quiet one nothing."""

import itertools

from sage_rapids.progress import progress_bar


def ticking(step: float):
    """A fake clock that moves `step` seconds each time it is read."""
    return itertools.count(0.0, step).__next__


def test_a_long_loop_in_a_log_prints_a_plain_line_every_interval(capsys):
    out = list(progress_bar(range(10), "fine-tune teacher", every=30, clock=ticking(10)))
    assert out == list(range(10))  # the items, in order
    captured = capsys.readouterr()
    assert captured.err.splitlines() == ["fine-tune teacher: 3/10 steps (30%), 30 s",
                                         "fine-tune teacher: 6/10 steps (60%), 60 s",
                                         "fine-tune teacher: 9/10 steps (90%), 90 s"]
    assert captured.out == ""
    unsized = progress_bar(iter(range(4)), "encode", every=30, clock=ticking(20), unit="part")
    assert list(unsized) == [0, 1, 2, 3]
    assert capsys.readouterr().err.splitlines() == ["encode: 2 parts, 40 s",
                                                    "encode: 4 parts, 80 s"]


def test_a_short_or_quiet_loop_in_a_log_prints_nothing(capsys):
    assert list(progress_bar(range(50), "epoch 1", every=30, clock=ticking(0.5))) == \
        list(range(50))  # 25 s in all
    assert list(progress_bar(range(10), "epoch 1", quiet=True, every=30,
                             clock=ticking(10))) == list(range(10))
    assert capsys.readouterr().err == ""
