"""`run --gpus N` / `--nproc N`: start one process per device with torch's elastic
launcher (c10d rendezvous) and report which rank failed, if one does. With
`--max-restarts N` elastic restarts every rank after a failure, and they resume from
the last complete checkpoint by themselves.

The processes find each other through a rendezvous store on node 0: on one machine it
listens on localhost at a free port for the run's length; across machines it listens
at `--rdzv-endpoint`, which the user names (the store has no authentication: keep that
port inside the cluster's network). Across machines the nodes first meet in
`rendezvous.meet`, which prints while it waits and refuses nodes that disagree.
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


def run_id(nnodes: int, rdzv_endpoint: str | None, given: str | None = None) -> str:
    """`--run-id` when given; a fresh id on one machine; across machines one derived from
    the endpoint alone, so that every node meets whatever its paths look like (nodes
    that disagree on the run directory or config are refused when they meet)."""
    if given:
        return given
    if nnodes == 1:
        return uuid.uuid4().hex
    return hashlib.sha256(f"sage-rapids|{rdzv_endpoint}".encode()).hexdigest()[:16]


def launch(entry: Callable, args: dict, nproc_per_node: int, nnodes: int = 1,
           node_rank: int = 0, rdzv_endpoint: str | None = None,
           rdzv_timeout: float = 600.0, given_run_id: str | None = None,
           max_restarts: int = 0, flat_config: dict | None = None,
           log: Callable[[str], None] = print) -> None:
    """Run `entry(args)` in `nproc_per_node` processes on each of `nnodes` machines.

    Args:
        entry: a top-level function (it is pickled by name into spawned processes).
        args: its one argument, picklable.
        node_rank: this machine's index; 0 hosts the rendezvous store.
        rdzv_endpoint: HOST:PORT of node 0; None on one machine (localhost, free port).
        rdzv_timeout: seconds to wait for the other nodes.
        given_run_id: `--run-id`, pairing the nodes explicitly.
        max_restarts: times elastic restarts every rank after one fails.
        flat_config: the run's config (dotted key -> value), compared between nodes.
        log: where the rendezvous's waiting lines go.

    Raises:
        LaunchError: the nodes did not meet or disagree, or a rank exited non-zero or
            was killed (after the restarts); names the node or the rank and its pid.
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.elastic.rendezvous.api import RendezvousError as ElasticRendezvousError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    from .rendezvous import Meeting, RendezvousError, meet, parse_endpoint

    rid, store, rdzv_configs = run_id(nnodes, rdzv_endpoint, given_run_id), None, {}
    if nnodes > 1:
        try:
            host, port = parse_endpoint(rdzv_endpoint)
            store, rid = meet(Meeting(host, port, nnodes, node_rank, rdzv_timeout), {
                "run_id": rid, "given_run_id": given_run_id, "out": args["out"],
                "config": flat_config or {}, "resume": args["resume"]}, log)
        except RendezvousError as err:
            raise LaunchError(str(err), err.exit_code) from None
        rdzv_configs = {"is_host": node_rank == 0, "join_timeout": int(rdzv_timeout)}
    config = LaunchConfig(
        min_nodes=nnodes, max_nodes=nnodes, nproc_per_node=nproc_per_node,
        run_id=rid, rdzv_backend="c10d",
        rdzv_endpoint=rdzv_endpoint or "localhost:0", rdzv_configs=rdzv_configs,
        max_restarts=max_restarts, monitor_interval=0.2, start_method="spawn")
    try:
        elastic_launch(config, entry)(args)
    except ChildFailedError as err:
        message, code = _describe(err.failures, args["out"])
        if max_restarts:
            message = f"after {max_restarts} restart(s) (--max-restarts): {message}"
        raise LaunchError(message, code) from None
    except ElasticRendezvousError as err:  # a node left between the meeting and the start
        raise LaunchError(
            f"the nodes met at {rdzv_endpoint} but torch elastic's rendezvous (run id {rid}) "
            f"then failed: {type(err).__name__}: {err}. A node stopped or lost the network "
            f"after the meeting; start every node again (--resume {args['out']} after a "
            "checkpoint)"
        ) from None
    except SignalException as err:  # exit 128 + the signal: 130 SIGINT, 143 SIGTERM
        raise LaunchError(f"stopped by {err.sigval.name}; resume with: sage-rapids run "
                          f"--resume {args['out']} (with the same --gpus / --nproc)",
                          128 + int(err.sigval)) from None
    finally:
        del store  # node 0 hosts the store elastic used; it closes with the run


def _describe(failures: dict, out: str) -> tuple[str, int]:
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
            f"is kept: sage-rapids run --resume {out} with the same --gpus / --nproc"), code
