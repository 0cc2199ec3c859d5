"""The shared training loop on a tiny regression task: it learns, it is reproducible, a run
stopped with Ctrl-C and resumed ends bit-identical, and two Gloo processes stay in sync."""

from __future__ import annotations

import multiprocessing
import os
import random
import socket
import traceback
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook

from vidscore.errors import UsageError
from vidscore.modules.trainer import (
    TrainConfig,
    Trainer,
    World,
    init_distributed,
    leave_distributed,
    resolve_device,
    warmup_cosine,
)

WEIGHTS = np.array([1.5, -2.0, 0.5, 1.0], dtype=np.float32)
BIAS = 0.3
CFG = TrainConfig(epochs=4, batch_size=16, lr=1e-2, warmup=0.1, seed=0, device="cpu")


def make_items(n: int, seed: int) -> list[tuple[np.ndarray, np.float32]]:
    """``n`` pairs (x, y) with y a fixed linear function of x plus a little noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(WEIGHTS))).astype(np.float32)
    y = (x @ WEIGHTS + BIAS + 0.01 * rng.normal(size=n)).astype(np.float32)
    return list(zip(x, y, strict=True))


ITEMS = make_items(192, seed=1)


def make_model(seed: int = 0) -> nn.Module:
    """Built after seeding, as callers do; the dropout makes training draw from torch's RNG."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 1))


def collate(chunk: list[tuple[np.ndarray, np.float32]], rng: random.Random) -> dict:
    """A dict batch; the per-batch target jitter draws from ``rng`` as a random crop would."""
    x = torch.from_numpy(np.stack([x for x, _ in chunk]))
    y = torch.tensor([float(y) for _, y in chunk]) + rng.gauss(0.0, 0.01)
    return {"x": x, "y": y}


def loss_fn(model: nn.Module, batch: dict) -> torch.Tensor:
    return F.mse_loss(model(batch["x"]).squeeze(-1), batch["y"])


FRESH = make_items(256, seed=99)


def relative_mse(model: nn.Module, items: list = FRESH) -> float:
    """The model's MSE on ``items`` over that of always predicting their mean (~7.6 here)."""
    x = torch.from_numpy(np.stack([x for x, _ in items]))
    y = torch.tensor([float(y) for _, y in items])
    with torch.no_grad():
        return float(F.mse_loss(model(x).squeeze(-1), y) / y.var(correction=0))


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def train(cfg: TrainConfig = CFG, **kwargs) -> tuple[nn.Module, list[float]]:
    """Train a fresh model, returning it and the epochs' mean losses."""
    losses: list[float] = []
    trainer = Trainer(cfg, progress=lambda name, epoch, epochs, loss: losses.append(loss), **kwargs)
    model = trainer.fit(make_model(), ITEMS, collate, loss_fn, name="tiny")
    return model, losses


# -- configuration and devices ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"epochs": 0},
        {"batch_size": 0},
        {"lr": 0.0},
        {"warmup": 1.0},
        {"warmup": -0.1},
        {"grad_clip": 0.0},
        {"device": "tpu"},
    ],
)
def test_config_rejects_out_of_range_values(bad):
    field = next(iter(bad))
    with pytest.raises(ValueError, match=field):
        TrainConfig(**bad)


def test_config_to_dict():
    assert TrainConfig().to_dict()["epochs"] == 30
    assert CFG.to_dict() == {
        "epochs": 4,
        "batch_size": 16,
        "lr": 1e-2,
        "weight_decay": 0.01,
        "warmup": 0.1,
        "grad_clip": 1.0,
        "seed": 0,
        "device": "cpu",
        "amp": True,
    }


def test_resolve_device_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UsageError, match="no CUDA device"):
        resolve_device("cuda")
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_single_process_world(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    world = init_distributed(torch.device("cpu"))
    assert world == World(0, 1, 0)
    assert world.is_main
    assert not World(rank=1, size=2, local_rank=1).is_main


def test_schedule_warms_up_then_decays_to_zero():
    factor = warmup_cosine(total_steps=100, warmup=0.1)
    assert [factor(s) for s in range(3)] == pytest.approx([0.1, 0.2, 0.3])
    assert factor(9) == pytest.approx(1.0)
    assert factor(10) == pytest.approx(1.0)
    assert factor(55) == pytest.approx(0.5)
    assert 0 < factor(99) < 1e-3
    assert factor(100) == pytest.approx(0.0)
    assert warmup_cosine(total_steps=10, warmup=0.0)(0) == 1.0  # at least one warm-up step


# -- learning and reproducibility ------------------------------------------------------------------


def test_learns_the_task_and_returns_an_eval_cpu_model():
    model, losses = train(replace(CFG, epochs=8))
    assert len(losses) == 8
    assert losses[-1] < 0.2 * losses[0], losses
    assert relative_mse(model) < 0.03
    assert not model.training
    assert all(p.device.type == "cpu" for p in model.parameters())


def test_same_seed_same_weights_other_seed_other_weights():
    first, losses = train()
    again, losses_again = train()
    assert_same_weights(first.state_dict(), again.state_dict())
    assert losses == losses_again
    other, _ = train(replace(CFG, seed=1))
    assert not torch.equal(first.state_dict()["0.weight"], other.state_dict()["0.weight"])


def test_lr_argument_overrides_the_config():
    trainer = Trainer(CFG)
    overridden = trainer.fit(make_model(), ITEMS, collate, loss_fn, name="tiny", lr=3e-3)
    configured, _ = train(replace(CFG, lr=3e-3))
    default, _ = train()
    assert_same_weights(overridden.state_dict(), configured.state_dict())
    assert not torch.equal(overridden.state_dict()["0.weight"], default.state_dict()["0.weight"])


def test_batch_of_nested_containers_reaches_loss_fn_whole():
    seen = []

    def nested_collate(chunk, rng):
        plain = collate(chunk, rng)
        return ((plain["x"], [plain["y"]]), {"tag": "kept", "n": len(chunk)})

    def nested_loss(model, batch):
        (x, [y]), meta = batch
        seen.append((meta["tag"], meta["n"], x.shape[0]))
        return F.mse_loss(model(x).squeeze(-1), y)

    Trainer(replace(CFG, epochs=1, batch_size=50)).fit(
        make_model(), ITEMS, nested_collate, nested_loss, name="nested"
    )
    assert seen == [("kept", 50, 50)] * 3 + [("kept", 42, 42)]


def grad_norms_at_steps(cfg: TrainConfig) -> list[float]:
    """The gradient norm each optimizer step of a short run sees."""
    norms: list[float] = []

    def record(optimizer, args, kwargs):
        grads = [p.grad for group in optimizer.param_groups for p in group["params"]]
        norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))

    handle = register_optimizer_step_pre_hook(record)
    try:
        Trainer(cfg).fit(make_model(), ITEMS, collate, loss_fn, name="tiny")
    finally:
        handle.remove()
    return norms


def test_gradients_are_clipped():
    unclipped = grad_norms_at_steps(replace(CFG, epochs=1, grad_clip=None))
    assert len(unclipped) == len(ITEMS) // CFG.batch_size
    assert max(unclipped) > 1.0
    clipped = grad_norms_at_steps(replace(CFG, epochs=1, grad_clip=0.5))
    assert max(clipped) <= 0.5 + 1e-5


# -- resuming --------------------------------------------------------------------------------------


class Stop(KeyboardInterrupt):
    """The user's Ctrl-C, arriving once epoch 2 is done."""


def test_interrupted_run_resumes_bit_identical(tmp_path):
    uninterrupted, all_losses = train()

    def ctrl_c_after_two(name, epoch, epochs, loss):
        if epoch == 2:
            raise Stop

    with pytest.raises(Stop):
        Trainer(CFG, state_dir=tmp_path, progress=ctrl_c_after_two).fit(
            make_model(), ITEMS, collate, loss_fn, name="tiny"
        )
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.resume.pt"]  # no temp file left over
    assert torch.load(tmp_path / "tiny.resume.pt", weights_only=True)["epoch"] == 2

    reported = []
    resumed = Trainer(CFG, state_dir=tmp_path, progress=lambda *a: reported.append(a)).fit(
        make_model(), ITEMS, collate, loss_fn, name="tiny"
    )
    assert [(name, epoch, epochs) for name, epoch, epochs, _ in reported] == [
        ("tiny", 3, 4),
        ("tiny", 4, 4),
    ]
    assert [loss for *_, loss in reported] == all_losses[2:]
    assert_same_weights(resumed.state_dict(), uninterrupted.state_dict())
    assert not resumed.training

    def must_not_train(*args):
        raise AssertionError(f"a finished run trained again: {args}")

    finished = Trainer(CFG, state_dir=tmp_path, progress=must_not_train).fit(
        make_model(seed=5), ITEMS, collate, loss_fn, name="tiny"
    )
    assert_same_weights(finished.state_dict(), uninterrupted.state_dict())
    assert all(p.device.type == "cpu" for p in finished.parameters())
    assert not finished.training


def test_state_from_another_configuration_is_refused(tmp_path):
    Trainer(replace(CFG, epochs=1), state_dir=tmp_path).fit(
        make_model(), ITEMS, collate, loss_fn, name="tiny"
    )
    refused = "different training configuration; remove it or use another --out"
    other_lr = Trainer(replace(CFG, epochs=1, lr=2e-2), state_dir=tmp_path)
    with pytest.raises(UsageError, match=refused):
        other_lr.fit(make_model(), ITEMS, collate, loss_fn, name="tiny")
    with pytest.raises(UsageError, match=refused):
        Trainer(replace(CFG, epochs=1), state_dir=tmp_path).fit(
            make_model(), ITEMS, collate, loss_fn, name="tiny", lr=2e-2
        )
    wider = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    with pytest.raises(UsageError, match=refused):
        Trainer(replace(CFG, epochs=1), state_dir=tmp_path).fit(
            wider, ITEMS, collate, loss_fn, name="tiny"
        )
    # where it runs is not part of the configuration
    Trainer(replace(CFG, epochs=1, amp=False), state_dir=tmp_path).fit(
        make_model(), ITEMS, collate, loss_fn, name="tiny"
    )


def test_unreadable_state_is_a_usage_error(tmp_path):
    (tmp_path / "tiny.resume.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UsageError, match="unreadable resume state"):
        Trainer(CFG, state_dir=tmp_path).fit(make_model(), ITEMS, collate, loss_fn, name="tiny")


# -- two processes ---------------------------------------------------------------------------------


DDP_EPOCHS = 16
DDP_BATCHES = len(ITEMS) // 2 // CFG.batch_size  # per rank and epoch


def _ddp_worker(rank: int, port: int, out_dir: str) -> None:
    """One of two Gloo ranks: train the tiny model; save its weights, the losses reported, and
    which items and batch losses this rank saw."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE="2",
        RANK=str(rank),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    out = Path(out_dir)
    reported: list[float] = []
    seen: list[list[float]] = []  # per batch, each item's x[0] (unique here)
    batch_losses: list[float] = []

    def recording_collate(chunk, rng):
        seen.append([float(x[0]) for x, _ in chunk])
        return collate(chunk, rng)

    def recording_loss(model, batch):
        assert isinstance(model, nn.parallel.DistributedDataParallel)
        loss = loss_fn(model, batch)
        batch_losses.append(float(loss))
        return loss

    try:
        trainer = Trainer(
            replace(CFG, epochs=DDP_EPOCHS),
            state_dir=out / "state",
            progress=lambda name, epoch, epochs, loss: reported.append(loss),
        )
        assert trainer.world == World(rank=rank, size=2, local_rank=rank)
        model = trainer.fit(make_model(), ITEMS, recording_collate, recording_loss, name="ddp")
        assert type(model) is nn.Sequential
        torch.save(model.state_dict(), out / f"rank{rank}.pt")
        torch.save(
            {"reported": reported, "seen": seen, "batch_losses": batch_losses},
            out / f"log{rank}.pt",
        )
    except BaseException:
        traceback.print_exc()
        raise
    finally:
        leave_distributed()  # both ranks leave together (Gloo aborts a rank left talking)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_stay_in_sync_and_learn(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    port = _free_port()
    procs = [ctx.Process(target=_ddp_worker, args=(r, port, str(tmp_path))) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join()
    assert [p.exitcode for p in procs] == [0, 0]

    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert_same_weights(rank0, rank1)
    initial = make_model().state_dict()
    assert all(not torch.equal(rank0[key], initial[key]) for key in initial)

    model = make_model()
    model.load_state_dict(rank0)
    assert relative_mse(model.eval()) < 0.03
    assert relative_mse(make_model().eval()) > 0.5  # the check can fail: untrained, it does

    logs = [torch.load(tmp_path / f"log{r}.pt", weights_only=True) for r in range(2)]
    reported = logs[0]["reported"]
    assert len(reported) == DDP_EPOCHS and reported[-1] < 0.2 * reported[0], reported
    assert logs[1]["reported"] == []  # progress runs on the main rank only
    every_item = {float(x[0]) for x, _ in ITEMS}
    for epoch in range(DDP_EPOCHS):
        span = slice(epoch * DDP_BATCHES, (epoch + 1) * DDP_BATCHES)
        shards = [{key for batch in log["seen"][span] for key in batch} for log in logs]
        assert len(shards[0]) == len(shards[1]) == len(ITEMS) // 2
        assert shards[0] | shards[1] == every_item  # each epoch splits all items between ranks
        rank_means = [np.mean(log["batch_losses"][span]) for log in logs]
        assert reported[epoch] == pytest.approx(np.mean(rank_means), rel=1e-5)
    assert logs[0]["seen"][:DDP_BATCHES] != logs[0]["seen"][DDP_BATCHES : 2 * DDP_BATCHES]

    state = torch.load(tmp_path / "state" / "ddp.resume.pt", weights_only=True)
    assert state["epoch"] == DDP_EPOCHS
    assert len(state["ranks"]) == 2
