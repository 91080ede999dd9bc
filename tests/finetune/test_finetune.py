"""finetune_text: dev selection, cross-fitting folds, resume after a failure, atomic output, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from finetune_helpers import LABELS, read_table, write_table, write_tiny_bert

import vega_anchors.finetune._train as train_module
import vega_anchors.finetune.api as api_module
from vega_anchors.data.tables import load_dialogue_table
from vega_anchors.errors import ConfigError
from vega_anchors.finetune import FinetuneConfig, assign_folds, embed_finetuned, finetune_text, read_provenance

FAST = FinetuneConfig(epochs=2, batch_size=8, lr=1e-3, context=1, progress=False)


@pytest.fixture
def tables(tmp_path: Path) -> tuple:
    train = read_table(write_table(tmp_path / "train.csv", 8, seed=0))
    return train, read_table(write_table(tmp_path / "dev.csv", 3, seed=1))


def test_writes_a_dev_selected_encoder_with_provenance(tiny_bert: Path, tables: tuple, tmp_path: Path) -> None:
    train, dev = tables
    result = finetune_text(train, dev, encoder=tiny_bert, out=tmp_path / "enc", config=FAST)
    scores = [row["dev_weighted_f1"] for row in result.history]
    assert len(scores) == 2 and result.best_epoch == 1 + scores.index(max(scores))
    assert result.dev_weighted_f1 == pytest.approx(max(scores), abs=1e-5) and result.dev_source == "dev"
    files = {p.name for p in (tmp_path / "enc").iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer_config.json", "vega_finetune.json"} <= files
    provenance = read_provenance(tmp_path / "enc")
    assert provenance["base_encoder"] == str(tiny_bert) and provenance["context"] == 1
    assert provenance["best_epoch"] == result.best_epoch and provenance["label_names"] == list(LABELS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dev.csv", "enc", "train.csv"]  # no work left behind


def test_fold_encoders_never_saw_the_dialogues_they_encode(
    tiny_bert: Path, tables: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train, dev = tables
    seen: list[set[str]] = []
    real_inputs = api_module._inputs
    monkeypatch.setattr(
        api_module, "_inputs", lambda ds, *a, **k: seen.append({d.id for d in ds}) or real_inputs(ds, *a, **k)
    )
    result = finetune_text(train, dev, encoder=tiny_bert, out=tmp_path / "enc", config=FAST, folds=2, epochs=1)
    assignment = result.provenance["folds"]["assignment"]
    assert set(assignment) == set(train.ids) and sorted(set(assignment.values())) == [0, 1]
    assert seen[1] == set(train.ids)  # the full encoder: every training dialogue
    for fold, trained_on in enumerate(seen[2:]):
        assert trained_on == {i for i, f in assignment.items() if f != fold}
    assert (tmp_path / "enc" / "folds" / "fold1" / "model.safetensors").is_file()
    encoded_by: dict[str, str] = {}
    real_encode = embed_finetuned.__globals__["_Encoder"].encode

    def spy(self, dialogues, **kw):
        encoded_by.update({f"{kw['desc']}:{d.id}": str(self.path) for d in dialogues})
        return real_encode(self, dialogues, **kw)

    monkeypatch.setattr(embed_finetuned.__globals__["_Encoder"], "encode", spy)
    original_init = embed_finetuned.__globals__["_Encoder"].__init__

    def init(self, path, *args):
        self.path = path
        original_init(self, path, *args)

    monkeypatch.setattr(embed_finetuned.__globals__["_Encoder"], "__init__", init)
    features, info = embed_finetuned({"train": train, "dev": dev}, tmp_path / "enc", layers=(-2, -1), progress=False)
    assert info["cross_fitted"] and info["dim"] == 64 and info["context"] == 1
    for d in train.dialogues:
        key = next(k for k in encoded_by if k.startswith("embedding train") and k.endswith(f":{d.id}"))
        assert encoded_by[key].endswith(f"fold{assignment[d.id]}")
        assert features["train"][d.id].shape == (d.length, 64)
    assert all(v == str(tmp_path / "enc") for k, v in encoded_by.items() if k.startswith("embedding dev"))


def test_assign_folds_balances_and_refuses_bad_k() -> None:
    folds = assign_folds([str(i) for i in range(10)], 3, seed=1)
    assert sorted(list(folds.values()).count(f) for f in range(3)) == [3, 3, 4]
    with pytest.raises(ValueError, match="between 2 and"):
        assign_folds(["a", "b"], 3)


def test_resumes_after_a_failure_and_keeps_the_old_encoder(
    tiny_bert: Path, tables: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train, dev = tables
    out = tmp_path / "enc"
    out.mkdir()
    (out / "old.txt").write_text("the previous encoder")
    real_epoch, calls = train_module.train_epoch, []

    def failing_second_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(train_module, "train_epoch", failing_second_epoch)
    with pytest.raises(RuntimeError, match="killed"):
        finetune_text(train, dev, encoder=tiny_bert, out=out, config=FAST)
    assert (out / "old.txt").is_file() and not (out / "vega_finetune.json").exists()  # old one kept, whole
    assert (tmp_path / ".enc.work" / "full" / "checkpoint.pt").is_file()
    calls.clear()
    resumed = finetune_text(train, dev, encoder=tiny_bert, out=out, config=FAST)
    assert len(calls) == 1 and [r["epoch"] for r in resumed.history] == [1, 2]  # only epoch 2 ran again
    monkeypatch.undo()
    fresh = finetune_text(train, dev, encoder=tiny_bert, out=tmp_path / "fresh", config=FAST)
    assert resumed.history == fresh.history  # resuming changes nothing
    assert not (out / "old.txt").exists() and (out / "vega_finetune.json").is_file()


def test_refuses_an_encoder_directory_without_tokenizer(tables: tuple, tmp_path: Path) -> None:
    bare = write_tiny_bert(tmp_path / "bare", tokenizer=False)
    with pytest.raises(ConfigError, match="has no tokenizer") as err:
        finetune_text(*tables, encoder=bare, out=tmp_path / "enc", config=FAST)
    assert "--encoder" in err.value.for_cli() and not (tmp_path / "enc").exists()


def test_refuses_dev_labels_absent_from_train(tiny_bert: Path, tmp_path: Path) -> None:
    two_classes = write_table(tmp_path / "t.csv", 4, seed=0, labels=("neutral", "joy"))
    train = load_dialogue_table(two_classes, label_names=list(LABELS))
    dev = read_table(write_table(tmp_path / "d.csv", 3, seed=1))
    with pytest.raises(ConfigError, match=r"dev labels \{'anger'") as err:
        finetune_text(train, dev, encoder=tiny_bert, out=tmp_path / "enc", config=FAST)
    assert "--labels" in err.value.for_cli()


def test_without_dev_selects_on_a_training_holdout(tiny_bert: Path, tables: tuple, tmp_path: Path) -> None:
    result = finetune_text(tables[0], None, encoder=tiny_bert, out=tmp_path / "enc", config=FAST, epochs=1)
    assert result.dev_source == "train-holdout"
    assert json.loads((tmp_path / "enc" / "vega_finetune.json").read_text())["dev_source"] == "train-holdout"


def test_encoder_info_of_a_finetuned_directory_names_its_origin(tiny_bert: Path, tables: tuple, tmp_path: Path) -> None:
    from vega_anchors.encoders import HFTextEncoder, encoder_info

    finetune_text(*tables, encoder=tiny_bert, out=tmp_path / "enc", config=FAST, epochs=1)
    info = encoder_info(HFTextEncoder(tmp_path / "enc", layers=(-1,)))
    assert info["finetune"]["base_encoder"] == str(tiny_bert) and info["finetune"]["context"] == 1
    assert "history" not in info["finetune"]
    assert "finetune" not in encoder_info(HFTextEncoder(tiny_bert))
