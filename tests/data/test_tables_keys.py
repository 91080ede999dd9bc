"""Composite dialogue keys, list-literal speaker cells, auto labels, errors that name their fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from vega_anchors.data import (
    SpeakerMap,
    TableColumns,
    build_feature_set,
    feature_report,
    load_dialogue_table,
    load_dialogue_tables,
    parse_speaker_cell,
)
from vega_anchors.errors import ConfigError

HEADER = "Season,Episode,Scene_ID,Utterance_ID,Speaker,Transcript,Emotion"
ROWS = [
    "1,1,1,0,['Monica Geller'],Hi.,Joyful",
    "1,1,1,1,\"['Chandler Bing', 'Joey Tribbiani']\",Hey!,Mad",
    '1,1,2,0,"[""Ross Geller""]",Oh.,Neutral',
    "1,2,1,0,Rachel Green,Ugh.,Scared",
    "2,1,1,0,[],Fine.,Neutral",
]
COLUMNS = TableColumns(dialogue=("Season", "Episode", "Scene_ID"), text="Transcript")


def _write(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_three_column_key_and_list_literal_speakers(tmp_path: Path) -> None:
    table = load_dialogue_table(_write(tmp_path / "t.csv", ROWS), columns=COLUMNS, label_names="auto")
    assert table.ids == ["1/1/1", "1/1/2", "1/2/1", "2/1/1"]
    assert table.dialogues[0].speakers == ["Monica Geller", "Chandler Bing"]  # several → first
    assert table.dialogues[1].speakers == ["Ross Geller"]
    assert table.dialogues[2].speakers == ["Rachel Green"]  # a plain name stays as it is
    assert table.dialogues[3].speakers == [""]
    assert table.speaker_cells == {"list": 4, "several": 1, "empty": 1}
    assert table.label_names == ("Joyful", "Mad", "Neutral", "Scared")  # sorted raw labels, never re-cased
    assert table.dialogues[0].labels == [0, 1]
    joined = load_dialogue_table(tmp_path / "t.csv", columns=COLUMNS, label_names="auto", speaker_multi="joined")
    assert joined.dialogues[0].speakers[1] == "Chandler Bing & Joey Tribbiani"


def test_speaker_cells_are_parsed_not_evaluated() -> None:
    assert parse_speaker_cell("['A', 'B']") == ["A", "B"]
    assert parse_speaker_cell('["A"]') == ["A"]
    assert parse_speaker_cell(["A ", "B"]) == ["A", "B"]
    assert parse_speaker_cell("['it\\'s']") == ["it's"]
    assert parse_speaker_cell("Ross") is None
    assert parse_speaker_cell("[__import__('os').getcwd()]") is None  # not a list of quoted strings: a name


def test_speaker_counts_reach_the_data_report(tmp_path: Path) -> None:
    _write(tmp_path / "t.csv", ROWS)
    tables = load_dialogue_tables({"train": tmp_path / "t.csv", "test": tmp_path / "t.csv"}, columns=COLUMNS)
    text = {s: {d.id: [[0.0, 1.0]] * d.length for d in t.dialogues} for s, t in tables.items()}
    features = build_feature_set(tables, {"text": text}, SpeakerMap.fit(tables["train"]))
    assert features.extras["speaker_cells"]["train"]["several"] == 1
    assert features.extras["utterance_ids"]["train"][0] == ["0", "1"]
    assert "1 with several speakers" in feature_report(features).format()


def test_repeated_utterance_id_suggests_a_composite_key(tmp_path: Path) -> None:
    _write(tmp_path / "t.csv", ROWS)
    with pytest.raises(ConfigError) as info:
        load_dialogue_table(tmp_path / "t.csv", columns=TableColumns(dialogue="Scene_ID", text="Transcript"),
                            label_names="auto")  # fmt: skip
    assert "repeats utterance id" in str(info.value)
    assert "columns=TableColumns(dialogue=('Season', 'Episode', 'Scene_ID')" in str(info.value)
    assert "--dialogue-column Season,Episode,Scene_ID" in info.value.for_cli()
    assert "--" not in str(info.value)


@pytest.mark.parametrize("classes", [5, 8])
def test_auto_labels_follow_the_training_table(tmp_path: Path, classes: int) -> None:
    names = [f"class{i}" for i in range(classes)]
    rows = [f"1,1,{i},0,A,text {i},{names[i]}" for i in range(classes)][::-1]
    _write(tmp_path / "train.csv", rows)
    _write(tmp_path / "test.csv", rows[:2])
    tables = load_dialogue_tables({"train": tmp_path / "train.csv", "test": tmp_path / "test.csv"}, columns=COLUMNS)
    assert tables["train"].label_names == tuple(names)
    assert tables["test"].label_names == tuple(names)
    assert tables["test"].dialogues[0].labels == [classes - 1]


def test_auto_labels_refuse_a_test_label_unseen_in_train(tmp_path: Path) -> None:
    _write(tmp_path / "train.csv", ROWS[:2])
    _write(tmp_path / "test.csv", ROWS[3:4])
    with pytest.raises(ConfigError) as info:
        load_dialogue_tables({"train": tmp_path / "train.csv", "test": tmp_path / "test.csv"}, columns=COLUMNS)
    assert "'Scared'" in str(info.value) and "label_names=[...]" in str(info.value)
    assert "--labels a,b,c" in info.value.for_cli()


def test_missing_columns_and_unknown_labels_name_both_fixes(tmp_path: Path) -> None:
    _write(tmp_path / "t.csv", ROWS)
    with pytest.raises(ConfigError) as info:
        load_dialogue_table(tmp_path / "t.csv")
    assert "columns=TableColumns(" in str(info.value) and "--dialogue-column" in info.value.for_cli()
    with pytest.raises(ConfigError) as info:
        load_dialogue_table(tmp_path / "t.csv", columns=COLUMNS)  # MELD labels
    assert "label_names='auto'" in str(info.value) and "--labels auto" in info.value.for_cli()
