"""Messy tables never give silently wrong results (issue 22): turn order, label merging, empty speakers,
counts, delimiters and encodings — each on a table the test writes, asserting the exact behaviour."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vega_anchors.data import SpeakerMap, TableColumns, load_dialogue_table, load_dialogue_tables
from vega_anchors.data.tables import TURN_ORDER_RULE
from vega_anchors.errors import ConfigError

HEADER = "Dialogue_ID,Utterance_ID,Speaker,Utterance,Emotion"


def _csv(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_text_ids_keep_file_order_not_string_order(tmp_path: Path) -> None:
    rows = [f"0,u{i},A,line {i},neutral" for i in range(1, 15)]  # u1 … u14, as written
    table = load_dialogue_table(_csv(tmp_path / "t.csv", rows))
    (d,) = table.dialogues
    assert d.utterance_ids == [f"u{i}" for i in range(1, 15)]  # not u1, u10, u11, … (string sort)
    assert d.texts[:3] == ["line 1", "line 2", "line 3"]
    assert table.turn_order == {"rule": TURN_ORDER_RULE, "by_value": 0, "file_order": 1, "mixed": []}


def test_numeric_ids_sorted_by_value_and_mixed_dialogues_named(tmp_path: Path) -> None:
    rows = ["0,10,A,ten,neutral", "0,2,A,two,neutral", "0,1,A,one,neutral", "7,1,B,x,neutral", "7,b,B,y,neutral"]
    table = load_dialogue_table(_csv(tmp_path / "t.csv", rows))
    assert table.dialogues[0].texts == ["one", "two", "ten"]
    assert table.dialogues[1].utterance_ids == ["1", "b"]  # mixed: file order
    assert table.turn_order["by_value"] == 1 and table.turn_order["file_order"] == 1
    assert table.turn_order["mixed"] == ["7"]


LABELS = ["joy", "happy", "Happiness", "anger", "angry", "neutral"]


def _labelled(tmp_path: Path) -> Path:
    return _csv(tmp_path / "t.csv", [f"0,{i},A,t{i},{label}" for i, label in enumerate(LABELS)])


def test_auto_labels_never_merge(tmp_path: Path) -> None:
    table = load_dialogue_table(_labelled(tmp_path), label_names="auto")
    assert table.label_names == ("Happiness", "anger", "angry", "happy", "joy", "neutral")
    assert table.dialogues[0].labels == [4, 3, 0, 1, 2, 5]
    assert table.label_mapping == {label: label for label in LABELS}


def test_explicit_labels_accept_any_raw_labels(tmp_path: Path) -> None:
    names = ["joy", "happy", "Happiness", "anger", "angry", "neutral"]
    table = load_dialogue_table(_labelled(tmp_path), label_names=names)
    assert table.label_names == tuple(names) and table.dialogues[0].labels == [0, 1, 2, 3, 4, 5]


def test_aliases_only_by_named_set_or_label_map(tmp_path: Path) -> None:
    named = load_dialogue_table(_labelled(tmp_path), label_names="meld")
    assert named.label_mapping == {"Happiness": "happy", "anger": "anger", "angry": "anger", "happy": "happy",
                                   "joy": "happy", "neutral": "neutral"}  # fmt: skip
    mapped = load_dialogue_table(_labelled(tmp_path), label_names="auto", label_map={"joy": "happy", "angry": "anger"})
    assert mapped.label_names == ("Happiness", "anger", "happy", "neutral")
    assert mapped.label_mapping["joy"] == "happy" and mapped.label_mapping["Happiness"] == "Happiness"


def test_dev_labels_follow_the_named_set(tmp_path: Path) -> None:
    _csv(tmp_path / "train.csv", ["0,0,A,a,joy", "0,1,A,b,neutral"])
    _csv(tmp_path / "dev.csv", ["1,0,A,a,sadness"])
    tables = load_dialogue_tables({"train": tmp_path / "train.csv", "dev": tmp_path / "dev.csv"}, label_names="meld")
    assert tables["dev"].label_mapping == {"sadness": "sad"}


def test_empty_and_null_speakers_are_one_unnamed_speaker_in_every_format(tmp_path: Path) -> None:
    rows = ["0,0,,a,neutral", "0,1,A,b,neutral", "0,2,B,c,neutral", "0,3,,d,neutral", "0,4,  ,e,neutral"]
    csv_table = load_dialogue_table(_csv(tmp_path / "t.csv", rows))
    records = [
        {"Dialogue_ID": 0, "Utterance_ID": 0, "Speaker": None, "Utterance": "a", "Emotion": "neutral"},
        {"Dialogue_ID": 0, "Utterance_ID": 1, "Speaker": "A", "Utterance": "b", "Emotion": "neutral"},
        {"Dialogue_ID": 0, "Utterance_ID": 2, "Speaker": "B", "Utterance": "c", "Emotion": "neutral"},
        {"Dialogue_ID": 0, "Utterance_ID": 3, "Speaker": "", "Utterance": "d", "Emotion": "neutral"},
        {"Dialogue_ID": 0, "Utterance_ID": 4, "Speaker": "  ", "Utterance": "e", "Emotion": "neutral"},
    ]
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    jsonl_table = load_dialogue_table(tmp_path / "t.jsonl", columns=TableColumns())
    for table in (csv_table, jsonl_table):
        assert table.dialogues[0].speakers == ["", "A", "B", "", ""]
        assert table.counts["empty_speaker"] == 3
        speakers = SpeakerMap.fit(table, top_n=2)  # "" is the most frequent, yet never takes a slot
        assert speakers.names == ["A", "B"]
        assert speakers.encode(table.dialogues[0].speakers) == [2, 0, 1, 2, 2]


def test_empty_text_and_empty_labels_are_counted(tmp_path: Path) -> None:
    rows = ['0,0,A,"",neutral', "0,1,A,hello,", "0,2,A,   ,joy", "0,3,A,fine,neutral"]
    table = load_dialogue_table(_csv(tmp_path / "t.csv", rows))
    assert table.counts == {"empty_text": 2, "empty_label": 1, "empty_speaker": 0}
    assert table.dialogues[0].labels == [0, -1, 4, 0]  # the empty label: unlabelled, not trained on


def test_semicolon_header_names_the_delimiter(tmp_path: Path) -> None:
    path = _csv(tmp_path / "t.csv", ["0;0;A;hi;neutral"], header=HEADER.replace(",", ";"))
    with pytest.raises(ConfigError) as info:
        load_dialogue_table(path)
    assert "looks semicolon-delimited" in str(info.value)
    assert "delimiter=';'" in str(info.value) and "--delimiter ';'" in info.value.for_cli()
    assert load_dialogue_table(path, delimiter=";").dialogues[0].texts == ["hi"]


def test_cp1252_hint_speaks_in_flags(tmp_path: Path) -> None:
    path = tmp_path / "win.csv"
    path.write_bytes((HEADER + "\n0,0,A,caf\u00e9 \u2019,neutral\n").encode("cp1252"))
    with pytest.raises(ConfigError) as info:
        load_dialogue_table(path)
    assert "--encoding cp1252" in info.value.for_cli() and "encoding='cp1252'" not in info.value.for_cli()
