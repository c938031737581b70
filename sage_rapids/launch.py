"""`run --gpus N` / `--nproc N`: start one process per device with torch's elastic
launcher (c10d rendezvous, no restarts) and report which rank failed, if one does.

The processes find each other through a rendezvous store on node 0: on one machine it
listens on localhost at a free port for the run's length; across machines it listens
at `--rdzv-endpoint`, which the user names (the store has no authentication: keep that
port inside the cluster's network).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Callable


class LaunchError(RuntimeError):
    """A rank failed; the message names it. `exit_code` is what the launcher exits with."""

    def __init__(self, message: str, exit_code: int = 1):
        self.exit_code = exit_code
        super().__init__(message)


def run_id(nnodes: int, rdzv_endpoint: str | None, out: str) -> str:
    """A fresh id on one machine; across machines, the same id on every node (derived from
    what every node's command shares: the endpoint and the run directory)."""
    if nnodes == 1:
        return uuid.uuid4().hex
    return hashlib.sha256(f"{rdzv_endpoint}|{out}".encode()).hexdigest()[:16]


def launch(entry: Callable, args: dict, nproc_per_node: int, nnodes: int = 1,
           node_rank: int = 0, rdzv_endpoint: str | None = None) -> None:
    """Run `entry(args)` in `nproc_per_node` processes on each of `nnodes` machines.

    Args:
        entry: a top-level function (it is pickled by name into spawned processes).
        args: its one argument, picklable.
        node_rank: this machine's index; 0 hosts the rendezvous store.
        rdzv_endpoint: HOST:PORT of node 0; None on one machine (localhost, free port).

    Raises:
        LaunchError: a rank exited non-zero or was killed; names the rank and its pid.
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    rdzv_configs = {"is_host": node_rank == 0} if nnodes > 1 else {}
    config = LaunchConfig(
        min_nodes=nnodes, max_nodes=nnodes, nproc_per_node=nproc_per_node,
        run_id=run_id(nnodes, rdzv_endpoint, args["out"]), rdzv_backend="c10d",
        rdzv_endpoint=rdzv_endpoint or "localhost:0", rdzv_configs=rdzv_configs,
        max_restarts=0, monitor_interval=0.2, start_method="spawn")
    try:
        elastic_launch(config, entry)(args)
    except ChildFailedError as err:
        raise LaunchError(*_describe(err.failures)) from None
    except SignalException as err:
        raise LaunchError(f"stopped by {err.sigval.name}; resume with: sage-rapids run "
                          f"--resume {args['out']} (with the same --gpus / --nproc)", 130) from None


def _describe(failures: dict) -> tuple[str, int]:
    """One line per failed rank, and the exit code to pass on."""
    lines, codes = [], set()
    for rank, failure in sorted(failures.items()):
        if failure.exitcode < 0:
            what = f"was killed by {failure.signal_name()}"
            codes.add(1)
        else:
            what = f"exited with code {failure.exitcode}"
            codes.add(failure.exitcode)
        lines.append(f"rank {rank} (pid {failure.pid}) {what}")
    code = codes.pop() if len(codes) == 1 else 1
    return ("; ".join(lines) + ". The other ranks were stopped; the last complete checkpoint "
            "is kept (sage-rapids run --resume RUN_DIR with the same number of processes)"), code
