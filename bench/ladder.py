"""What each student size buys: a ladder in the embedded default's regime.

SST-2, the teacher (all-MiniLM-L6-v2) fine-tuned on 20,000 examples once, the static
student (no transformer layer) and students of 1 to 4 layers (evenly spread teacher
layers) distilled on 8,000 with the default's settings (plain distillation, early
stopping), 3 student seeds per rung; each rung's dev accuracy beside its throughput,
batch-1 latency, parameters and size as `sage-rapids ladder` measures them, every rung's
int8 copy and the teacher's ONNX and int8 copies measured the same way, the verdict
sentence; then the default student (3 layers, seed 0) exported to ONNX and int8 and
re-scored through onnxruntime.

    python bench/ladder.py                 # bench/results/ladder.json, ladder.png, export.json
    python bench/ladder.py --beside "..."  # say what ran beside it (its seconds are not quiet)
    python bench/ladder.py --quick         # minutes: 600 examples, 1 epoch, 2 rungs
    python bench/ladder.py --teacher mpnet-base --layers 3,6 --seeds 0 --name mpnet
                                           # the 110M MPNet teacher, its 6 and 3 layers

The rungs' run directories go to `--work` (default `~/.cache/sage-rapids/bench/ladder`),
so an interrupted ladder resumes rung by rung. Timings are measurements on the machine as
it was (threads and device recorded): medians with their range, not a test's assertion.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import torch

import sage_rapids
from sage_rapids.artifacts import write_json
from sage_rapids.progress import quiet_libraries
from sage_rapids.run.deploy import export_student

RESULTS = Path(__file__).resolve().parent / "results"


def export_again(work: Path, seed: int, beside: str) -> int:
    """The finished ladder's default student exported again, its table rewritten."""
    report = export_student(work / f"L3-s{seed}" / "student", work / "onnx", "int8", None,
                            1.0, log=print)
    report = {k: v for k, v in report.items() if k != "out"}  # a local path
    write_json(RESULTS / "export.json", {
        "date": time.strftime("%Y-%m-%d"), "command": "python bench/ladder.py --export-only",
        "beside": beside, "threads": torch.get_num_threads(), **report,
        "student": f"the ladder's 3-layer student, seed {seed} (the embedded default's student)"})
    return 0


def rung_details(work: Path) -> list[dict]:
    """Each finished rung run's seconds, epochs and dev curve, from its run directory."""
    out = []
    for summary_path in sorted(work.glob("L*-s*/summary.json")):
        summary = json.loads(summary_path.read_text())
        rows = [json.loads(x) for x in (summary_path.parent / "metrics.jsonl").read_text()
                .splitlines()]
        key = summary["selected_by"]
        out.append({"run": summary_path.parent.name, "total_seconds": summary["total_seconds"],
                    "best_epoch": summary["best_epoch"], "stopped_epoch": summary["stopped_epoch"],
                    "stop_reason": summary["stop_reason"],
                    "student_parameters": summary["student_parameters"],
                    "dev": [r[key] for r in rows], "epoch_seconds": [r["seconds"] for r in rows]})
    return out


def details_only(name: str, work: Path) -> int:
    """Add the rungs' details to a finished ladder's results (`--details-only`)."""
    path = RESULTS / f"{name}.json"
    write_json(path, {**json.loads(path.read_text()), "runs_detail": rung_details(work)})
    print(f"wrote {path}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", default="0,1,2,3,4")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--within", type=float, default=1.0)
    parser.add_argument("--work", default=str(Path.home() / ".cache/sage-rapids/bench/ladder"))
    parser.add_argument("--beside", default="nothing", help="what else ran on the machine")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--teacher", default=None,
                        help="teacher.model (default: the embedded default's, minilm-l6)")
    parser.add_argument("--name", default=None, help="results name (default: ladder)")
    parser.add_argument("--details-only", action="store_true",
                        help="add each rung run's seconds and dev curve to the results")
    parser.add_argument("--export-layers", type=int, default=3,
                        help="the rung whose first seed is exported to ONNX and int8")
    parser.add_argument("--export-only", action="store_true",
                        help="export the finished ladder's default student again (export.json)")
    args = parser.parse_args(argv)
    quiet_libraries()
    layers = [int(x) for x in args.layers.split(",")]
    seeds = [int(x) for x in args.seeds.split(",")]
    overrides, name = {}, args.name or "ladder"
    if args.teacher:
        overrides["teacher.model"] = args.teacher
    if args.quick:
        overrides = {"data.train_limit": 600, "teacher.finetune_limit": 600,
                     "train.epochs": 1}
        layers, seeds, name = layers[:2], seeds[:1], f"{name}_quick"
    work = Path(args.work) / name
    if args.export_only:
        return export_again(work, seeds[0], args.beside)
    if args.details_only:
        return details_only(name, work)
    start = time.perf_counter()
    result = sage_rapids.ladder(layers, seeds=seeds, within=args.within, overrides=overrides,
                                out=work, quiet=True, resume=(work / "ladder.yaml").is_file(),
                                log=print)
    seconds = time.perf_counter() - start
    from sage_rapids.run.ladder_table import format_ladder

    print(format_ladder(result.table))
    default_student = work / f"L{args.export_layers}-s{seeds[0]}" / "student"
    report = None
    if default_student.is_dir():
        report = export_student(default_student, work / "onnx", "int8", None, 1.0, log=print)
    stamp = {"date": time.strftime("%Y-%m-%d"), "command": " ".join(["python bench/ladder.py",
                                                                     *(argv or sys.argv[1:])]),
             "beside": args.beside, "threads": torch.get_num_threads(), "seconds": seconds,
             "teacher_model": args.teacher or "minilm-l6"}
    write_json(RESULTS / f"{name}.json", {**stamp, **result.table,
                                          "runs_detail": rung_details(work)})
    shutil.copyfile(work / "ladder.png", RESULTS / f"{name}.png")
    if report is not None:
        report = {k: v for k, v in report.items() if k != "out"}  # a local path
        prefix = "" if name.startswith("ladder") else f"{name}_"
        write_json(RESULTS / f"{prefix}export{'_quick' if args.quick else ''}.json",
                   {**stamp, **report, "student": f"the ladder's {args.export_layers}-layer "
                    f"student, seed {seeds[0]}" + (" (the embedded default's student)"
                                                   if not args.teacher else "")})
    print(f"wrote {RESULTS / (name + '.json')}")
    print(json.dumps({"seconds": round(seconds)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
