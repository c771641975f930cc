"""One trainer shape for every built-in model: config, data step, loop, checkpoints, export.

A *task* (``genstudio.ml.music.finetune.MusicTask``; sprites and images plug in the same way)
says what is trained; :func:`train` is the one loop:

* **config** - :class:`TrainConfig`, every field described and range-checked in one spec (``generators.training.TrainerSettings``)
  (``describe()`` is what the CLI's ``--help`` and the studio's tooltips show);
* **data** - ``task.prepare(run)`` turns the user's material into a cache inside the run folder
  and a per-file report (used / skipped and why), written to ``<run>/data-report.json``;
* **loop** - a step budget and a time budget (training wall time, counted across resumes),
  cancel and pause between steps (``ctx.check_cancel``), progress, loss and held-out loss
  events, previews every ``preview_every`` steps (``task.preview``);
* **checkpoints** - ``<run>/checkpoints/step-NNNNNN.safetensors`` (model + optimizer tensors +
  torch RNG) and then its complete-marker ``step-NNNNNN.json`` (the tensors' sha256, the step,
  wall time, the numpy/Python RNG states, the batch size). Only a checkpoint whose marker exists
  and whose hash matches is resumed from, so a kill while writing costs at most the steps since
  the previous one. The LR schedule is a function of the step. Everything that decides the next
  step is in the checkpoint, so a killed-and-resumed run ends with the weights of an
  uninterrupted one (bit-exact on CPU: tests/ml/test_trainer.py, tests/campaigns/train_kill.py);
* **methods** - ``full`` fine-tuning or ``lora`` (:mod:`genstudio.ml.lora`; rank/alpha, merged
  into the export, the adapter saved as safetensors); ``auto`` lets the preset choose;
* **hardware** - CUDA when torch sees it, else CPU; mixed precision on CUDA (bf16 where
  supported, else fp16 with a gradient scaler); a CUDA out-of-memory halves the micro-batch
  (gradient accumulation keeps the effective batch and the data order) and says so in the log;
* **export** - ``task.export(state, folder, provenance)`` writes a model pack into a hidden
  temporary folder next to the target, which is then renamed into place, so a half-written pack
  is never listed.

The run folder is the unit of resume: ``<run>/run.json`` holds the config and the status
(``running``, ``paused``, ``cancelled``, ``failed``, ``done``); re-running with the same folder
continues from its last complete checkpoint.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from genstudio.core.atomic import atomic_write_bytes, atomic_write_json
from genstudio.core.errors import Cancelled, GenStudioError
from genstudio.generators import fields
from genstudio.generators.training import (  # the run folder's torch-free readers and writers
    CKPT_DIR,
    PREVIEW_DIR,
    REPORT_FILE,
    TrainerSettings,
    append_log,
    latest_checkpoint,
    read_run,
    write_run,
)

log = logging.getLogger(__name__)

KEEP_CHECKPOINTS = 2


class TrainingError(GenStudioError):
    """Training cannot start or go on (bad material, a broken run folder, no device ...)."""


# ---------------------------------------------------------------------------------- config


@dataclass
class TrainConfig(TrainerSettings):
    """The trainer's settings: every field declared (meaning, range, choices) once in
    :class:`genstudio.generators.training.TrainerSettings`; mutable, checked by ``validate``."""

    def validate(self) -> TrainConfig:
        super().validate()
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        from genstudio.generators.base import refuse_unknown

        refuse_unknown(cls, data, "training setting(s)", "Known")
        return cls(**data).validate()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def describe() -> list[dict[str, Any]]:
    """Every setting with its default, meaning and allowed values (self-describing config)."""
    out = []
    for f in fields.specs(TrainConfig):
        row: dict[str, Any] = {"name": f.name, "default": f.default, "help": f.spec.help}
        allowed = f.spec.allowed()
        if allowed is not None:
            row["choices"] = list(allowed)
        else:
            row["range"] = [f.spec.lo, f.spec.hi]
        out.append(row)
    return out


# ---------------------------------------------------------------------------------- shared helpers


def lr_at(step: int, peak: float, total: int, warmup: int, floor_ratio: float = 0.1) -> float:
    """Linear warm-up then cosine decay to ``floor_ratio * peak`` at ``total`` steps."""
    if warmup and step < warmup:
        return peak * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    lo = peak * floor_ratio
    return lo + 0.5 * (peak - lo) * (1 + math.cos(math.pi * t))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_oom(exc: BaseException) -> bool:
    """A CUDA (or other accelerator) out-of-memory error."""
    import torch

    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom is not None and isinstance(exc, oom):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


# ---------------------------------------------------------------------------------- the task


class Context(Protocol):
    """What the loop needs from its caller (a ``RunContext`` in a job, a CLI shim)."""

    def check_cancel(self) -> None: ...

    def progress(
        self, fraction: float, message: str = "", preview: bytes | None = None
    ) -> None: ...

    def event(self, name: str, **data: Any) -> None: ...


class Task(Protocol):
    kind: str

    def prepare(self, run: Path) -> dict[str, Any]:
        """Build the data cache in ``run`` (idempotent) and return the data report."""

    def build(self, device: str) -> Any:
        """The network with the base weights loaded (on ``device``)."""

    def lora_targets(self) -> tuple[str, ...]:
        """Names (suffixes) of the Linear layers LoRA adapts."""

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
        """A training batch of ``n`` items, drawn with ``rng`` only."""

    def loss(self, net: Any, batch: tuple[Any, ...]) -> Any:
        """The mean loss of a batch of torch tensors already on the device."""

    def evaluate(self, net: Any, device: str) -> dict[str, float]:
        """Held-out metrics; deterministic and without touching the global RNGs."""

    def preview(self, state: dict[str, Any], step: int, folder: Path) -> list[dict[str, Any]]:
        """Write preview files for the merged weights ``state``; a list of {"path", ...}."""

    def export(self, state: dict[str, Any], folder: Path, provenance: dict[str, Any]) -> None:
        """Write a complete model pack of the merged weights ``state`` into ``folder``."""


# ---------------------------------------------------------------------------------- presets


@dataclass
class Hardware:
    device: str
    name: str
    cores: int
    ram_gb: float
    vram_gb: float = 0.0
    bf16: bool = False

    def words(self) -> str:
        if self.device == "cuda":
            return f"GPU {self.name} ({self.vram_gb:.0f} GB)"
        return f"CPU {self.name}, {self.cores} cores, {self.ram_gb:.0f} GB RAM"


def detect_hardware(prefer: str = "auto") -> Hardware:
    import platform

    import torch

    cores = os.cpu_count() or 1
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        ram = 0.0
    if prefer == "cuda" and not torch.cuda.is_available():
        raise TrainingError(
            "No CUDA GPU is available to PyTorch on this machine.",
            hint="Choose device 'auto' or 'cpu', or install the CUDA build of PyTorch.",
        )
    if prefer in ("auto", "cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return Hardware(
            "cuda",
            props.name,
            cores,
            ram,
            props.total_memory / 2**30,
            bool(torch.cuda.is_bf16_supported()),
        )
    return Hardware("cpu", platform.processor() or platform.machine(), cores, ram)


# ---------------------------------------------------------------------------------- run folder


def _ckpt_name(step: int) -> str:
    return f"step-{step:07d}"


def _prune(run: Path, keep: int = KEEP_CHECKPOINTS) -> None:
    folder = run / CKPT_DIR
    markers = sorted(folder.glob("step-*.json"))
    for marker in markers[:-keep]:
        for p in (marker, marker.with_suffix(".safetensors")):
            try:
                p.unlink()
            except OSError:
                pass
    # tensors without a marker (a kill between the two writes) older than the newest marker
    if markers:
        newest = markers[-1].stem
        for t in folder.glob("step-*.safetensors"):
            if t.stem < newest and not t.with_suffix(".json").exists():
                try:
                    t.unlink()
                except OSError:
                    pass


# ---------------------------------------------------------------------------------- RNG state


def _rng_json(rng: np.random.Generator) -> dict[str, Any]:
    return {
        "numpy": rng.bit_generator.state,
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
    }


def _restore_rng(meta: dict[str, Any], rng: np.random.Generator) -> None:
    rng.bit_generator.state = meta["rng"]["numpy"]
    v, state, gauss = meta["rng"]["python"]
    random.setstate((v, tuple(state), gauss))


# ---------------------------------------------------------------------------------- the loop


@dataclass
class Result:
    run: Path
    step: int
    wall_s: float
    status: str
    pack: Path | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


def resolve_method(cfg: TrainConfig, n_params: int, hw: Hardware) -> str:
    """``auto``: full fine-tuning of small models (every weight fits comfortably and learns a
    new style fastest), LoRA for big ones or little memory."""
    if cfg.method != "auto":
        return cfg.method
    budget_gb = hw.vram_gb if hw.device == "cuda" else hw.ram_gb
    # AdamW full fine-tuning: weights + grads + 2 moments = 16 bytes per parameter (fp32)
    need_gb = n_params * 16 / 2**30
    return "full" if n_params <= 50_000_000 and need_gb < 0.25 * max(budget_gb, 1) else "lora"


def resolve_auto(
    cfg: TrainConfig, hw: Hardware, task: Task, net: Any, device: str, *, spent: float = 0.0
) -> TrainConfig:
    """Fill the settings left at 0: the batch from the hardware, the steps from a speed probe
    (3 steps on a copy of the network) and the time budget, the intervals from the steps."""
    import copy

    import torch

    c = dataclasses.replace(cfg)
    if not c.batch:
        c.batch = 8 if device == "cpu" else int(min(64, max(16, hw.vram_gb * 2)))
    if not c.max_steps:
        probe = copy.deepcopy(net)
        params = [p for p in probe.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-6)
        rng = np.random.Generator(np.random.PCG64(0))
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            _step(task, probe, opt, task.sample(rng, c.batch), c.batch, device, None, None, params)
            times.append(time.perf_counter() - t0)
        per_step = float(np.median(times[1:]))
        del probe, opt
        # what is left after the set-up so far; ~12% of it goes to evaluations, previews,
        # checkpoints and the export
        left = max(0.0, c.minutes * 60 - spent - 3 * per_step)
        c.max_steps = max(10, int(left * 0.88 / max(per_step, 1e-4)))
    else:
        per_step = 0.0
    if not c.save_every:
        c.save_every = max(5, int(30 / per_step)) if per_step else max(5, c.max_steps // 20)
    if not c.eval_every:
        c.eval_every = max(1, c.max_steps // 10)
    if not c.preview_every:
        c.preview_every = max(1, c.max_steps // 4)
    c.warmup = min(c.warmup, max(1, c.max_steps // 10))
    return c.validate()


def default_lr(method: str) -> float:
    return 2e-3 if method == "lora" else 3e-4


class _Dist:
    """torchrun / DDP: ranks from the environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``);
    one process is rank 0 of 1 and every call is a no-op."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        self.rank = int(os.environ.get("RANK", "0") or 0)
        self.local = int(os.environ.get("LOCAL_RANK", "0") or 0)
        self.on = self.world > 1
        self.main = self.rank == 0

    def init(self, device: str) -> None:
        if self.on:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group("nccl" if device == "cuda" else "gloo")

    def barrier(self) -> None:
        if self.on:
            import torch.distributed as dist

            dist.barrier()

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any (stop together)."""
        if not self.on:
            return flag
        import torch
        import torch.distributed as dist

        t = torch.tensor([1 if flag else 0])
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def gather(self, obj: Any) -> list[Any]:
        if not self.on:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def share(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if not self.on:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]


class _Quiet:
    """The context of ranks other than 0: they neither report nor write."""

    def check_cancel(self) -> None:
        pass

    def progress(self, fraction: float, message: str = "", preview: bytes | None = None) -> None:
        pass

    def event(self, name: str, **data: Any) -> None:
        pass


def train(task: Task, run: Path, cfg: TrainConfig, ctx: Context, **kw: Any) -> Result:
    """See :func:`_train`; a run that stops with an error (bad material, no device ...) is
    marked failed or cancelled in ``run.json``, never left as "running"."""
    try:
        return _train(task, run, cfg, ctx, **kw)
    except BaseException as e:
        doc = read_run(Path(run))
        if doc is not None and doc.get("status") == "running" and _Dist().main:
            status = "cancelled" if isinstance(e, Cancelled) else "failed"
            try:
                write_run(Path(run), status=status, error=getattr(e, "message", str(e))[:500])
            except (GenStudioError, OSError):
                pass
        raise


def _train(
    task: Task,
    run: Path,
    cfg: TrainConfig,
    ctx: Context,
    *,
    out: Path | None = None,
    provenance: dict[str, Any] | None = None,
    fault: Callable[[str, int], None] | None = None,
) -> Result:
    """Train ``task`` in folder ``run`` (resuming from its last complete checkpoint), then export
    to ``out`` when the step budget or time budget is reached. ``fault(point, step)`` is a test
    hook called at named points ("step", "checkpoint", "export"). Under ``torchrun`` every rank
    runs this same loop on its own share of the data (DDP averages the gradients); rank 0
    writes the log, the checkpoints (with every rank's RNG state) and the pack."""
    import base64

    import torch

    from genstudio.ml import common, lora

    cfg.validate()
    begun = time.perf_counter()  # the time budget counts everything: data, probe, evaluations
    run = Path(run)
    dist = _Dist()
    main = dist.main
    if not main:
        ctx = _Quiet()
    run.mkdir(parents=True, exist_ok=True)
    previous = read_run(run)
    if previous and previous.get("config") and previous["config"] != cfg.to_dict():
        log.info("run %s: settings changed since it started; the saved ones are used", run)
        cfg = TrainConfig.from_dict(previous["config"])
    if previous and previous.get("status") == "done" and out is not None and Path(out).exists():
        return Result(
            run,
            int(previous.get("step", 0)),
            float(previous.get("wall_s", 0)),
            "done",
            Path(out),
            previous.get("metrics", {}),
        )
    hw = detect_hardware(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = hw.device
    dist.init(device)
    dev = device
    if device == "cuda" and dist.on:
        torch.cuda.set_device(dist.local)
        dev = f"cuda:{dist.local}"

    def record(**fields: Any) -> None:
        if main:
            write_run(run, **fields)

    def note(**fields: Any) -> None:
        if main:
            append_log(run, **fields)

    ctx.event("hardware", device=device, words=hw.words(), world_size=dist.world)
    record(
        config=cfg.to_dict(),
        kind=task.kind,
        status="running",
        device=device,
        hardware=hw.words() + (f" x {dist.world} processes" if dist.on else ""),
        out=str(out) if out else None,
    )

    ctx.progress(0.0, "Reading your material...")
    if not main:
        dist.barrier()  # rank 0 builds the data cache first
    report = task.prepare(run)
    if main:
        atomic_write_json(run / REPORT_FILE, report)
        dist.barrier()
    ctx.event("data", used=report.get("used", 0), skipped=report.get("skipped", 0))

    common.seed_everything(cfg.seed)
    net = task.build(dev)
    n_params = sum(p.numel() for p in net.parameters())
    method = resolve_method(cfg, n_params, hw)
    if method == "lora":
        lora.apply(net, task.lora_targets(), rank=cfg.rank, alpha=cfg.alpha)
        net.to(dev)
    found = latest_checkpoint(run)  # hashes the tensors: once per start
    if found is None:
        spent = time.perf_counter() - begun
        cfg = dist.share(resolve_auto(cfg, hw, task, net, dev, spent=spent) if main else None)
        common.seed_everything(cfg.seed + 1)  # the speed probe drew random numbers
        record(config=cfg.to_dict())
    trainable = [p for p in net.parameters() if p.requires_grad]
    n_train = sum(p.numel() for p in trainable)
    decay = [p for p in trainable if p.dim() >= 2]
    no_decay = [p for p in trainable if p.dim() < 2]
    peak = cfg.lr or default_lr(method)
    opt = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=peak,
        betas=(0.9, 0.99),
    )
    amp_dtype = None
    if device == "cuda" and cfg.precision in ("auto", "bf16", "fp16"):
        amp_dtype = (
            torch.bfloat16
            if (cfg.precision == "bf16" or (cfg.precision == "auto" and hw.bf16))
            else torch.float16
        )
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    model = net
    if dist.on:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(net, device_ids=[dist.local] if device == "cuda" else None)

    seed_seq: Any = cfg.seed if not dist.on else [cfg.seed, dist.rank]
    rng = np.random.Generator(np.random.PCG64(seed_seq))
    step, wall, micro = 0, 0.0, cfg.batch
    if found is not None:
        tensors, meta = found
        loaded, _ = common.load_checkpoint(tensors)
        if meta.get("method") != method:
            raise TrainingError(
                f"This run was started with {meta.get('method')} fine-tuning, not {method}.",
                hint="Resume it with the same method, or start a new run.",
            )
        if int(meta.get("world", 1)) != dist.world:
            raise TrainingError(
                f"This run was trained by {meta.get('world', 1)} processes, not {dist.world}.",
                hint="Resume it with the same number of GPUs/processes.",
            )
        common.restore_state(
            net, opt, {k: v.to(dev) for k, v in loaded.items() if not k.startswith("rng.")}
        )
        mine = meta.get("ranks", [None] * dist.world)[dist.rank] if dist.on else None
        if mine is not None:
            torch.set_rng_state(
                torch.frombuffer(bytearray(base64.b64decode(mine["torch"])), dtype=torch.uint8)
            )
            _restore_rng(mine, rng)
        else:
            torch.set_rng_state(loaded["rng.torch"])
            _restore_rng(meta, rng)
        if device == "cuda" and "rng.cuda" in loaded and not dist.on:
            torch.cuda.set_rng_state(loaded["rng.cuda"])
        step, wall = int(meta["step"]), float(meta["wall_s"])
        micro = int(meta.get("micro", cfg.batch))
        ctx.event("resumed_from", step=step)
        note(event="resumed", step=step)
        log.info("run %s resumed at step %d", run, step)

    metrics0: dict[str, float] = {}
    if step == 0:
        metrics0 = task.evaluate(net, dev)
        record(base_metrics=metrics0)
        note(step=0, **{f"valid_{k}": v for k, v in metrics0.items()})
        ctx.event("eval", step=0, **metrics0)
    ctx.event(
        "start", step=step, max_steps=cfg.max_steps, method=method, params=n_params,
        trainable=n_train, device=device, micro_batch=micro, world_size=dist.world,
    )  # fmt: skip

    def save(reason: str) -> None:
        ranks = dist.gather(
            {
                **_rng_json(rng),
                "torch": base64.b64encode(torch.get_rng_state().numpy().tobytes()).decode(),
            }
        )
        if main:
            _write_checkpoint(
                run, step, reason, net, opt, rng, wall, micro, method, dist, ranks, device, fault
            )
            ctx.event("checkpoint", step=step, reason=reason)
        dist.barrier()

    def merged() -> dict[str, Any]:
        return (
            lora.merged_state_dict(net)
            if method == "lora"
            else {k: v.detach().clone() for k, v in net.state_dict().items()}
        )

    last_saved = step
    budget_s = cfg.minutes * 60.0
    wall += time.perf_counter() - begun  # this start's set-up counts too
    net.train()
    try:
        while step < cfg.max_steps:
            over = bool(budget_s and wall >= budget_s)
            if dist.any(over):
                ctx.event("time_budget", step=step, wall_s=wall)
                break
            pause = getattr(ctx, "pause_event", None)
            if pause is not None and pause.is_set() and last_saved != step:
                save("pause")  # a paused run survives the studio closing
                last_saved = step
            try:
                ctx.check_cancel()
                stop = False
            except Cancelled:
                if not dist.on:
                    raise
                stop = True
            if dist.any(stop):
                raise Cancelled()
            t0 = time.perf_counter()
            batch = task.sample(rng, cfg.batch)
            lr = lr_at(step, peak, cfg.max_steps, cfg.warmup)
            for g in opt.param_groups:
                g["lr"] = lr
            while True:
                try:
                    loss_value = _step(
                        task, model, opt, batch, micro, dev, amp_dtype, scaler, trainable
                    )
                    break
                except Exception as e:  # noqa: BLE001 - only an out-of-memory is handled here
                    if not is_oom(e) or micro <= 1:
                        raise
                    opt.zero_grad(set_to_none=True)
                    if device == "cuda":
                        torch.cuda.empty_cache()
                    micro = max(1, micro // 2)
                    msg = (
                        f"Out of GPU memory at step {step}: the batch is now split into pieces "
                        f"of {micro} (the same batches, more time) and training goes on."
                    )
                    log.warning(msg)
                    note(event="oom", step=step, micro_batch=micro)
                    ctx.event("oom", step=step, micro_batch=micro, message=msg)
            step += 1
            if fault:
                fault("step", step)
            now = wall + time.perf_counter() - t0
            row: dict[str, Any] = {
                "step": step,
                "loss": round(loss_value, 5),
                "lr": lr,
                "wall_s": round(now, 3),
            }
            if step % cfg.eval_every == 0 or step == cfg.max_steps:
                ev = task.evaluate(net, dev)
                row.update({f"valid_{k}": v for k, v in ev.items()})
                ctx.event("eval", step=step, **ev)
            note(**row)
            ctx.event("loss", step=step, loss=row["loss"], lr=lr, wall_s=row["wall_s"])
            eta = _eta(now, step, cfg, budget_s)
            ctx.progress(
                step / cfg.max_steps, f"Step {step}/{cfg.max_steps} - loss {loss_value:.3f}{eta}"
            )
            if step % cfg.save_every == 0:
                wall += time.perf_counter() - t0
                t0 = time.perf_counter()
                save("periodic")
                last_saved = step
            if (
                main
                and cfg.preview_every
                and step % cfg.preview_every == 0
                and step < cfg.max_steps
            ):
                _preview(task, merged(), step, run, ctx)
            wall += time.perf_counter() - t0
        if last_saved != step:
            save("end")
            last_saved = step
    except Cancelled:
        if last_saved != step:
            save("cancel")
        record(status="cancelled", step=step, wall_s=wall)
        raise
    except BaseException as e:
        record(status="failed", step=step, wall_s=wall, error=getattr(e, "message", str(e))[:500])
        raise

    final = task.evaluate(net, dev)
    pack = None
    if main:
        ctx.progress(1.0, "Writing the model pack...")
        prov = {
            **(provenance or {}),
            "method": method,
            "steps": step,
            "wall_s": round(wall, 1),
            "hardware": hw.words() + (f" x {dist.world} processes" if dist.on else ""),
            "device": device,
            "config": cfg.to_dict(),
            "params": n_params,
            "trainable_params": n_train,
            "data": {k: report.get(k) for k in ("sha256", "used", "skipped", "pieces")},
            "metrics_before": (read_run(run) or {}).get("base_metrics", metrics0),
            "metrics_after": final,
        }
        adapter = lora.adapter_state_dict(net) if method == "lora" else None
        if out is not None:
            pack = export_atomically(
                task,
                merged(),
                Path(out),
                prov,
                run,
                adapter=adapter,
                lora_meta={"rank": cfg.rank, "alpha": cfg.alpha},
                fault=fault,
            )
        record(
            status="done",
            step=step,
            wall_s=wall,
            metrics=final,
            pack=str(pack) if pack else None,
            method=method,
        )
        ctx.event("done", step=step, pack=str(pack) if pack else None, metrics=final)
    dist.barrier()
    return Result(run, step, wall, "done", pack, final)


def _write_checkpoint(
    run, step, reason, net, opt, rng, wall, micro, method, dist, ranks, device, fault
) -> None:
    """Tensors first, then the complete-marker; a full disk is a clear error and the previous
    checkpoint stays usable."""
    import torch
    from safetensors.torch import save as st_save

    from genstudio.ml import common

    state = common.flat_state(net, opt)
    state["rng.torch"] = torch.get_rng_state()
    if device == "cuda" and not dist.on:
        state["rng.cuda"] = torch.cuda.get_rng_state()
    blob = st_save({k: v.detach().cpu().contiguous() for k, v in state.items()})
    name = _ckpt_name(step)
    folder = run / CKPT_DIR
    meta = {
        "step": step, "wall_s": wall, "micro": micro, "method": method,
        "sha256": sha256_bytes(blob), "rng": _rng_json(rng), "reason": reason,
        "world": dist.world, **({"ranks": ranks} if dist.on else {}),
    }  # fmt: skip
    try:
        folder.mkdir(exist_ok=True)
        atomic_write_bytes(folder / f"{name}.safetensors", blob)
        if fault:
            fault("checkpoint", step)
        atomic_write_json(folder / f"{name}.json", meta)
    except OSError as e:
        prev = latest_checkpoint(run)
        where = f"step {prev[1]['step']}" if prev else "the start"
        full = getattr(e, "errno", None) == 28
        raise TrainingError(
            (
                "The disk is full: "
                if full
                else f"Could not write a checkpoint ({e.strerror or e}): "
            )
            + f"the checkpoint at step {step} was not saved. Nothing else is lost; the run can "
            f"resume from {where}.",
            hint="Free some disk space, then resume the run." if full else "Check the run folder.",
        ) from e
    _prune(run)


def _step(task, net, opt, batch, micro, device, amp_dtype, scaler, trainable) -> float:
    import torch

    n = len(batch[0])
    opt.zero_grad(set_to_none=True)
    total = 0.0
    for lo in range(0, n, micro):
        part = tuple(torch.from_numpy(b[lo : lo + micro]).to(device) for b in batch)
        share = len(part[0]) / n
        if amp_dtype is not None:
            with torch.autocast("cuda", dtype=amp_dtype):
                loss = task.loss(net, part)
        else:
            loss = task.loss(net, part)
        scaled = loss * share
        (scaler.scale(scaled) if scaler is not None else scaled).backward()
        total += float(loss.detach()) * share
    if scaler is not None:
        scaler.unscale_(opt)
    torch.nn.utils.clip_grad_norm_(trainable, 1.0)
    if scaler is not None:
        scaler.step(opt)
        scaler.update()
    else:
        opt.step()
    return total


def _eta(wall: float, step: int, cfg: TrainConfig, budget_s: float) -> str:
    if step < 3:
        return ""
    left = wall / step * (cfg.max_steps - step)
    if budget_s:
        left = min(left, max(0.0, budget_s - wall))
    return f" - about {_words(left)} left"


def _words(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    return f"{round(seconds / 60)} min"


def _preview(task: Task, state: dict[str, Any], step: int, run: Path, ctx: Context) -> None:
    folder = run / PREVIEW_DIR / _ckpt_name(step)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        files = task.preview(state, step, folder)
    except (GenStudioError, OSError) as e:  # a preview never stops training
        log.warning("preview at step %d failed: %s", step, e)
        return
    append_log(run, event="preview", step=step, files=[f["path"] for f in files])
    ctx.event("preview", step=step, files=files)


def export_atomically(
    task: Task,
    state: dict[str, Any],
    out: Path,
    provenance: dict[str, Any],
    run: Path,
    *,
    adapter: dict[str, Any] | None = None,
    lora_meta: dict[str, Any] | None = None,
    fault: Callable[[str, int], None] | None = None,
) -> Path:
    """Write the pack into ``.<name>.partial`` beside ``out`` and rename it into place; an
    existing pack at ``out`` is kept as ``.<name>.previous`` until the new one is in place."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    if adapter is not None:  # the LoRA adapter alone, listed by the task's pack writer
        from genstudio.ml import common

        common.save_checkpoint(tmp / "adapter.safetensors", adapter, lora_meta or {})
    task.export(state, tmp, provenance)
    if fault:
        fault("export", int(provenance.get("steps", 0)))
    old = out.with_name(f".{out.name}.previous")
    if out.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(out, old)
    os.replace(tmp, out)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)
    return out


class ConsoleContext:
    """A :class:`Context` for the CLI and scripts: progress to a callback, cancel by flag."""

    def __init__(self, on_event: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.cancelled = False
        self.on_event = on_event

    def check_cancel(self) -> None:
        if self.cancelled:
            raise Cancelled()

    def progress(self, fraction: float, message: str = "", preview: bytes | None = None) -> None:
        if self.on_event:
            self.on_event("progress", {"fraction": fraction, "message": message})

    def event(self, name: str, **data: Any) -> None:
        if self.on_event:
            self.on_event(name, data)
