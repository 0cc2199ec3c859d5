"""One training loop for every model of the project.

Each system (the chord transformer, the GRU regressor, later diffusion U-Nets and codec models)
brings its model, its items, a ``collate`` and a ``loss_fn``; :class:`Trainer` does the rest the
same way for all of them: AdamW with linear warm-up then cosine decay, gradient clipping, bf16
autocast on CUDA, DistributedDataParallel under ``torchrun``, and a resume file written after
every epoch, so that a run interrupted and resumed ends with the very weights of one never stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import random
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from vidscore.errors import UsageError
from vidscore.outputs import claim

T = TypeVar("T")

#: Called after each epoch on the main rank: (name, epochs done, epochs, mean loss of that epoch).
Progress = Callable[[str, int, int, float], None]

DEVICES = ("auto", "cpu", "cuda")
#: Bumped whenever the layout of the resume file changes; older files are then refused.
RESUME_FORMAT = 1
#: Settings that change where a run trains, not what it computes; a resume may change them.
_NOT_FINGERPRINTED = ("device", "amp")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 16
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup: float = 0.05  # share of optimizer steps with linear warm-up, then cosine decay to 0
    grad_clip: float | None = 1.0
    seed: int = 0
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    amp: bool = True  # bf16 autocast when the device is CUDA; ignored on CPU

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"TrainConfig.epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"TrainConfig.batch_size must be at least 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"TrainConfig.lr must be positive, got {self.lr}")
        if not self.weight_decay >= 0:
            raise ValueError(f"TrainConfig.weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 <= self.warmup < 1:
            raise ValueError(f"TrainConfig.warmup must be in [0, 1), got {self.warmup}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(
                f"TrainConfig.grad_clip must be positive (None turns clipping off), "
                f"got {self.grad_clip}"
            )
        if self.device not in DEVICES:
            raise ValueError(
                f"TrainConfig.device must be one of {', '.join(DEVICES)}, got {self.device!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when there is a CUDA device, else the CPU; ``cuda`` without one is an
    error the user can fix."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device here")
        return torch.device("cuda")
    if name == "cpu":
        return torch.device("cpu")
    raise UsageError(f"--device {name!r}: choose one of {', '.join(DEVICES)}")


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def claim_main(paths: Sequence[str | os.PathLike]) -> contextlib.AbstractContextManager:
    """:func:`~vidscore.outputs.claim` the outputs on the main process of a ``torchrun`` group
    (``RANK`` 0, or a plain run); the other ranks write nothing, so they claim nothing."""
    return claim(paths) if _env_int("RANK", 0) == 0 else contextlib.nullcontext()


def init_distributed(device: torch.device) -> World:
    """Join the process group ``torchrun`` describes in the environment (``WORLD_SIZE``, ``RANK``,
    ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``): NCCL on CUDA, Gloo on the CPU. A group
    that already exists is reused. A single process joins nothing and is ``World(0, 1, 0)``."""
    size = _env_int("WORLD_SIZE", 1)
    if size <= 1:
        return World()
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", rank)
    if not dist.is_available():
        raise UsageError(f"WORLD_SIZE={size}: this torch build has no torch.distributed")
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return World(rank=dist.get_rank(), size=dist.get_world_size(), local_rank=local_rank)


def leave_distributed() -> None:
    """Wait for every process, then tear the process group down: a process that exits while
    another still talks to it makes Gloo abort. Call once at the end of a multi-process run, on
    every process; a single process has nothing to leave."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _env_int(key: str, default: int) -> int:
    value = os.environ.get(key, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"{key}={value!r} in the environment is not an integer") from None


def warmup_cosine(total_steps: int, warmup: float) -> Callable[[int], float]:
    """The learning-rate factor after ``step`` optimizer steps: a linear rise over the first
    ``max(1, int(warmup * total_steps))`` steps, then half a cosine down to 0 at ``total_steps``."""
    warm = max(1, int(warmup * total_steps))
    decay = max(1, total_steps - warm)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        done = min(1.0, (step - warm) / decay)
        return 0.5 * (1.0 + math.cos(math.pi * done))

    return factor


@dataclass
class _Run:
    """Everything one call of :meth:`Trainer.fit` changes as it trains, and saves to resume."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    order_rng: random.Random  # the epochs' permutations: same on every rank
    collate_rng: random.Random  # what collate draws from: one stream per rank
    fingerprint: str
    epoch: int = 0  # epochs done


class Trainer:
    """Trains any model on any items with one loop (see the module docstring)."""

    def __init__(
        self,
        cfg: TrainConfig,
        *,
        state_dir: str | os.PathLike[str] | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.cfg = cfg
        self.state_dir = Path(state_dir) if state_dir is not None else None
        self.progress = progress
        device = resolve_device(cfg.device)
        self.world = init_distributed(device)
        if device.type == "cuda" and self.world.size > 1:
            device = torch.device("cuda", self.world.local_rank)
        self.device = device

    def state_path(self, name: str) -> Path | None:
        """Where :meth:`fit` keeps the resume state of the model called ``name``."""
        return self.state_dir / f"{name}.resume.pt" if self.state_dir is not None else None

    def fit(
        self,
        model: nn.Module,
        items: Sequence[T],
        collate: Callable[[list[T], random.Random], Any],
        loss_fn: Callable[[nn.Module, Any], torch.Tensor],
        *,
        name: str,
        lr: float | None = None,
    ) -> nn.Module:
        """Train ``model`` on ``items`` and return it (the plain module, never the DDP wrapper)
        in eval mode on the CPU.

        ``collate(items, rng)`` builds one batch (tensors may sit inside tuples, lists and dicts;
        they are moved to the device) and may draw from ``rng`` for random crops;
        ``loss_fn(model, batch)`` returns the scalar loss. ``lr`` overrides ``cfg.lr``. With a
        ``state_dir``, a finished or interrupted earlier run of the same configuration is picked
        up where it stopped.
        """
        cfg, world = self.cfg, self.world
        if lr is not None and not lr > 0:
            raise ValueError(f"lr must be positive, got {lr}")
        per_rank = len(items) // world.size
        if per_rank == 0:
            raise UsageError(
                f"{name}: {len(items)} training items are too few for {world.size} process(es)"
            )
        steps_per_epoch = math.ceil(per_rank / cfg.batch_size)
        base_lr = cfg.lr if lr is None else lr

        torch.manual_seed(cfg.seed)
        order_rng = random.Random(cfg.seed)
        collate_rng = random.Random(f"collate:{cfg.seed}:{world.rank}")
        model.to(self.device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=base_lr, weight_decay=cfg.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, warmup_cosine(cfg.epochs * steps_per_epoch, cfg.warmup)
        )
        run = _Run(
            model=model,
            optimizer=optimizer,
            scheduler=scheduler,
            order_rng=order_rng,
            collate_rng=collate_rng,
            fingerprint=self._fingerprint(model, base_lr, len(items)),
        )
        path = self.state_path(name)
        if path is not None and path.exists():
            self._restore(run, path)

        if run.epoch < cfg.epochs:
            self._train(run, items, collate, loss_fn, name=name, per_rank=per_rank)
        return model.to("cpu").eval()

    # -- the loop ---------------------------------------------------------------------------------

    def _train(
        self,
        run: _Run,
        items: Sequence[T],
        collate: Callable[[list[T], random.Random], Any],
        loss_fn: Callable[[nn.Module, Any], torch.Tensor],
        *,
        name: str,
        per_rank: int,
    ) -> None:
        cfg, world = self.cfg, self.world
        net: nn.Module = run.model
        if world.size > 1:
            device_ids = [world.local_rank] if self.device.type == "cuda" else None
            net = nn.parallel.DistributedDataParallel(run.model, device_ids=device_ids)
        run.model.train()
        path = self.state_path(name)
        while run.epoch < cfg.epochs:
            order = list(range(len(items)))
            run.order_rng.shuffle(order)
            shard = order[world.rank :: world.size][:per_rank]
            loss_sum = torch.zeros((), device=self.device)
            batches = 0
            for start in range(0, per_rank, cfg.batch_size):
                chunk = [items[i] for i in shard[start : start + cfg.batch_size]]
                batch = _to_device(collate(chunk, run.collate_rng), self.device)
                loss_sum += self._step(run, net, loss_fn, batch)
                batches += 1
            mean_loss = self._mean_across_ranks(loss_sum / batches)
            run.epoch += 1
            if path is not None:
                self._save(run, path)
            if world.is_main and self.progress is not None:
                self.progress(name, run.epoch, cfg.epochs, mean_loss)

    def _step(
        self,
        run: _Run,
        net: nn.Module,
        loss_fn: Callable[[nn.Module, Any], torch.Tensor],
        batch: Any,
    ) -> torch.Tensor:
        """One optimizer step on ``batch``; returns the detached loss."""
        run.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            loss = loss_fn(net, batch)
        loss.backward()
        if self.cfg.grad_clip is not None:
            nn.utils.clip_grad_norm_(run.model.parameters(), self.cfg.grad_clip)
        run.optimizer.step()
        run.scheduler.step()
        return loss.detach().float()

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.device.type == "cuda" and self.cfg.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _mean_across_ranks(self, value: torch.Tensor) -> float:
        if self.world.size > 1:
            value = value.clone()
            dist.all_reduce(value, op=dist.ReduceOp.SUM)
            value /= self.world.size
        return float(value)

    # -- resume state -----------------------------------------------------------------------------

    def _fingerprint(self, model: nn.Module, lr: float, n_items: int) -> str:
        """What must match for a resume file to continue this run: the configuration (less where
        it runs), the learning rate in use, the model's tensors' names and shapes, how many items
        and how many processes (both set the steps per epoch and the shards)."""
        config = {k: v for k, v in self.cfg.to_dict().items() if k not in _NOT_FINGERPRINTED}
        blob = {
            "config": config,
            "lr": lr,
            "tensors": [[key, list(t.shape)] for key, t in model.state_dict().items()],
            "items": n_items,
            "world_size": self.world.size,
        }
        return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()

    def _rng_states(self, run: _Run) -> list[dict[str, Any]]:
        """Every rank's random states (collate stream, torch CPU, CUDA), indexed by rank."""
        mine = {
            "collate_rng": run.collate_rng.getstate(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
        }
        if self.world.size == 1:
            return [mine]
        states: list[Any] = [None] * self.world.size
        dist.all_gather_object(states, mine)
        return states

    def _save(self, run: _Run, path: Path) -> None:
        ranks = self._rng_states(run)  # a collective: every rank takes part
        if self.world.is_main:
            state = {
                "format": RESUME_FORMAT,
                "fingerprint": run.fingerprint,
                "epoch": run.epoch,
                "model": run.model.state_dict(),
                "optimizer": run.optimizer.state_dict(),
                "scheduler": run.scheduler.state_dict(),
                "order_rng": run.order_rng.getstate(),
                "ranks": ranks,
            }
            _atomic_save(state, path)
        if self.world.size > 1:
            cuda = self.device.type == "cuda"
            dist.barrier(device_ids=[self.world.local_rank] if cuda else None)

    def _restore(self, run: _Run, path: Path) -> None:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise UsageError(f"{path}: unreadable resume state ({exc}); remove it") from exc
        if (
            not isinstance(state, dict)
            or state.get("format") != RESUME_FORMAT
            or state.get("fingerprint") != run.fingerprint
        ):
            raise UsageError(
                f"{path} was written by a different training configuration; "
                "remove it or use another --out"
            )
        run.model.load_state_dict(state["model"])
        run.optimizer.load_state_dict(state["optimizer"])
        run.scheduler.load_state_dict(state["scheduler"])
        run.order_rng.setstate(state["order_rng"])
        mine = state["ranks"][self.world.rank]
        run.collate_rng.setstate(mine["collate_rng"])
        torch.set_rng_state(mine["torch"])
        if mine["cuda"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(mine["cuda"], self.device)
        run.epoch = int(state["epoch"])


def _atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename it over ``path``: a reader
    (or a crash) sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _to_device(batch: Any, device: torch.device) -> Any:
    """``batch`` with every tensor in it (through tuples, lists and dicts) moved to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {key: _to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a namedtuple
        return type(batch)(*(_to_device(value, device) for value in batch))
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(value, device) for value in batch)
    return batch
