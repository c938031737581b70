"""The restart section of `docs/results.md`, from `restart_soak.json` (and
`restart_soak_before.json`, the same soak before restarted ranks had a store prefix of
their own per attempt).

`restarts` renders "Automatic restarts under fire": kills survived out of kills made, the
seconds from a kill to both ranks training again, and where in the run the kills landed.
"""

from __future__ import annotations

from .common import machine, table


def beside(d: dict) -> str:
    return f"beside it ran {d['beside']}" if d.get("beside") else "nothing else ran beside it"


def _line(d: dict) -> str:
    return (f"{d['survived']} of {d['kills']} kills survived (seed {d['seed']}), "
            f"{d['same_scores']} of them with the uninterrupted run's scores to 1e-4; kill "
            f"to restart {d['kill_to_restart_median_s']} s median, "
            f"{d['kill_to_restart_max_s']} s max")


def restarts(d: dict, before: dict | None) -> str:
    """Kills survived, with the figure before the fix beside it when there is one."""
    killed = [t for t in d["trials"] if t["killed"]]
    by_epoch: dict[int, list] = {}
    for t in killed:
        by_epoch.setdefault(t["checkpointed_epoch"], []).append(t)
    rows = [[f"after the checkpoint of epoch {e}" if e else "before the first checkpoint",
             len(ts), sum(t["survived"] for t in ts), sum(t["same_scores"] for t in ts)]
            for e, ts in sorted(by_epoch.items())]
    parts = [f"""## Automatic restarts under fire

`{d['command']}`: `sage-rapids run --nproc 2 --max-restarts 1` on {d['train']:,} SST-2
rows for {d['epochs']} epochs (a tiny teacher, so a run takes {d['run_seconds']} s), one of
the two ranks SIGKILLed at a random moment of the run. A kill is survived when the run
ends with exit 0 and `restarts: 1`; its per-epoch dev accuracy and train loss are then
compared with an uninterrupted run's. Measured on a {machine(d)}; {beside(d)}.

**{_line(d)}**.
"""]
    if before is not None:
        parts.append(f"The same soak at {before['measured_at']}: {_line(before)}. Every "
                     "failure ended in `Gloo connectFullMesh failed ... Connection refused` "
                     "on the restarted ranks.\n")
    parts.append(table(["the kill came", "kills", "survived", "same scores"], rows) + "\n")
    return "\n".join(parts)
