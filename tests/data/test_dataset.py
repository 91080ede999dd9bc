"""Dialogue records, collation, length bucketing and the validation split."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from vega_anchors.data import (
    Dialogue,
    DialogueBatch,
    DialogueDataset,
    LengthBucketBatchSampler,
    collate_dialogues,
    split_validation,
)


def make_dialogue(i: int, length: int, dims: dict[str, int] | None = None, num_speakers: int = 2) -> Dialogue:
    dims = dims or {"text": 4, "audio": 3, "visual": 2}
    g = torch.Generator().manual_seed(i)
    return Dialogue(
        id=f"d{i}",
        features={name: torch.randn(length, dim, generator=g) + 1.0 for name, dim in dims.items()},
        speakers=torch.arange(length) % num_speakers,
        labels=torch.arange(length) % 5,
    )


def test_dialogue_length_and_conversions() -> None:
    given = {"text": np.ones((3, 2), dtype=np.float64)}
    d = Dialogue(
        id="x",
        features=given,
        speakers=np.array([0, 1, 0], dtype=np.int32),
        labels=[1, -1, 2],
    )
    assert d.length == 3
    assert d.features["text"].dtype == torch.float32
    assert d.speakers.dtype == torch.long and d.labels.dtype == torch.long
    assert d.labels.tolist() == [1, -1, 2]
    assert d.modality_dims == {"text": 2}
    assert isinstance(given["text"], np.ndarray)  # the caller's dict is left alone


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"features": {"text": torch.zeros(3, 2), "audio": torch.zeros(4, 2)}}, "audio features have 4 rows"),
        ({"features": {"text": torch.zeros(3)}}, "text features must be 2-D"),
        ({"labels": torch.zeros(2, dtype=torch.long)}, "labels have shape (2,)"),
        ({"speakers": torch.zeros(3, 1, dtype=torch.long)}, "speakers must be 1-D"),
        ({"features": {}}, "has no modalities"),
        ({"labels": torch.zeros(3)}, "labels must hold integers"),
    ],
)
def test_dialogue_validation_names_dialogue_and_modality(kwargs: dict, message: str) -> None:
    base = {
        "id": "dlg7",
        "features": {"text": torch.zeros(3, 2)},
        "speakers": torch.zeros(3, dtype=torch.long),
        "labels": torch.zeros(3, dtype=torch.long),
    }
    base.update(kwargs)
    with pytest.raises((ValueError, TypeError)) as info:
        Dialogue(**base)
    assert "dlg7" in str(info.value)
    assert message in str(info.value)


def test_collate_shapes_padding_and_masks() -> None:
    items = [make_dialogue(0, 3), make_dialogue(1, 5), make_dialogue(2, 1)]
    items[0].labels[1] = -1
    batch = collate_dialogues(items)
    assert isinstance(batch, DialogueBatch)
    assert batch.features["text"].shape == (3, 5, 4)
    assert batch.features["audio"].shape == (3, 5, 3)
    assert batch.features["visual"].shape == (3, 5, 2)
    assert batch.lengths.tolist() == [3, 5, 1]
    assert batch.utterance_mask.dtype == torch.bool
    assert batch.utterance_mask.tolist() == [
        [True, True, True, False, False],
        [True, True, True, True, True],
        [True, False, False, False, False],
    ]
    assert batch.dialogue_ids == ["d0", "d1", "d2"]
    assert batch.num_utterances == 9
    assert batch.batch_size == 3
    for b, item in enumerate(items):
        n = item.length
        for name in ("text", "audio", "visual"):
            torch.testing.assert_close(batch.features[name][b, :n], item.features[name])
            assert torch.all(batch.features[name][b, n:] == 0)
        assert batch.speakers[b, :n].tolist() == item.speakers.tolist()
        assert torch.all(batch.speakers[b, n:] == 0)
        assert batch.labels[b, :n].tolist() == item.labels.tolist()
        assert torch.all(batch.labels[b, n:] == -1)
    assert batch.labels[0, 1] == -1  # an unlabelled utterance stays -1


def test_collate_rejects_mismatched_modalities() -> None:
    a = make_dialogue(0, 2)
    b = make_dialogue(1, 2, dims={"text": 4, "audio": 9, "visual": 2})
    with pytest.raises(ValueError, match="cannot batch dialogue 'd1'"):
        collate_dialogues([a, b])
    with pytest.raises(ValueError, match="empty"):
        collate_dialogues([])


def test_batch_to_model_inputs_and_dataloader() -> None:
    dims = {"t": 2, "v": 3}  # any modality names work
    dataset = DialogueDataset([make_dialogue(i, 2 + i, dims=dims) for i in range(5)])
    assert dataset.lengths == [2, 3, 4, 5, 6]
    assert dataset.modality_dims == dims
    loader = DataLoader(dataset, batch_size=2, collate_fn=collate_dialogues)
    batches = list(loader)
    assert [b.batch_size for b in batches] == [2, 2, 1]
    batch = batches[0].to("cpu")
    inputs = batch.model_inputs()
    assert set(inputs) == {"t", "v", "utterance_mask", "speakers"}
    assert inputs["t"].shape == (2, 3, 2)

    def model(t: torch.Tensor, v: torch.Tensor, utterance_mask: torch.Tensor, speakers: torch.Tensor):
        return (t.sum(-1) + v.sum(-1)) * utterance_mask

    assert model(**inputs).shape == (2, 3)


def test_dataset_rejects_inconsistent_dims() -> None:
    with pytest.raises(ValueError, match="all dialogues must agree"):
        DialogueDataset([make_dialogue(0, 2), make_dialogue(1, 2, dims={"text": 1})])


def _padding(batches: list[list[int]], lengths: list[int]) -> int:
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("batch_size", [1, 4, 7])
def test_bucket_sampler_covers_every_index_once(shuffle: bool, batch_size: int) -> None:
    lengths = np.random.default_rng(0).integers(1, 100, size=103).tolist()
    sampler = LengthBucketBatchSampler(lengths, batch_size, shuffle=shuffle, bucket_size_multiplier=5)
    batches = list(sampler)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(103))
    assert len(batches) == len(sampler) == -(-103 // batch_size)
    assert all(len(b) == batch_size for b in batches if len(b) != 103 % batch_size)


def test_bucket_sampler_drop_last() -> None:
    sampler = LengthBucketBatchSampler(list(range(1, 11)), 3, drop_last=True)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 3
    assert all(len(b) == 3 for b in batches)
    assert len({i for b in batches for i in b}) == 9


def test_bucket_sampler_deterministic_per_seed_and_epoch() -> None:
    lengths = np.random.default_rng(1).integers(1, 60, size=200).tolist()
    a = LengthBucketBatchSampler(lengths, 8, seed=3)
    b = LengthBucketBatchSampler(lengths, 8, seed=3)
    assert list(a) == list(b)
    assert list(a) == list(a)  # same epoch → same order
    first = list(a)
    a.set_epoch(1)
    b.set_epoch(1)
    assert list(a) == list(b) != first
    c = LengthBucketBatchSampler(lengths, 8, seed=4)
    assert list(c) != first


def test_bucket_sampler_reduces_padding() -> None:
    lengths = np.random.default_rng(2).integers(1, 110, size=500).tolist()
    bucketed = _padding(list(LengthBucketBatchSampler(lengths, 9, seed=0)), lengths)
    perm = np.random.default_rng(0).permutation(500)
    random_batches = [perm[i : i + 9].tolist() for i in range(0, 500, 9)]
    random_pad = _padding(random_batches, lengths)
    assert bucketed < 0.2 * random_pad
    sorted_pad = _padding(list(LengthBucketBatchSampler(lengths, 9, shuffle=False)), lengths)
    assert sorted_pad <= bucketed


def test_bucket_sampler_in_dataloader() -> None:
    dataset = DialogueDataset([make_dialogue(i, 1 + (i * 7) % 13) for i in range(20)])
    sampler = LengthBucketBatchSampler(dataset.lengths, 4, seed=0)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_dialogues)
    ids = [i for batch in loader for i in batch.dialogue_ids]
    assert sorted(ids) == sorted(f"d{i}" for i in range(20))


def test_bucket_sampler_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        LengthBucketBatchSampler([1, 2], 0)
    with pytest.raises(ValueError, match="bucket_size_multiplier"):
        LengthBucketBatchSampler([1, 2], 1, bucket_size_multiplier=0)


def test_split_validation_disjoint_deterministic_and_ordered() -> None:
    dialogues = [make_dialogue(i, 2) for i in range(50)]
    train, val = split_validation(dialogues, 0.2, seed=5)
    assert len(val) == 10 and len(train) == 40
    train_ids, val_ids = [d.id for d in train], [d.id for d in val]
    assert not set(train_ids) & set(val_ids)
    assert set(train_ids) | set(val_ids) == {d.id for d in dialogues}
    order = [d.id for d in dialogues]
    assert train_ids == [i for i in order if i in set(train_ids)]
    again_train, again_val = split_validation(dialogues, 0.2, seed=5)
    assert [d.id for d in again_val] == val_ids
    assert [d.id for d in again_train] == train_ids
    _, other_val = split_validation(dialogues, 0.2, seed=6)
    assert [d.id for d in other_val] != val_ids


def test_split_validation_edge_cases() -> None:
    dialogues = [make_dialogue(i, 2) for i in range(5)]
    train, val = split_validation(dialogues, 0.0)
    assert len(train) == 5 and val == []
    train, val = split_validation(dialogues, 0.01)
    assert len(val) == 1  # at least one dialogue when fraction > 0
    with pytest.raises(ValueError, match="fraction"):
        split_validation(dialogues, 1.0)
