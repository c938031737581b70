"""Automatic restarts under fire: kill one of two ranks at a random moment, many times.

Each trial starts `sage-rapids run --nproc 2 --max-restarts 1` on SST-2 rows (a tiny
teacher built as the tests build it, so a run takes seconds), waits a random time
within the length of an uninterrupted run, SIGKILLs one rank chosen at random, and
waits for the run to end. A kill is survived when the run exits 0 with `restarts: 1`;
whether its per-epoch dev accuracy and train loss equal an uninterrupted run's (to 1e-4)
is recorded beside it. The seconds from the kill to the `restart 1:` line (printed once
both restarted ranks have formed their process group again) are recorded too.

    python bench/restart_soak.py --kills 20          # about 10 minutes on 2 cores
    python bench/restart_soak.py --kills 3 --quick   # a smoke run

Writes `bench/results/restart_soak.json` (rendered into docs/results.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import save_tiny_teacher  # noqa: E402  (the tests' tiny teacher)

BIN = Path(sys.executable).with_name("sage-rapids")
RESULT = ROOT / "bench" / "results" / "restart_soak.json"
SCORES = ("dev_accuracy", "train_loss")


def config_file(folder: Path, teacher: Path, train: int, epochs: int) -> Path:
    import yaml

    config = {
        "seed": 0, "device": "cpu",
        "data": {"name": "glue/sst2", "max_length": 32, "train_limit": train,
                 "dev_limit": 300},
        "teacher": {"model": str(teacher), "finetune": True, "finetune_limit": 400,
                    "finetune_lr": 3e-3, "finetune_epochs": 4.0, "finetune_batch_size": 16,
                    "cache_dir": str(folder / "teachers")},
        "student": {"layers": [0, 2]},
        "train": {"epochs": epochs, "batch_size": 16, "lr": 5e-4, "early_stopping": None},
        "augment": {"strategy": "sage", "space": "student", "umap_epochs": 30, "k": 5,
                    "umap_n_neighbors": 8, "plots": False},
    }
    path = folder / "soak.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def ranks_of(launcher: int) -> list[int]:
    """The worker processes a launcher spawned (their command line names spawn_main)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().split()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[3]) == launcher and b"spawn_main" in cmdline:
            found.append(int(pid))
    return sorted(found)


def start(config: Path, out: Path, env: dict) -> tuple[subprocess.Popen, list]:
    """A 2-process run with one restart allowed; its stderr lines with arrival times."""
    proc = subprocess.Popen([str(BIN), "run", "--config", str(config), "--out", str(out),
                             "--nproc", "2", "--max-restarts", "1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list = []

    def read():
        for line in proc.stderr:
            lines.append((time.perf_counter(), line.rstrip()))

    threading.Thread(target=read, daemon=True).start()
    return proc, lines


def scores(out: Path) -> list[dict]:
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    return [{k: r[k] for k in SCORES} for r in rows]


def same(a: list[dict], b: list[dict]) -> bool:
    return len(a) == len(b) and all(abs(x[k] - y[k]) <= 1e-4 for x, y in zip(a, b)
                                    for k in SCORES)


def trial(i: int, config: Path, work: Path, env: dict, reference: list[dict],
          length: float, rng: random.Random) -> dict:
    out = work / f"kill{i}"
    proc, lines = start(config, out, env)
    t0 = time.perf_counter()
    while len(ranks_of(proc.pid)) < 2 and proc.poll() is None:
        time.sleep(0.02)
    delay = rng.uniform(0.0, 0.9 * length)
    time.sleep(delay)
    ranks = ranks_of(proc.pid)
    if proc.poll() is not None or len(ranks) < 2:
        proc.wait()
        return {"trial": i, "killed": False, "delay_s": delay}
    victim = rng.randrange(2)
    meta = out / "checkpoint" / "meta.json"
    checkpointed = json.loads(meta.read_text())["epoch"] if meta.is_file() else 0
    killed_at = time.perf_counter()
    os.kill(ranks[victim], signal.SIGKILL)
    try:
        code = proc.wait(timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = None
    time.sleep(0.2)  # the reader thread takes the last lines
    restart = next((t for t, line in lines if t > killed_at and line.startswith("restart 1:")),
                   None)
    summary = out / "summary.json"
    restarts = json.loads(summary.read_text()).get("restarts") if summary.is_file() else None
    survived = code == 0 and restarts == 1
    return {"trial": i, "killed": True, "rank": victim, "delay_s": round(delay, 2),
            "since_start_s": round(killed_at - t0, 2), "checkpointed_epoch": checkpointed,
            "exit_code": code, "restarts": restarts, "survived": survived,
            "same_scores": survived and same(scores(out), reference),
            "kill_to_restart_s": None if restart is None else round(restart - killed_at, 2),
            "last_lines": [] if survived else [line[:300] for _, line in lines[-6:]],
            "seconds": round(time.perf_counter() - t0, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="trials that kill a rank")
    parser.add_argument("--train", type=int, default=1200, help="SST-2 training rows")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="seeds the kill times and ranks")
    parser.add_argument("--quick", action="store_true", help="300 rows, 2 epochs")
    parser.add_argument("--out", type=Path, default=RESULT)
    parser.add_argument("--beside", default="", help="what else ran on the machine meanwhile")
    args = parser.parse_args(argv)
    if args.quick:
        args.train, args.epochs = 300, 2
    data = os.environ.get("SAGE_DATA_DIR") or str(ROOT.parent / "shared" / "data")
    env = {**os.environ, "SAGE_DATA_DIR": data, "HF_HUB_OFFLINE": "1",
           "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        work = Path(tmp)
        config = config_file(work, save_tiny_teacher(work / "teacher"), args.train,
                             args.epochs)
        t0 = time.perf_counter()
        proc, lines = start(config, work / "reference", env)
        if proc.wait() != 0:
            print("\n".join(line for _, line in lines[-20:]), file=sys.stderr)
            return 1
        length = time.perf_counter() - t0  # the teacher is cached from here on
        proc, _ = start(config, work / "reference2", env)
        proc.wait()
        length = min(length, time.perf_counter() - t0 - length)
        reference = scores(work / "reference")
        trials, i = [], 0
        while sum(t["killed"] for t in trials) < args.kills:
            row = trial(i, config, work, env, reference, length, rng)
            trials.append(row)
            i += 1
            if row["killed"]:
                print(f"kill {sum(t['killed'] for t in trials)}: rank {row['rank']} at "
                      f"{row['since_start_s']} s (checkpoint of epoch "
                      f"{row['checkpointed_epoch']}): "
                      f"{'survived' if row['survived'] else 'FAILED'}, restart after "
                      f"{row['kill_to_restart_s']} s", flush=True)
    killed = [t for t in trials if t["killed"]]
    waits = sorted(t["kill_to_restart_s"] for t in killed if t["kill_to_restart_s"] is not None)
    given = list(argv or sys.argv[1:])  # the command as run, without where it wrote
    shown = [a for i, a in enumerate(given) if not a.startswith("--out")
             and not (i and given[i - 1] == "--out")]
    result = {"command": " ".join(["python bench/restart_soak.py", *shown]),
              "machine": f"{os.cpu_count()}-core CPU machine ({platform.machine()})",
              "date": time.strftime("%Y-%m-%d"), "beside": args.beside,
              "train": args.train, "epochs": args.epochs, "seed": args.seed,
              "run_seconds": round(length, 1), "kills": len(killed),
              "survived": sum(t["survived"] for t in killed),
              "same_scores": sum(t["same_scores"] for t in killed),
              "kill_to_restart_median_s": waits[len(waits) // 2] if waits else None,
              "kill_to_restart_max_s": waits[-1] if waits else None, "trials": trials}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['survived']} of {result['kills']} kills survived; kill to restart "
          f"{result['kill_to_restart_median_s']} s median, {result['kill_to_restart_max_s']} s "
          f"max; wrote {args.out}")
    return 0 if result["survived"] == result["kills"] else 1


if __name__ == "__main__":
    sys.exit(main())
