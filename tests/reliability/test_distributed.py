"""Multi-process training on CPU: 2 gloo processes on 127.0.0.1 against a single-process reference.

One spawn (module fixture) runs every scenario, so the ~10 s process start-up is paid once:
* a DDP step of a float64 DualBranchVEGA on an uneven split of a global batch gives the gradients
  of one process on the whole batch, with the same stochastic anchors drawn on every rank;
* ``shard_encode`` / ``AnchorBank.from_image_folder(distributed=True)`` with the tiny open_clip
  encoder give the single-process bank;
* ``vega_anchors.training.fit`` runs one epoch under DDP (including a batch too small to give every
  rank a dialogue) and lands on the single-process weights.
"""

from __future__ import annotations

import datetime
import json
import os
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from PIL import Image
from reliability_helpers import free_port, grads, make_batch, select_dialogues, tiny_config, tiny_model
from torch.multiprocessing.spawn import ProcessException

from vega_anchors import AnchorBank, DualBranchVEGA, VEGAConfig
from vega_anchors.data import synthetic_dialogues
from vega_anchors.distributed import shard_encode
from vega_anchors.training import TrainConfig, fit

WORLD = 2
LENGTHS = (5, 2, 7, 1, 3)  # rank 0 gets dialogues 0, 2, 4 (15 utterances), rank 1 gets 1, 3 (3)
FIT_DIMS = {"text": 6, "audio": 5, "visual": 4}
TIMEOUT_S = 240


# ---------------------------------------------------------------------------- shared set-ups
def _fit_data() -> Any:
    # 7 training dialogues in batches of 3: the last batch holds one dialogue, so rank 1 has none.
    return synthetic_dialogues("meld", seed=3, modality_dims=FIT_DIMS, num_train=7, num_test=3)


def _fit_model(label_names: tuple[str, ...]) -> DualBranchVEGA:
    cfg = VEGAConfig.meld(
        modalities=FIT_DIMS,
        hidden_dim=8,
        num_heads=2,
        anchor_dim=4,
        max_utterances=64,
        dropout=0.0,
        feature_mask_prob=0.0,
        classifier={"layers": 2, "activation": "gelu", "dropout": 0.0},
        projector={"layers": 2, "activation": "elu", "dropout": 0.0},
        sampler={"p": 0.5, "seed": 11},
    )
    g = torch.Generator().manual_seed(5)
    bank = AnchorBank.from_features({c: torch.randn(3, 4, generator=g) for c in label_names})
    torch.manual_seed(0)
    return DualBranchVEGA(cfg, bank).double()


def _fit_config(workdir: Path | None) -> TrainConfig:
    return TrainConfig(
        epochs=1,
        batch_size=3,
        lr=1e-2,
        progress=False,
        patience=None,
        ema_decay=0.5,  # the weight average is copied before DDP wraps the model, and identical on every rank
        checkpoint_dir=str(workdir / "ckpt") if workdir else None,
        log_path=str(workdir / "log.json") if workdir else None,
    )


def _make_faces(root: Path) -> None:
    rng = np.random.default_rng(0)
    for folder, count in {"anger": 3, "happy": 2, "sad": 4}.items():
        (root / folder).mkdir(parents=True)
        for i in range(count):
            pixels = rng.integers(0, 256, (36, 44, 3), dtype=np.uint8)
            Image.fromarray(pixels, mode="RGB").save(root / folder / f"img{i}.png")


# ---------------------------------------------------------------------------- scenarios (in workers)
def _ddp_step(rank: int) -> dict[str, Any]:
    cfg = tiny_config(deterministic=True, sampler={"p": 1.0, "seed": 7})
    inputs, labels = make_batch(cfg, LENGTHS, seed=1, dtype=torch.float64, unlabelled=0.2)
    reference = tiny_model(cfg).double().train()
    model = tiny_model(cfg).double().train()
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    drawn: list[torch.Tensor] = []
    ref_drawn: list[torch.Tensor] = []
    model.sampler.register_forward_hook(lambda _m, _a, out: drawn.append(out.detach().clone()))
    reference.sampler.register_forward_hook(lambda _m, _a, out: ref_drawn.append(out.detach().clone()))
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.5)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    mine = select_dialogues(inputs, labels, list(range(len(LENGTHS)))[rank::WORLD])
    steps = []
    for _ in range(2):  # two steps: the second uses the updated weights and the sampler's next draw
        ref_opt.zero_grad()
        ref_loss = reference.compute_loss(reference(**inputs), labels, inputs["utterance_mask"], across_ranks=False)
        ref_loss.total.backward()
        opt.zero_grad()
        loss = model.compute_loss(ddp(**mine[0]), mine[1], mine[0]["utterance_mask"])
        loss.total.backward()
        global_loss = loss.total.detach().clone()
        dist.all_reduce(global_loss)
        anchors = [torch.empty_like(drawn[-1]) for _ in range(WORLD)]
        dist.all_gather(anchors, drawn[-1])
        steps.append(
            {
                "ref_total": ref_loss.total.detach(),
                "global_total": global_loss / WORLD,
                "ref_grads": grads(reference),
                "grads": grads(model),
                "anchors": torch.stack(anchors),
                "ref_anchors": ref_drawn[-1],
                "utterances": int(mine[0]["utterance_mask"].sum()),
            }
        )
        ref_opt.step()
        opt.step()
    return {"steps": steps, "bank_exemplars": model.bank.exemplars.clone()}


def _anchor_bank(rank: int, root: Path, clip_config: Path) -> dict[str, Any]:
    import open_clip

    from vega_anchors.encoders import OpenCLIPImageEncoder

    open_clip.add_model_config(clip_config)
    torch.manual_seed(0)
    encoder = OpenCLIPImageEncoder(clip_config.stem, device="cpu", batch_size=4, progress=False)
    single = AnchorBank.from_image_folder(root, encoder)  # every rank encodes every image
    sharded = AnchorBank.from_image_folder(root, encoder, distributed=True)
    out: dict[str, Any] = {
        "single": {k: v.clone() for k, v in single.state_dict().items()},
        "sharded": {k: v.clone() for k, v in sharded.state_dict().items()},
        "class_names": sharded.class_names,
    }
    # fewer images than ranks: rank 1 has nothing to encode and must not call the encoder
    calls: list[int] = []

    def counting(images: list[Any]) -> torch.Tensor:
        calls.append(len(images))
        return torch.arange(len(images) * 2, dtype=torch.float64).reshape(-1, 2) + 10 * rank

    out["one_image"] = shard_encode(counting, ["only.png"])
    out["one_image_calls"] = calls
    # an encoder failing on one rank fails every rank (nobody waits forever)
    try:
        shard_encode(lambda ims: torch.zeros(len(ims) + rank, 2), ["a.png", "b.png", "c.png"])
        out["failure"] = ""
    except ValueError as err:
        out["failure"] = str(err)
    try:
        shard_encode(lambda ims: torch.zeros(len(ims), 2), [f"rank{rank}.png"])
        out["mismatch"] = ""
    except ValueError as err:
        out["mismatch"] = str(err)
    return out


def _fit(rank: int, workdir: Path) -> dict[str, Any]:
    data = _fit_data()
    model = _fit_model(data.label_names)
    out_dir = workdir / "fit"
    result = fit(model, data.train, val=data.test, config=_fit_config(out_dir))
    return {
        "history": json.dumps(
            [{k: v for k, v in r.items() if k not in ("seconds", "utterances_per_s")} for r in result.history]
        ),
        "state": {k: v.clone() for k, v in model.state_dict().items() if isinstance(v, torch.Tensor)},
        "files": sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file()),
    }


def _worker(rank: int, workdir: str, port: int, clip_config: str) -> None:
    os.environ["GLOO_SOCKET_IFNAME"] = "lo"  # loopback only
    torch.set_num_threads(1)
    root = Path(workdir)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=WORLD,
        timeout=datetime.timedelta(seconds=30),
    )
    results: dict[str, Any] = {}
    try:
        for name, run in {
            "ddp_step": lambda: _ddp_step(rank),
            "anchor_bank": lambda: _anchor_bank(rank, root / "faces", Path(clip_config)),
            "fit": lambda: _fit(rank, root),
        }.items():
            try:
                results[name] = run()
            except Exception:
                # the other rank may now wait in a collective: save what we know and stop the group
                results[name] = {"error": traceback.format_exc()}
                raise
            finally:
                torch.save(results, root / f"rank{rank}.pt")
            dist.barrier()
    finally:
        dist.destroy_process_group()


# ---------------------------------------------------------------------------- the spawn
@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory, tiny_clip_model_name: str) -> list[dict[str, Any]]:
    from clip_helpers import TINY_CLIP_CONFIG

    workdir = tmp_path_factory.mktemp("ddp")
    _make_faces(workdir / "faces")
    clip_config = workdir / f"{tiny_clip_model_name}.json"
    clip_config.write_text(json.dumps(TINY_CLIP_CONFIG))
    context = mp.start_processes(
        _worker,
        args=(str(workdir), free_port(), str(clip_config)),
        nprocs=WORLD,
        join=False,
        start_method="spawn",
    )
    deadline = time.monotonic() + TIMEOUT_S
    failure = ""
    try:
        while not context.join(timeout=1):
            if time.monotonic() > deadline:
                failure = f"the {WORLD} processes did not finish in {TIMEOUT_S} s"
                break
    except ProcessException as err:  # one rank raised: its saved traceback is reported per test
        failure = str(err)
    finally:
        for process in context.processes:
            if process.is_alive():
                process.kill()
    results = []
    for r in range(WORLD):
        path = workdir / f"rank{r}.pt"
        results.append(torch.load(path, weights_only=True) if path.exists() else {})
        results[-1]["_failure"] = failure
    return results


def _scenario(ranks: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    for rank, result in enumerate(ranks):
        assert name in result, f"rank {rank} stopped before {name!r}: {result['_failure']}"
        assert "error" not in result[name], f"rank {rank} failed in {name}:\n{result[name]['error']}"
    return [r[name] for r in ranks]


# ---------------------------------------------------------------------------- the tests
def test_ddp_step_on_uneven_split_matches_single_process(ranks: list[dict[str, Any]]) -> None:
    results = _scenario(ranks, "ddp_step")
    assert [results[r]["steps"][0]["utterances"] for r in range(WORLD)] == [15, 3]  # uneven on purpose
    for step in range(2):
        per_rank = [r["steps"][step] for r in results]
        for rank, s in enumerate(per_rank):
            # the same stochastic anchors on every rank, and the same as the single-process run's
            gathered = s["anchors"]
            assert torch.equal(gathered[0], gathered[1]), (step, rank)
            assert torch.equal(gathered[0], s["ref_anchors"]), (step, rank)
            ref_anchors = results[rank]["bank_exemplars"]  # all drawn anchors are exemplars (p=1)
            assert all(any(torch.equal(gathered[0][c], e) for e in ref_anchors[c]) for c in range(gathered.shape[1]))
            torch.testing.assert_close(s["global_total"], s["ref_total"], rtol=0, atol=1e-12)
            assert s["grads"].keys() == s["ref_grads"].keys()
            for name, g in s["grads"].items():
                assert g.dtype == torch.float64
                torch.testing.assert_close(g, s["ref_grads"][name], rtol=0, atol=1e-6, msg=f"{name} step {step}")
            assert any(g.abs().max() > 1e-4 for g in s["grads"].values())  # the comparison is not vacuous
        for name, g in per_rank[0]["grads"].items():  # DDP leaves identical gradients on every rank
            assert torch.equal(g, per_rank[1]["grads"][name]), name


def test_sharded_anchor_encoding_equals_single_process_bank(
    ranks: list[dict[str, Any]], tmp_path: Path, tiny_clip_encoder: Any
) -> None:
    results = _scenario(ranks, "anchor_bank")
    for result in results:
        assert result["class_names"] == ["anger", "happy", "sad"]
        for key, single in result["single"].items():
            torch.testing.assert_close(result["sharded"][key], single, rtol=0, atol=1e-6, msg=key)
        assert result["sharded"]["counts"].tolist() == [3, 2, 4]
    for key, value in results[0]["sharded"].items():  # every rank holds the same bank
        assert torch.equal(value, results[1]["sharded"][key]), key
    # ...which is the bank a plain single process builds
    _make_faces(tmp_path / "faces")
    local = AnchorBank.from_image_folder(tmp_path / "faces", tiny_clip_encoder, distributed=True)
    torch.testing.assert_close(results[0]["sharded"]["exemplars"], local.exemplars, rtol=0, atol=1e-5)


def test_shard_encode_edge_cases_fail_on_every_rank(ranks: list[dict[str, Any]]) -> None:
    results = _scenario(ranks, "anchor_bank")
    for result in results:
        # rank 0 encodes the only image, rank 1 never calls the encoder; both get rank 0's features
        assert torch.equal(result["one_image"], torch.tensor([[0.0, 1.0]], dtype=torch.float64))
        assert "failed on rank 1" in result["failure"] and "for 1 images" in result["failure"]
        assert "different image lists" in result["mismatch"]
    assert results[0]["one_image_calls"] == [1] and results[1]["one_image_calls"] == []


def test_shard_encode_is_identity_without_process_group() -> None:
    images = ["a", "b", "c"]
    out = shard_encode(lambda ims: torch.tensor([[float(len(s))] for s in ims]), images)
    assert out.tolist() == [[1.0], [1.0], [1.0]]


def test_fit_under_two_processes_matches_single_process(ranks: list[dict[str, Any]], tmp_path: Path) -> None:
    results = _scenario(ranks, "fit")
    assert results[0]["history"] == results[1]["history"]
    assert results[0]["files"] == ["ckpt/best.pt", "ckpt/last.pt", "log.json"]  # written by rank 0, no temp files
    for key, value in results[0]["state"].items():
        assert torch.equal(value, results[1]["state"][key]), key
    data = _fit_data()
    model = _fit_model(data.label_names)
    single = fit(model, data.train, val=data.test, config=_fit_config(None))
    (logged,) = json.loads(results[0]["history"])  # the epoch's loss is the global batch's, as in one process
    for name, value in single.history[0]["train_loss"].items():
        assert logged["train_loss"][name] == pytest.approx(value, rel=1e-9), name
    assert logged["validation_weighted_f1"] == single.history[0]["validation_weighted_f1"]
    for key, value in model.state_dict().items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            torch.testing.assert_close(results[0]["state"][key], value, rtol=0, atol=1e-9, msg=key)
