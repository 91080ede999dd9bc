"""The driver: features per table row, cache hits decode nothing, a crash resumes identically, masking counted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import vega_anchors.media.decode as decode_module
from vega_anchors.data import SpeakerMap, build_feature_set
from vega_anchors.media import (
    ClipFaceExtractor,
    MediaError,
    MediaItem,
    discover_media,
    extract_media_features,
)

from .test_visual import RecordingEncoder


class MeanAudio:
    """A cheap deterministic AudioExtractor: [mean |x|, RMS, length in s] (main process)."""

    identity = "mean-audio"
    dim = 3
    in_worker = False

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls = 0
        self.fail_after = fail_after

    def __call__(self, waveforms):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt("simulated crash")
        return np.stack([[np.abs(w).mean(), np.sqrt((w**2).mean()), w.size / 16000] for w in waveforms]).astype(
            np.float32
        )


@pytest.fixture
def count_decodes(monkeypatch) -> list[int]:
    calls: list[int] = []
    original = decode_module.decode_group

    def counting(items, **kwargs):
        calls.append(len(items))
        return original(items, **kwargs)

    monkeypatch.setattr(decode_module, "decode_group", counting)
    return calls


def run(tables, items, cache: Path | None, **kwargs):
    options = {"audio": MeanAudio(), "visual": ClipFaceExtractor(RecordingEncoder()), "num_frames": 2}
    options.update(kwargs)
    return extract_media_features(tables, items, cache_dir=str(cache) if cache else None, progress=False, **options)


def test_features_follow_table_rows_and_join_text(meld_media_dir: Path, meld_tables) -> None:
    items = discover_media("meld", meld_media_dir)
    out = run(meld_tables, items, None)
    assert sorted(out.features) == ["audio", "visual"]
    assert out.features["audio"]["train"]["0"].shape == (2, 3) and out.features["visual"]["dev"]["0"].shape == (1, 3)
    # dia0_utt0 has a 200 Hz tone, dia0_utt1 300 Hz: both RMS 0.3/√2, the same length → the rows differ by clip
    assert abs(out.features["audio"]["train"]["0"][0, 1] - 0.212) < 0.01
    assert out.stats["visual"]["train"] == {"utterances": 3, "masked": 0, "missing_media": 0, "failed": 0, "no_face": 1}
    assert out.stats["audio"]["train"]["silent"] == 0
    speakers = SpeakerMap.fit(meld_tables["train"])
    text = {s: {d.id: np.ones((d.length, 4), np.float32) for d in t.dialogues} for s, t in meld_tables.items()}
    features = build_feature_set(meld_tables, {"text": text, **out.features}, speakers)
    assert features.modality_dims == {"text": 4, "audio": 3, "visual": 3}


def test_workers_give_the_same_features(meld_media_dir: Path, meld_tables) -> None:
    items = discover_media("meld", meld_media_dir)
    serial, parallel = run(meld_tables, items, None), run(meld_tables, items, None, num_workers=2)
    assert all(not rows for per_split in parallel.masked.values() for rows in per_split.values())
    for modality in serial.features:
        for split, per_dialogue in serial.features[modality].items():
            for dialogue, rows in per_dialogue.items():
                assert np.array_equal(rows, parallel.features[modality][split][dialogue])


def test_a_second_run_decodes_nothing(meld_media_dir: Path, meld_tables, tmp_path: Path, count_decodes) -> None:
    items = discover_media("meld", meld_media_dir)
    first = run(meld_tables, items, tmp_path / "cache")
    assert sum(count_decodes) == 5
    count_decodes.clear()
    second = run(meld_tables, discover_media("meld", meld_media_dir), tmp_path / "cache")
    assert count_decodes == []
    for modality in first.features:
        for split, per_dialogue in first.features[modality].items():
            for dialogue, rows in per_dialogue.items():
                assert np.array_equal(rows, second.features[modality][split][dialogue])
    # another extractor setting is another cache entry: decodes again
    run(meld_tables, items, tmp_path / "cache", num_frames=3)
    assert sum(count_decodes) == 5


def test_a_crash_mid_run_resumes_with_identical_output(
    meld_media_dir: Path, meld_tables, tmp_path: Path, count_decodes
) -> None:
    items = discover_media("meld", meld_media_dir)
    reference = run(meld_tables, items, None, batch_utterances=2)
    count_decodes.clear()
    with pytest.raises(KeyboardInterrupt):
        run(meld_tables, items, tmp_path / "cache", audio=MeanAudio(fail_after=1), batch_utterances=2)
    entries = sorted((tmp_path / "cache").rglob("*.npz"))
    assert len(entries) == 4  # the first batch (2 utterances × audio + visual) finished and is kept
    assert not list((tmp_path / "cache").rglob("*.tmp*"))  # nothing half-written
    count_decodes.clear()
    resumed = run(meld_tables, items, tmp_path / "cache", batch_utterances=2)
    assert sum(count_decodes) == 3  # only the rest is decoded
    for modality in reference.features:
        for split, per_dialogue in reference.features[modality].items():
            for dialogue, rows in per_dialogue.items():
                assert np.array_equal(rows, resumed.features[modality][split][dialogue])


def test_undecodable_media_is_an_error_or_a_counted_mask(meld_tables, meld_media_dir: Path, tmp_path: Path) -> None:
    items = discover_media("meld", meld_media_dir)
    broken = tmp_path / "dia0_utt1.mp4"
    broken.write_bytes(b"not a video at all")
    items = [MediaItem(i.dialogue, i.utterance, broken, split=i.split) if i.key == ("0", "1") else i for i in items]
    with pytest.raises(MediaError, match=r"dia0_utt1\.mp4.*--media-missing mask"):
        run(meld_tables, items, tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("*.tmp*"))
    out = run(meld_tables, items, tmp_path / "cache", missing="mask")
    assert out.stats["audio"]["train"]["failed"] == 1 and out.stats["audio"]["train"]["masked"] == 1
    assert out.masks["audio"]["train"]["0"].tolist() == [True, False]
    entry = out.masked["audio"]["train"][0]
    assert (entry["dialogue"], entry["utterance"], entry["row"]) == ("0", "1", 1) and "undecodable" in entry["reason"]
    train = out.features["audio"]["train"]
    np.testing.assert_allclose(train["0"][1], np.mean([train["0"][0], train["1"][0]], axis=0), rtol=1e-6)  # train mean
    assert out.extras()["stats"]["audio"]["train"]["failed"] == 1


def test_no_face_mask_policy_and_missing_rows(meld_tables, meld_media_dir: Path) -> None:
    items = [i for i in discover_media("meld", meld_media_dir) if i.key != ("0", "0") or i.split != "test"]
    with pytest.raises(ValueError, match=r"1 test table rows have no media"):
        run(meld_tables, items, None)
    visual = ClipFaceExtractor(RecordingEncoder(), no_face="mask")
    out = run(meld_tables, items, None, missing="mask", visual=visual)
    assert out.stats["visual"]["train"]["no_face"] == 1 and out.masks["visual"]["train"]["1"].tolist() == [False]
    assert out.stats["visual"]["test"]["missing_media"] == 1 and out.masked["visual"]["test"] == [
        {"dialogue": "0", "utterance": "0", "row": 0, "reason": "no media"}
    ]


def test_iemocap_layout_end_to_end(tmp_path: Path) -> None:
    from vega_anchors.data import TableColumns, load_dialogue_table

    from .test_sources import make_iemocap

    root = make_iemocap(tmp_path / "IEMOCAP_full_release")
    items = discover_media("iemocap", root)
    rows = [f'{{"dialogue": "Ses05F_script03_1", "utterance": "{i.utterance}", "text": "t", "label": "neu"}}'
            for i in sorted(items, key=lambda i: i.utterance)]  # fmt: skip
    (tmp_path / "t.jsonl").write_text("\n".join(rows))
    columns = TableColumns(dialogue="dialogue", utterance="utterance", speaker=None, text="text", label="label")
    tables = {"train": load_dialogue_table(tmp_path / "t.jsonl", columns=columns, label_names="iemocap")}
    encoder = RecordingEncoder()
    out = run(tables, items, None, visual=ClipFaceExtractor(encoder, no_face="frame"), num_frames=1)
    audio = out.features["audio"]["train"]["Ses05F_script03_1"]
    # text turn names keep the file's order (written F000, F001, M000): segments 1.0 s, 0.9 s, 1.0 s of the 300 Hz tone
    np.testing.assert_allclose(audio[:, 2], [1.0, 0.9, 1.0], atol=1e-3)
    np.testing.assert_allclose(audio[:, 1], 0.3 / np.sqrt(2), atol=0.01)
    assert all(image.shape[1] <= 32 for image in encoder.images)  # half of the 64-px-wide frame, per speaker
