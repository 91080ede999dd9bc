"""Dialogue tables: MELD-style CSV quirks, JSONL, column names, labels, speakers, → Dialogue / FeatureSet."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from vega_anchors import DualBranchVEGA, VEGAConfig
from vega_anchors.data import (
    SpeakerMap,
    TableColumns,
    build_dialogues,
    build_feature_set,
    load_dialogue_table,
    load_meld_tables,
    normalize_text,
)
from vega_anchors.training import TrainConfig, fit

HEADER = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode"

# MELD's quirks: BOM, CRLF, typographic quotes, a quoted comma, a multi-line quoted cell, rows out of
# order, a gap in utterance ids (dialogue 0 has 0, 1, 3), dialogue 1 absent, joy/sadness spellings.
MELD_ROWS = [
    "1,\u201cOh my God\u201d \u2014 you\u2019re kidding\u2026,Rachel,surprise,positive,0,0,1,1",
    '2,"Well, that\u2019s it.",Ross,sadness,negative,0,1,1,1',
    '3,"Two\r\nlines",Rachel,joy,positive,0,3,1,1',
    "5,Hi.,Joey,neutral,neutral,2,1,1,1",
    "4,Hey!,Monica,Joy,positive,2,0,1,1",
]


def write_csv(path: Path, rows: list[str], *, header: str = HEADER, bom: bool = True, newline: str = "\r\n") -> Path:
    text = newline.join([header, *rows]) + newline
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def test_meld_csv_quirks(tmp_path: Path) -> None:
    table = load_dialogue_table(write_csv(tmp_path / "train.csv", MELD_ROWS))
    assert table.ids == ["0", "2"]  # dialogue 1 is absent; order of first appearance
    first, second = table.dialogues
    assert first.utterance_ids == ["0", "1", "3"]  # the gap is kept
    assert first.texts == ['"Oh my God" - you\'re kidding...', "Well, that's it.", "Two lines"]
    assert first.speakers == ["Rachel", "Ross", "Rachel"]
    # MELD label order: neutral, surprise, fear, sad, happy, disgust, anger (joy → happy, sadness → sad).
    assert first.labels == [1, 3, 4]
    assert second.utterance_ids == ["0", "1"]  # sorted by utterance id, not file order
    assert second.texts == ["Hey!", "Hi."]
    assert second.labels == [4, 0]
    assert table.num_utterances == 5
    assert table.label_counts() == {
        "neutral": 1,
        "surprise": 1,
        "fear": 0,
        "sad": 1,
        "happy": 2,
        "disgust": 0,
        "anger": 0,
    }


def test_raw_text_kept_when_cleaning_is_off(tmp_path: Path) -> None:
    table = load_dialogue_table(write_csv(tmp_path / "t.csv", MELD_ROWS[:1], bom=False, newline="\n"), clean_text=False)
    assert table.dialogues[0].texts == ["\u201cOh my God\u201d \u2014 you\u2019re kidding\u2026"]


def test_normalize_text_repairs_mojibake() -> None:
    broken = "you\u2019re".encode().decode("cp1252")  # 'youâ€™re'
    assert broken != "you\u2019re"
    assert normalize_text(broken) == "you're"
    assert normalize_text("  caf\u00e9\u00a0\u00a0ok ") == "caf\u00e9 ok"


def test_unknown_labels_are_listed(tmp_path: Path) -> None:
    rows = [*MELD_ROWS, "6,Hm.,Joey,confused,neutral,3,0,1,1", "7,Hm!,Joey,bored,neutral,3,1,1,1"]
    rows.append("8,Hm?,Joey,confused,neutral,3,2,1,1")
    with pytest.raises(ValueError, match="labels outside") as info:
        load_dialogue_table(write_csv(tmp_path / "bad.csv", rows))
    message = str(info.value)
    assert "'confused' ×2 (first at line 8)" in message
    assert "'bored' ×1 (first at line 9)" in message  # the two-line cell counts twice
    with pytest.raises(
        ValueError, match=r"unknown label set 'friends'. Fix: pass label_names='auto', one of \['iemocap'"
    ):
        load_dialogue_table(tmp_path / "bad.csv", label_names="friends")


def test_empty_label_means_unlabelled(tmp_path: Path) -> None:
    rows = ["1,Hi.,Joey,,neutral,0,0,1,1", "2,Yo.,Ross,anger,neutral,0,1,1,1"]
    table = load_dialogue_table(write_csv(tmp_path / "t.csv", rows))
    assert table.dialogues[0].labels == [-1, 6]


def test_missing_column_names_what_was_found(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", ["Hi.,0,0"], header="Utterance,Dialogue_ID,Utterance_ID")
    with pytest.raises(ValueError, match=r"no column\(s\) \['Speaker', 'Emotion'\]; found"):
        load_dialogue_table(path)


def test_repeated_utterance_id_is_an_error(tmp_path: Path) -> None:
    rows = ["1,Hi.,Joey,neutral,neutral,0,0,1,1", "2,Yo.,Ross,anger,neutral,0,0,1,1"]
    with pytest.raises(ValueError, match="dialogue '0' repeats utterance id '0'"):
        load_dialogue_table(write_csv(tmp_path / "t.csv", rows))


def test_configurable_columns_tsv_and_own_labels(tmp_path: Path) -> None:
    path = tmp_path / "mine.tsv"
    path.write_text(
        "conv\tturn\twho\tsays\tfeeling\nA\t2\tbob\tbye\tANGRY\nA\t10\tamy\tok\tcalm\nA\t1\tamy\thi\tcalm\n",
        encoding="utf-8",
    )
    columns = TableColumns(dialogue="conv", utterance="turn", speaker="who", text="says", label="feeling")
    with pytest.raises(ValueError, match=r"'ANGRY' ×1 .*label_map=\{'ANGRY': 'CLASS'\}"):
        load_dialogue_table(path, columns=columns, label_names=["calm", "anger"])  # an explicit list never aliases
    table = load_dialogue_table(path, columns=columns, label_names=["calm", "anger"], label_map={"ANGRY": "anger"})
    (d,) = table.dialogues
    assert d.utterance_ids == ["1", "2", "10"]  # numeric order, not string order
    assert d.texts == ["hi", "bye", "ok"]
    assert d.labels == [0, 1, 0]  # ANGRY → anger (label_map)
    assert table.label_names == ("calm", "anger")
    assert table.label_mapping == {"ANGRY": "anger", "calm": "calm"}


def test_no_speaker_or_label_columns(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    path.write_text("d,u,text\nx,0,hello\nx,1,there\n", encoding="utf-8")
    table = load_dialogue_table(path, columns=TableColumns("d", "u", None, "text", None))
    assert table.dialogues[0].labels == [-1, -1]
    assert table.dialogues[0].speakers == ["", ""]


def test_odd_encodings(tmp_path: Path) -> None:
    text = HEADER + "\r\n1,Caf\u00e9 \u2019n\u2019 more,Jo\u00eb,neutral,neutral,0,0,1,1\r\n"
    cp1252 = tmp_path / "win.csv"
    cp1252.write_bytes(text.encode("cp1252"))
    with pytest.raises(ValueError, match=r"not valid utf-8-sig .* line 2.*encoding='cp1252'"):
        load_dialogue_table(cp1252)
    table = load_dialogue_table(cp1252, encoding="cp1252")
    assert table.dialogues[0].texts == ["Caf\u00e9 'n' more"]
    assert table.dialogues[0].speakers == ["Jo\u00eb"]
    utf16 = tmp_path / "utf16.csv"
    utf16.write_bytes(text.encode("utf-16"))  # with its BOM
    assert load_dialogue_table(utf16).dialogues[0].texts == ["Caf\u00e9 'n' more"]


def test_jsonl_utterance_and_dialogue_records(tmp_path: Path) -> None:
    per_utterance = tmp_path / "u.jsonl"
    records = [
        {"Dialogue_ID": 7, "Utterance_ID": 1, "Speaker": "B", "Utterance": "no", "Emotion": "anger"},
        {"Dialogue_ID": 7, "Utterance_ID": 0, "Speaker": "A", "Utterance": "yes", "Emotion": "joy"},
    ]
    per_utterance.write_text("\ufeff" + "\n".join(json.dumps(r) for r in records) + "\n\n", encoding="utf-8")
    (d,) = load_dialogue_table(per_utterance).dialogues
    assert (d.id, d.texts, d.speakers, d.labels) == ("7", ["yes", "no"], ["A", "B"], [4, 6])

    per_dialogue = tmp_path / "d.jsonl"
    record = {"Dialogue_ID": "x", "Speaker": ["A", "B"], "Utterance": ["yes", "no"], "Emotion": ["joy", "fear"]}
    per_dialogue.write_text(json.dumps(record) + "\n", encoding="utf-8")
    (d,) = load_dialogue_table(per_dialogue).dialogues
    assert (d.utterance_ids, d.texts, d.labels) == (["0", "1"], ["yes", "no"], [4, 2])

    broken = tmp_path / "bad.jsonl"
    broken.write_text(json.dumps(records[0]) + "\n{oops\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: not valid JSON"):
        load_dialogue_table(broken)


def _speaker_table(tmp_path: Path, name: str, speakers: list[str]) -> Path:
    rows = [f"{i},u{i},{s},neutral,neutral,{i // 3},{i % 3},1,1" for i, s in enumerate(speakers)]
    return write_csv(tmp_path / name, rows)


def test_speaker_map_top_n_plus_other_fitted_on_train(tmp_path: Path) -> None:
    train = load_dialogue_table(_speaker_table(tmp_path, "tr.csv", ["A", "B", "A", "C", "B", "A", "D", "C", "E"]))
    speakers = SpeakerMap.fit(train, top_n=2)
    assert speakers.names == ["A", "B"]  # A ×3, then B and C ×2 (tie broken by name)
    assert speakers.num_speakers == 3
    assert speakers.id_names == ["A", "B", "other"]
    assert speakers.encode(["A", "C", "B", "Zed"]) == [0, 2, 1, 2]  # rare and unseen → other
    assert SpeakerMap.fit(train, top_n=None).names == ["A", "B", "C", "D", "E"]
    assert SpeakerMap.from_dict(speakers.to_dict()) == speakers
    per = SpeakerMap.fit(train, top_n=2, mode="per_dialogue")
    assert per.encode(["Q", "R", "Q", "S"]) == [0, 1, 0, 1]  # order of appearance, capped at top_n
    with pytest.raises(ValueError, match="top_n must be >= 1"):
        SpeakerMap.fit(train, top_n=0)


def test_build_dialogues_with_user_arrays(tmp_path: Path) -> None:
    table = load_dialogue_table(write_csv(tmp_path / "train.csv", MELD_ROWS))
    speakers = SpeakerMap.fit(table, top_n=2)
    text = {d.id: np.full((d.length, 4), float(i), dtype=np.float32) for i, d in enumerate(table.dialogues)}
    audio = {d.id: torch.ones(d.length, 3) for d in table.dialogues}
    dialogues = build_dialogues(table, {"text": text, "audio": audio}, speakers)
    assert [d.id for d in dialogues] == ["0", "2"]
    assert dialogues[1].modality_dims == {"text": 4, "audio": 3}
    assert dialogues[0].labels.tolist() == [1, 3, 4]
    assert dialogues[0].speakers.tolist() == [0, 2, 0]  # Rachel ×2, then Joey (×1, first by name); Ross → other
    assert speakers.names == ["Rachel", "Joey"]
    assert dialogues[1].speakers.tolist() == [2, 1]  # Monica → other, Joey
    bad = dict(audio, **{"0": torch.ones(2, 3)})
    with pytest.raises(ValueError, match=r"dialogue '0': audio features have shape \(2, 3\), expected \[T=3, D\]"):
        build_dialogues(table, {"audio": bad}, speakers)
    with pytest.raises(ValueError, match="no entry for dialogue '2'"):
        build_dialogues(table, {"audio": {"0": torch.ones(3, 3)}}, speakers)


def _split_tables(tmp_path: Path) -> dict:
    train = write_csv(tmp_path / "train_sent_emo.csv", MELD_ROWS)
    dev = write_csv(tmp_path / "dev_sent_emo.csv", ["1,Ok.,Ross,anger,negative,5,0,1,1"])
    test = write_csv(tmp_path / "test_sent_emo.csv", ["1,No.,Zed,fear,negative,9,0,1,1", "2,Go.,Ross,joy,x,9,1,1,1"])
    del train, dev, test
    return load_meld_tables(tmp_path)


def test_feature_set_and_standardisation_fitted_on_train_only(tmp_path: Path) -> None:
    tables = _split_tables(tmp_path)
    gen = torch.Generator().manual_seed(0)
    offsets = {"train": 5.0, "dev": -50.0, "test": 100.0}
    text = {
        split: {d.id: offsets[split] + 0.01 * torch.randn(d.length, 6, generator=gen) for d in table.dialogues}
        for split, table in tables.items()
    }
    speakers = SpeakerMap.fit(tables["train"], top_n=3)
    features = build_feature_set(tables, {"text": text}, speakers)
    assert (len(features.train), len(features.dev), len(features.test)) == (2, 1, 1)
    assert features.num_speakers == 4 and features.modality_dims == {"text": 6}
    assert features.extras["speaker_names"] == ["Rachel", "Joey", "Monica", "other"]
    assert features.test[0].speakers.tolist() == [3, 3]  # Zed unseen, Ross not in the top 3 → other
    assert features.dataset == "meld"

    config = VEGAConfig.meld(
        modalities={"text": 6},
        hidden_dim=8,
        num_heads=2,
        num_speakers=features.num_speakers,
        input_norm="standardize",
        losses={"anchor": False, "anchor_kl": False},
    )
    model = DualBranchVEGA(config, None)
    fit(
        model,
        features.train,
        val=features.dev,
        test=features.test,
        config=TrainConfig(epochs=1, batch_size=2, device="cpu", progress=False),
    )
    rows = torch.cat([d.features["text"] for d in features.train]).double()
    norm = model.input_norm["text"]
    torch.testing.assert_close(norm.mean, rows.mean(0).to(norm.mean.dtype))
    torch.testing.assert_close(norm.std, rows.std(0, unbiased=False).to(norm.std.dtype))
    assert 4.9 < float(norm.mean.mean()) < 5.1  # dev (-50) and test (100) did not leak in


def test_meld_tables_missing_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"dev_sent_emo\.csv"):
        write_csv(tmp_path / "train_sent_emo.csv", MELD_ROWS)
        write_csv(tmp_path / "test_sent_emo.csv", MELD_ROWS)
        load_meld_tables(tmp_path)


REAL_MELD = Path("/work/shared/data/meld")


@pytest.mark.skipif(not (REAL_MELD / "train_sent_emo.csv").is_file(), reason="MELD's CSVs not available here")
def test_real_meld_counts() -> None:
    tables = load_meld_tables(REAL_MELD)
    counts = {split: (len(t), t.num_utterances) for split, t in tables.items()}
    assert counts == {"train": (1038, 9989), "dev": (114, 1109), "test": (280, 2610)}
    assert "60" not in tables["train"].ids
    assert list(tables["test"].label_counts().values()) == [1256, 281, 50, 208, 402, 68, 345]
    speakers = SpeakerMap.fit(tables["train"], top_n=6)
    assert sorted(speakers.names) == ["Chandler", "Joey", "Monica", "Phoebe", "Rachel", "Ross"]
