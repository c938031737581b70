"""A ladder of students from one teacher: what each size buys.

Students of several depths (and widths) are distilled with the same settings from one
fine-tuned teacher and one pass of its targets (stages 0 and 1 run once for every rung
and seed); each student is a run directory of its own, resumable on its own. The table
puts each rung's dev metric beside its measured throughput, latency, parameters and size
on disk; the Pareto front is marked, and the smallest student within a tolerance of the
teacher is named.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from ..artifacts import write_json
from ..backend import Backend
from ..config import Config, ConfigError, load_config
from ..context import Context
from ..distillation.models import mapped_teacher_layers, resolve_model_path
from ..profiling import Profiler
from . import pipeline
from .checkpoint import CheckpointError, latest_checkpoint
from .ladder_table import ladder_table, plot_ladder
from .preparation import Setup, prepare


@dataclass(frozen=True)
class Rung:
    """One student size: `layers` deep; `width` None keeps the teacher's width (the
    student is built from teacher layers), another width is a randomly initialised
    student of that width behind a learned projection."""

    layers: int
    width: int | None = None

    @property
    def name(self) -> str:
        if self.layers == 0:
            return "static" + (f"-w{self.width}" if self.width else "")
        return f"L{self.layers}" + (f"-w{self.width}" if self.width else "")


def spread_layers(k: int, depth: int) -> list[int]:
    """k teacher layers spread evenly from the bottom, DistilBERT style (3 of 6: 0, 2, 4;
    2 of 6: 0, 3; 4 of 6: 0, 2, 3, 5)."""
    return [int(i * depth / k + 0.5) for i in range(k)]


def rung_overrides(rung: Rung, teacher) -> list[str]:
    """The student section of one rung, for a teacher config (depth, width, heads).

    Raises:
        ConfigError: a rung deeper than the teacher, or a width its heads do not divide.
    """
    depth, width = teacher.num_hidden_layers, teacher.hidden_size
    if rung.layers == 0:  # no transformer layer: the static student, `width` wide
        return ["student.layers=[]", "student.config=null", "student.model=null",
                *([f"student.static_dim={rung.width}"] if rung.width else [])]
    if rung.layers > depth and rung.width in (None, width):
        raise ConfigError([f"--layers: {rung.layers} is deeper than the teacher's {depth} "
                           f"layers (a student built from its layers has at most {depth})"])
    if rung.width in (None, width):
        layers = spread_layers(rung.layers, depth)
        return [f"student.layers={layers}", "student.config=null", "student.model=null"]
    head = width // teacher.num_attention_heads  # keep the teacher's head size
    if rung.width % head:
        raise ConfigError([f"--widths: {rung.width} is not a multiple of the teacher's head "
                           f"size {head}"])
    shape = (f"{{num_hidden_layers: {rung.layers}, hidden_size: {rung.width}, "
             f"intermediate_size: {4 * rung.width}, num_attention_heads: {rung.width // head}}}")
    return ["student.layers=null", f"student.config={shape}", "student.model=null"]


def teacher_shape(config: Config):
    """The teacher's transformers config (depth, width, heads), before it is loaded.

    Raises:
        ConfigError: there is no teacher model (its outputs come from a file).
    """
    from transformers import AutoConfig

    if config.teacher.model is None:
        raise ConfigError(["teacher.model: a ladder builds its students from the teacher's "
                           "layers and times them beside it; it needs a teacher model"])
    return AutoConfig.from_pretrained(resolve_model_path(config.teacher.model),
                                      trust_remote_code=config.teacher.trust_remote_code)


def rung_setup(s: Setup, union: tuple[int, ...], layers: tuple[int, ...]) -> Setup:
    """The shared setup with the teacher layer states of one rung's layer map (stage 1
    cached the union of every rung's)."""
    if not layers or layers == union:
        return s
    columns = [union.index(t) for t in layers]
    return replace(s, train=replace(s.train, teacher_layers=s.train.teacher_layers[:, columns]))


def run_rung(config: Config, s: Setup, folder: Path, backend: Backend, quiet: bool,
             log) -> dict:
    """One rung's run: read when finished, resumed after its last complete checkpoint,
    started over when it had none."""
    if (folder / "summary.json").is_file():
        log(f"{folder.name}: finished earlier, kept")
        return json.loads((folder / "summary.json").read_text())
    resume = False
    if folder.exists():
        try:
            latest_checkpoint(folder)
            resume = True
        except CheckpointError:
            shutil.rmtree(folder)  # no epoch finished: nothing to keep
    log(f"{folder.name}: {'resuming' if resume else 'distilling'}")
    return pipeline.run(config, backend, folder, quiet=quiet, log=log, resume=resume, setup=s)


def student_int8(folder: Path, s: Setup, config: Config, backend: Backend,
                 log) -> dict | None:
    """A rung run's student quantized to int8 (ONNX, onnxruntime): its dev metrics and
    its speed, measured as the fp32 student's; kept in `folder/int8.json` so that a
    resumed ladder measures it once. None without the export extra or off the CPU."""
    from ..distillation.models import load_classifier
    from .deploy import ExportError, onnxruntime_module, timed_formats

    if (folder / "int8.json").is_file():
        return json.loads((folder / "int8.json").read_text())
    if backend.name != "cpu" or not config.eval.efficiency:  # int8 ONNX is a CPU format
        return None
    try:
        onnxruntime_module()
    except ExportError as err:
        log(f"{folder.name}: no int8 copy measured ({err})")
        return None
    model, tokenizer = load_classifier(str(folder / "student"))
    metrics = s.task.metrics
    result = timed_formats(model, tokenizer, s.task.dev, metrics, config.data.max_length,
                           config.eval.batch_size, folder / "onnx", ("onnx-int8",))["onnx-int8"]
    write_json(folder / "int8.json", result)
    log(f"{folder.name}: int8 copy {metrics[0]} {result[metrics[0]]:.4f}, "
        f"{result['throughput']['median']:.0f} examples/s")
    return result


def same_ladder(out: Path, config: Config, rungs: list[Rung], seeds: list[int],
                within: float) -> None:
    """Write the ladder's settings (`config.yaml`, the settings every rung shares, and
    `ladder.yaml`), or check that a ladder resumed in `out` asks for the same ones.

    Raises:
        ConfigError: the folder holds a ladder of other settings (each difference named).
    """
    import yaml

    from ..artifacts import write_atomic
    from ..config import config_to_dict, flat_config

    asked = {"rungs": [[r.layers, r.width] for r in rungs], "seeds": list(seeds),
             "within": within}
    if (out / "ladder.yaml").is_file():
        saved = saved_ladder(out)
        old, new = flat_config(saved["config"]), flat_config(config)
        changed = [f"{k}: ladder has {old[k]!r}, asked for {new[k]!r}" for k in old
                   if old[k] != new[k] and k != "device"]
        saved["rungs"] = [[r.layers, r.width] for r in saved["rungs"]]
        changed += [f"{k}: ladder has {saved[k]!r}, asked for {asked[k]!r}"
                    for k in ("rungs", "seeds") if saved[k] != asked[k]]  # `within` is
        # the table's, not the runs': a resumed ladder may ask again with another
        if changed:
            raise ConfigError(["cannot resume a ladder with other settings"] + changed,
                              str(out / "ladder.yaml"))
        return
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "config.yaml",
                 yaml.safe_dump(config_to_dict(config), sort_keys=False).encode())
    write_atomic(out / "ladder.yaml", yaml.safe_dump(asked, sort_keys=False).encode())


def saved_ladder(out: Path) -> dict:
    """The settings of the ladder in `out`: config, rungs, seeds, within.

    Raises:
        CheckpointError: `out` holds no ladder.
    """
    import yaml

    if not (out / "ladder.yaml").is_file():
        raise CheckpointError(f"{out}: not a ladder folder (no ladder.yaml)")
    saved = yaml.safe_load((out / "ladder.yaml").read_text())
    return {**saved, "config": load_config(out / "config.yaml"),
            "rungs": [Rung(k, w) for k, w in saved["rungs"]]}


def run_ladder(config: Config, rungs: list[Rung], seeds: list[int], out: Path,
               backend: Backend, within: float = 1.0, quiet: bool = False,
               log: Callable[[str], None] = print, budget: dict | None = None) -> dict:
    """Distil every rung for every student seed from one teacher and one targets pass.

    Args:
        config: the settings every rung shares; its `seed` picks the data subsets and the
            teacher, each student seed goes to `train.seed`.
        rungs: the student sizes.
        seeds: student seeds (dropout, batch order, augmentation).
        out: the ladder's folder: one run directory per rung and seed, `ladder.json`,
            `ladder.png`.
        within: points of the teacher's primary dev metric a student may lose and still
            count as "within" it.
        budget: `{"max_latency_ms": ..., "min_throughput": ...}` (either may be None):
            the verdict names the fastest (format, model) within `within` that meets it.

    Returns:
        The table written to `ladder.json`.

    Raises:
        ConfigError: a rung the teacher cannot give, or a config error of a rung.
    """
    same_ladder(out, config, rungs, seeds, within)
    teacher = teacher_shape(config)
    configs = {(r, seed): load_config(config, [*rung_overrides(r, teacher),
                                               f"train.seed={seed}", "eval.efficiency=true"])
               for r in rungs for seed in seeds}
    maps = {key: mapped_teacher_layers(c.student, c.loss, teacher.num_hidden_layers)
            for key, c in configs.items()}
    union = tuple(sorted({t for layers in maps.values() for t in layers}))
    log(f"ladder: {len(rungs)} rungs x {len(seeds)} seeds from one teacher; stages 0 and 1 "
        "once for all")
    ctx = Context(backend, Profiler(backend.synchronize), quiet=quiet)
    s = prepare(config, ctx, log, teacher_layers=union)
    runs = []
    for (rung, seed), c in configs.items():
        folder = out / f"{rung.name}-s{seed}"
        summary = run_rung(c, rung_setup(s, union, maps[(rung, seed)]), folder, backend,
                           quiet, log)
        runs.append({"rung": rung.name, "layers": rung.layers, "width": rung.width,
                     "seed": seed, "summary": summary,
                     "int8": student_int8(folder, s, c, backend, log)})
    table = ladder_table(runs, within, stage_seconds=ctx.profiler.totals(), budget=budget)
    write_json(out / "ladder.json", table)
    plot_ladder(table, out / "ladder.png")
    return table
