"""The meeting of machines before a multi-node run, in words a user can act on.

Before torch elastic's own rendezvous, every node writes a small record (its host,
run id, run directory and config) into the rendezvous store at `--rdzv-endpoint`,
the same store elastic then uses (node 0 hosts it; `multi_tenant` lets elastic share
it). While nodes are missing each node prints a line after 2 s, then every 30 s; when
`--rdzv-timeout` passes it stops with one paragraph naming the likely causes. When
everyone is there, the records are compared: a node with another run directory or
config is refused, naming both sides, before any training process starts.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

PREFIX = "sage-rapids/meet"
FIRST_LINE = 2.0  # seconds of waiting before the first line
PRINT_EVERY = 30.0  # seconds between waiting lines
POLL = 0.5


class RendezvousError(RuntimeError):
    """The nodes did not meet, or met and disagree; `exit_code` is what to exit with."""

    def __init__(self, message: str, exit_code: int = 1):
        self.exit_code = exit_code
        super().__init__(message)


@dataclass(frozen=True)
class Meeting:
    """Where and how long the nodes meet."""

    host: str
    port: int
    nnodes: int
    node_rank: int
    timeout: float  # seconds

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.port}"


def parse_endpoint(endpoint: str) -> tuple[str, int]:
    """`HOST:PORT` -> (host, port).

    Raises:
        RendezvousError: no port, or not a number (exit code 2).
    """
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RendezvousError(f"--rdzv-endpoint: expected HOST:PORT (node 0's address and a "
                              f"free port, e.g. 10.0.0.5:29500), got {endpoint!r}", 2)
    return host.strip("[]"), int(port)


def meet(meeting: Meeting, record: dict, log: Callable[[str], None]):
    """Write this node's record, wait for every node's, and check they agree.

    Args:
        record: {"run_id": this node's id (given or derived), "given_run_id": the
            `--run-id` or None, "out": resolved run directory, "config": flat config,
            "resume": bool}.
        log: where the waiting lines go.

    Returns:
        (store, run_id): the store (node 0 must keep it open for the whole run: it is
        the one elastic uses) and the run id every node uses (node 0's).

    Raises:
        RendezvousError: timeout (exit 1), or nodes that disagree (exit 2).
    """
    start = time.monotonic()
    store = _connect(meeting, start, log)
    # a node started again (after a typo) overwrites its own earlier record
    store.set(f"{PREFIX}/node{meeting.node_rank}",
              json.dumps({**record, "host": socket.gethostname()}))
    _wait_for_all(store, meeting, start, log)
    records = [json.loads(store.get(f"{PREFIX}/node{r}")) for r in range(meeting.nnodes)]
    store.set(f"{PREFIX}/read{meeting.node_rank}", "1")
    problem = _disagreement(records)
    if meeting.node_rank == 0:  # keep the store up until every node has read the records
        _wait_keys(store, [f"{PREFIX}/read{r}" for r in range(meeting.nnodes)], 10.0)
    if problem:
        raise RendezvousError(problem, 2)
    return store, records[0]["run_id"]


def _connect(meeting: Meeting, start: float, log):
    """Host the store (node 0), or reach node 0's, printing while it is not there."""
    from torch.distributed import TCPStore

    if meeting.node_rank == 0:
        try:
            return TCPStore(meeting.host, meeting.port, is_master=True, multi_tenant=True,
                            wait_for_workers=False, timeout=timedelta(seconds=30))
        except Exception as err:  # DistNetworkError: the port is taken or not ours
            raise RendezvousError(
                f"node 0 cannot listen at {meeting.endpoint} ({_first_line(err)}): the port is "
                "in use, or HOST is not an address of this machine; pick a free port and give "
                "this machine's address as --rdzv-endpoint on every node") from None
    next_line = start + FIRST_LINE
    while True:
        try:  # a plain connect first: torch logs every failed store connection
            socket.create_connection((meeting.host, meeting.port), timeout=2).close()
            return TCPStore(meeting.host, meeting.port, is_master=False,
                            timeout=timedelta(seconds=30))
        except Exception:  # not up yet: try again until the timeout
            waited = time.monotonic() - start
            if waited >= meeting.timeout:
                raise RendezvousError(
                    f"node {meeting.node_rank} could not reach the rendezvous at "
                    f"{meeting.endpoint} in {meeting.timeout:.0f} s. Likely causes: node 0 was "
                    "not started (run the same command there with --node-rank 0); "
                    f"{meeting.endpoint} is not node 0's address; or port {meeting.port} is "
                    "blocked between the machines. Nothing was written; --rdzv-timeout "
                    "waits longer.") from None
            if time.monotonic() >= next_line:
                next_line += PRINT_EVERY
                log(f"waiting for node 0 at {meeting.endpoint}, {waited:.0f} s of "
                    f"{meeting.timeout:.0f}")
            time.sleep(POLL)


def _wait_for_all(store, meeting: Meeting, start: float, log) -> None:
    keys = [f"{PREFIX}/node{r}" for r in range(meeting.nnodes)]
    next_line = start + FIRST_LINE
    while True:
        here = [r for r, k in enumerate(keys) if store.check([k])]
        if len(here) == meeting.nnodes:
            return
        waited = time.monotonic() - start
        run_id = json.loads(store.get(keys[0])).get("run_id") if 0 in here else "?"
        if waited >= meeting.timeout:
            missing = [r for r in range(meeting.nnodes) if r not in here]
            raise RendezvousError(
                f"the rendezvous at {meeting.endpoint} (run id {run_id}) timed out after "
                f"{meeting.timeout:.0f} s with {len(here)} of {meeting.nnodes} nodes "
                f"(here: node {', '.join(map(str, here))}; missing: node "
                f"{', '.join(map(str, missing))}). Likely causes: the missing node was not "
                f"started (run the same command there with --node-rank {missing[0]}); it was "
                "started with another --rdzv-endpoint or --nnodes; or port "
                f"{meeting.port} is blocked between the machines. Nothing was written; "
                "--rdzv-timeout waits longer.")
        if time.monotonic() >= next_line:
            next_line += PRINT_EVERY
            log(f"waiting for {meeting.nnodes - len(here)} of {meeting.nnodes} nodes at "
                f"{meeting.endpoint} (run id {run_id}), {waited:.0f} s of "
                f"{meeting.timeout:.0f}")
        time.sleep(POLL)


def _wait_keys(store, keys: list[str], seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not store.check(keys):
        time.sleep(0.1)


def _disagreement(records: list[dict]) -> str | None:
    """A paragraph naming the nodes that differ from node 0, or None."""
    first, lines = records[0], []
    for rank, other in enumerate(records[1:], start=1):
        who = f"node 0 ({first['host']}) and node {rank} ({other['host']})"
        if other["out"] != first["out"]:
            lines.append(f"{who} have different run directories: {first['out']} and "
                         f"{other['out']} (give every node the same --out, as an absolute "
                         "path on a shared file system)")
        if other.get("given_run_id") and first.get("given_run_id") and \
                other["given_run_id"] != first["given_run_id"]:
            lines.append(f"{who} have different --run-id: {first['given_run_id']} and "
                         f"{other['given_run_id']}")
        if other["resume"] != first["resume"]:
            lines.append(f"{who} disagree on --resume")
        keys = sorted(k for k in set(first["config"]) | set(other["config"])
                      if first["config"].get(k) != other["config"].get(k))
        if keys:
            shown = "; ".join(f"{k}: {first['config'].get(k)!r} and "
                              f"{other['config'].get(k)!r}" for k in keys[:5])
            lines.append(f"{who} have different configs ({shown}"
                         f"{'; ...' if len(keys) > 5 else ''})")
    if not lines:
        return None
    return ("the nodes met but do not describe the same run: " + "; ".join(lines)
            + ". Nothing was written; start every node with the same --config, -o and --out.")


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
