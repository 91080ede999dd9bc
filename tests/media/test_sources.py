"""Layouts map media to the tables' (dialogue, utterance) keys; mismatches are one error or counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vega_anchors.data import load_dialogue_table
from vega_anchors.media import (
    MELD_SPLIT_FOLDERS,
    discover_media,
    iemocap_media,
    manifest_media,
    match_media,
    meld_media,
    synth,
)

from .conftest import write_table


def table_keys(tables) -> dict[str, list[tuple[str, str]]]:
    return {s: [(d.id, u) for d in t.dialogues for u in d.utterance_ids] for s, t in tables.items()}


def test_meld_folders_are_meld_raw_names() -> None:
    assert MELD_SPLIT_FOLDERS == {
        "train": "train_splits",
        "dev": "dev_splits_complete",
        "test": "output_repeated_splits_test",
    }


def test_meld_layout_maps_to_table_keys(meld_media_dir: Path, meld_tables) -> None:
    items = discover_media("meld", meld_media_dir)
    assert {i.split for i in items} == {"train", "dev", "test"}
    assert all(i.path.name == f"dia{i.dialogue}_utt{i.utterance}.mp4" for i in items)  # the stray file is ignored
    match = match_media(meld_tables, items)
    assert {s: [r.key for r in rows] for s, rows in match.items.items()} == table_keys(meld_tables)
    assert match.items["dev"][0].path.parent.name == "dev_splits_complete"  # dia0_utt0 exists in every split


def test_meld_folder_override_and_missing_folder(meld_media_dir: Path, tmp_path: Path) -> None:
    items = meld_media(meld_media_dir, "dev", folders={"dev": "train_splits"})
    assert len(items) == 3
    with pytest.raises(FileNotFoundError, match="dev_splits_complete"):
        meld_media(tmp_path, "dev")


def make_iemocap(root: Path) -> Path:
    """Session5 with one scripted dialog: a 4 s wav + avi, and a transcription of 3 turns (out of order)."""
    base = root / "Session5" / "dialog"
    for sub in ("transcriptions", "wav", "avi/DivX"):
        (base / sub).mkdir(parents=True)
    dialog = "Ses05F_script03_1"
    lines = [
        f"{dialog}_M000 [002.0000-003.0000]: Second.",
        f"{dialog}_F000 [000.5000-001.5000]: First.",
        "M: stray line without times",
        f"{dialog}_F001 [003.0000-003.9000]: Third.",
    ]
    (base / "transcriptions" / f"{dialog}.txt").write_text("\n".join(lines) + "\n")
    synth.write_wav(base / "wav" / f"{dialog}.wav", synth.tone(300, 4.0))
    frames = synth.still_frames(synth.face_image(64), 20)
    synth.write_clip(base / "avi" / "DivX" / f"{dialog}.avi", frames=frames, fps=5, video_codec="mpeg4", audio=None)
    return root


def test_iemocap_layout_cuts_turns_and_picks_the_speakers_half(tmp_path: Path) -> None:
    root = make_iemocap(tmp_path / "IEMOCAP_full_release")
    items = iemocap_media(root)
    assert [i.utterance for i in items] == [
        "Ses05F_script03_1_F000",
        "Ses05F_script03_1_M000",
        "Ses05F_script03_1_F001",
    ]
    assert [(i.start, i.end) for i in items] == [(0.5, 1.5), (2.0, 3.0), (3.0, 3.9)]
    assert [i.region for i in items] == ["left", "right", "left"]  # F matches Ses05F → left
    assert all(i.path.suffix == ".avi" and i.audio_path is not None and i.audio_path.suffix == ".wav" for i in items)
    by_index = iemocap_media(root, utterance_key="index", media="audio")
    assert [i.utterance for i in by_index] == ["0", "1", "2"] and by_index[0].region is None
    # the table keyed by turn names matches
    table = tmp_path / "iemocap.jsonl"
    rows = [{"dialogue": "Ses05F_script03_1", "utterance": i.utterance, "speaker": "x", "text": "t", "label": "neu"}
            for i in items]  # fmt: skip
    table.write_text("\n".join(json.dumps(r) for r in rows))
    from vega_anchors.data import TableColumns

    columns = TableColumns(dialogue="dialogue", utterance="utterance", speaker="speaker", text="text", label="label")
    tables = {"train": load_dialogue_table(table, columns=columns, label_names="iemocap")}
    match = match_media(tables, items)
    assert [r.key for r in match.items["train"]] == table_keys(tables)["train"]


def test_manifest_csv_and_jsonl_map_to_the_same_keys(meld_media_dir: Path, meld_tables, tmp_path: Path) -> None:
    meld = discover_media("meld", meld_media_dir)
    csv_path = tmp_path / "manifest.csv"
    lines = ["dialogue,utterance,path,start,end,split"]
    lines += [f"{i.dialogue},{i.utterance},{i.path},,,{i.split}" for i in meld]
    csv_path.write_text("\n".join(lines) + "\n")
    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text(
        "\n".join(
            json.dumps(
                {
                    "dialogue": i.dialogue,
                    "utterance": i.utterance,
                    "path": str(i.path),
                    "split": i.split,
                    "start": 0.0,
                    "end": 0.5,
                }
            )
            for i in meld
        )
    )
    expected = table_keys(meld_tables)
    for items in (manifest_media(tmp_path), manifest_media(jsonl), meld):
        match = match_media(meld_tables, items)
        assert {s: [r.key for r in rows] for s, rows in match.items.items()} == expected
    assert manifest_media(jsonl)[0].end == 0.5 and manifest_media(csv_path)[0].start is None


def test_manifest_bad_rows_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("dialogue,utterance,path,start\n0,0,a.mp4,soon\n")
    with pytest.raises(ValueError, match=r"line 2: start must be seconds"):
        manifest_media(bad)
    bad.write_text("dialogue,utterance\n0,0\n")
    with pytest.raises(ValueError, match="needs dialogue, utterance, path"):
        manifest_media(bad)
    with pytest.raises(FileNotFoundError, match="manifest"):
        manifest_media(tmp_path / "none.csv")


def test_mismatches_are_listed_in_one_error_or_counted(meld_media_dir: Path, tmp_path: Path) -> None:
    rows = [(0, 0, "A", "x", "joy"), (0, 1, "B", "y", "joy"), (7, 0, "A", "z", "joy")]  # dia7 has no clip
    tables = {"train": load_dialogue_table(write_table(tmp_path / "t.csv", rows))}
    items = meld_media(meld_media_dir, "train")  # dia1_utt0 has no row
    with pytest.raises(ValueError) as err:
        match_media(tables, items)
    message = str(err.value)
    assert "('7', '0')" in message and "dia1_utt0.mp4" in message and "--media-missing mask" in message
    match = match_media(tables, items, missing="mask")
    assert match.items["train"][2] is None and match.missing == {"train": [("7", "0")]}
    assert [i.key for i in match.unmatched] == [("1", "0")]
