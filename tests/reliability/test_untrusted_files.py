"""Untrusted files: crafted pickles run nothing through the data-only loaders; feature pickles warn.

Every payload below would create a marker file when fully unpickled (checked once per payload); each
loader must refuse it with a ValueError naming the file, and the marker must never appear.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import pickle
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from reliability_helpers import tiny_config

import vega_anchors
from vega_anchors import AnchorBank, DualBranchVEGA
from vega_anchors.data import synthetic_dialogues
from vega_anchors.official import (
    load_anchors,
    load_feature_pickle,
    load_model,
    load_official_state_dict,
    read_official_checkpoint,
)
from vega_anchors.official import pickles as pickles_module
from vega_anchors.training import TrainConfig, fit, load_checkpoint

PACKAGE = Path(vega_anchors.__file__).resolve().parent


# ---------------------------------------------------------------------------- payloads
class OpenFile:
    """Unpickling calls ``open(marker, "w")``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


class ShellTouch:
    """Unpickling runs ``os.system("touch marker")``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch '{self.marker}'",))


class ExecCode:
    """Unpickling runs Python source through ``exec``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


PAYLOADS: dict[str, type] = {"open": OpenFile, "os.system": ShellTouch, "exec": ExecCode}


def _write(path: Path, obj: Any, container: str) -> Path:
    if container == "zip":
        torch.save(obj, path)
    elif container == "legacy":
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    else:  # a bare pickle, as some official files are
        path.write_bytes(pickle.dumps(obj, protocol=2))
    return path


# each loader, with the container layout it expects around the payload
def _bank_official(path: Path) -> Any:
    return load_anchors(path)


def _bank_load(path: Path) -> Any:
    return AnchorBank.load(path)


def _model_official(path: Path) -> Any:
    return load_model(path, tiny_config(), None)


def _interop_load(path: Path) -> Any:
    cfg = tiny_config(losses={"anchor": False, "anchor_kl": False})
    return load_official_state_dict(DualBranchVEGA(cfg, None), path)


def _resume(path: Path) -> Any:
    data = synthetic_dialogues("meld", seed=0, modality_dims={"text": 4}, num_train=3, num_test=1)
    cfg = tiny_config(
        modalities={"text": 4}, num_classes=7, class_weights=None, losses={"anchor": False, "anchor_kl": False}
    )
    model = DualBranchVEGA(cfg, None)
    return fit(model, data.train, val=data.test, config=TrainConfig(epochs=1, progress=False), resume_from=path)


LOADERS: dict[str, tuple[Callable[[Path], Any], Callable[[Any], Any]]] = {
    "load_anchors": (
        _bank_official,
        lambda p: {"anchor_center": torch.zeros(1, 4), "anchor_img_dict": {"anger": {"feature": p}}},
    ),
    "AnchorBank.load": (_bank_load, lambda p: {"exemplars": p}),
    "load_model": (_model_official, lambda p: {"state_dict": {"t_cls_temp": p}}),
    "read_official_checkpoint": (read_official_checkpoint, lambda p: {"t_cls_temp": p}),
    "load_official_state_dict": (_interop_load, lambda p: p),
    "training.load_checkpoint": (load_checkpoint, lambda p: {"format": "vega-anchors/checkpoint", "model": p}),
    "fit(resume_from=...)": (_resume, lambda p: {"format": "vega-anchors/checkpoint", "model": {"x": p}}),
}


@pytest.mark.parametrize("payload", list(PAYLOADS))
def test_payloads_are_live(tmp_path: Path, payload: str) -> None:
    """Guard against a vacuous suite: fully unpickling each payload does create its marker."""
    marker = tmp_path / "marker"
    path = _write(tmp_path / "evil.pt", {"x": PAYLOADS[payload](marker)}, "zip")
    torch.load(path, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("container", ["zip", "legacy", "pickle"])
@pytest.mark.parametrize("payload", list(PAYLOADS))
@pytest.mark.parametrize("loader", list(LOADERS))
def test_data_only_loaders_refuse_code(tmp_path: Path, loader: str, payload: str, container: str) -> None:
    load, wrap = LOADERS[loader]
    marker = tmp_path / "pwned"
    path = _write(tmp_path / "evil.pt", wrap(PAYLOADS[payload](marker)), container)
    with pytest.raises(ValueError, match=re.escape(str(path))):
        load(path)
    assert not marker.exists()


def test_refusal_says_why(tmp_path: Path) -> None:
    path = _write(tmp_path / "evil.pt", {"anchor_img_dict": OpenFile(tmp_path / "m")}, "zip")
    with pytest.raises(ValueError, match=r"weights_only=True") as info:
        load_anchors(path)
    assert "arbitrary code" in str(info.value)


def test_open_clip_checkpoint_is_loaded_data_only(tmp_path: Path, tiny_clip_model_name: str) -> None:
    from vega_anchors.encoders import OpenCLIPImageEncoder

    marker = tmp_path / "pwned"
    path = _write(tmp_path / "clip.pt", {"state_dict": {"visual.proj": OpenFile(marker)}}, "zip")
    with pytest.raises(RuntimeError, match=re.escape("clip.pt")):
        OpenCLIPImageEncoder(tiny_clip_model_name, pretrained=str(path), device="cpu")
    assert not marker.exists()


# ---------------------------------------------------------------------------- safetensors banks
@pytest.mark.parametrize(
    ("metadata", "all_tensors"),
    [
        ("not json", True),
        (json.dumps({"x": 1}), True),
        (json.dumps([1, 2]), True),
        (json.dumps({"class_names": ["a"]}), False),
    ],
    ids=["not-json", "no-class-names", "a-list", "missing-tensors"],
)
def test_damaged_bank_metadata_is_a_value_error(tmp_path: Path, metadata: str, all_tensors: bool) -> None:
    from safetensors.torch import save_file

    tensors = {"exemplars": torch.zeros(1, 2, 3)}
    if all_tensors:
        tensors.update(counts=torch.tensor([1]), center_means=torch.zeros(1, 3))
    save_file(tensors, str(tmp_path / "bank.safetensors"), metadata={"vega_anchors": metadata})
    with pytest.raises(ValueError, match=r"bank\.safetensors"):
        AnchorBank.load(tmp_path / "bank.safetensors")


def test_bank_header_claiming_huge_size_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bank.safetensors"
    path.write_bytes(struct.pack("<Q", 2**62) + b"{}")
    with pytest.raises(ValueError, match=r"bank\.safetensors"):
        AnchorBank.load(path)


# ---------------------------------------------------------------------------- feature pickles
def test_feature_pickles_document_that_only_trusted_files_may_be_opened() -> None:
    for doc in (pickles_module.__doc__, load_feature_pickle.__doc__):
        assert doc is not None and "arbitrary code" in doc and "TRUSTED" in doc


_EVENTS: list[str] = []


def _record_unpickling() -> str:
    _EVENTS.append("unpickled")
    return "payload ran"


class _RecordsUnpickling:
    def __reduce__(self) -> tuple[Any, ...]:
        return (_record_unpickling, ())


class _RecordsTrustWarning(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if "only trusted files" in record.getMessage():
            _EVENTS.append("warning")


def test_feature_pickle_warns_before_unpickling(tmp_path: Path) -> None:
    """Feature pickles are plain pickles by nature: the loader cannot make them safe, so it warns
    (through logging) before it unpickles."""
    path = tmp_path / "features.pkl"
    path.write_bytes(pickle.dumps(_RecordsUnpickling()))
    handler = _RecordsTrustWarning(logging.WARNING)
    logger = logging.getLogger("vega_anchors.official.pickles")
    logger.addHandler(handler)
    _EVENTS.clear()
    try:
        with pytest.raises(ValueError):  # the payload returned a str, not a feature layout
            load_feature_pickle(path)
    finally:
        logger.removeHandler(handler)
    assert _EVENTS[:2] == ["warning", "unpickled"]


# ---------------------------------------------------------------------------- a guard on the source
def _calls(tree: ast.AST) -> list[tuple[str, ast.Call]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            found.append((name, node))
    return found


def test_library_code_never_unpickles_outside_the_feature_loader() -> None:
    """Every ``torch.load`` in the package passes ``weights_only=True``; ``pickle.load`` and
    other code-running loaders appear only in the feature-pickle module."""
    unsafe = {"pickle.load", "pickle.loads", "torch.jit.load", "dill.load", "joblib.load", "marshal.loads"}
    for source in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(source.read_text(encoding="utf-8"))
        rel = source.relative_to(PACKAGE).as_posix()
        for name, call in _calls(tree):
            if name == "torch.load":
                flags = {kw.arg: ast.unparse(kw.value) for kw in call.keywords}
                assert flags.get("weights_only") == "True", f"{rel}:{call.lineno} torch.load without weights_only=True"
            if name in unsafe:
                assert rel == "official/pickles.py", f"{rel}:{call.lineno} calls {name}"
            if name.endswith("np.load") or name == "numpy.load":
                flags = {kw.arg: ast.unparse(kw.value) for kw in call.keywords}
                assert flags.get("allow_pickle", "False") == "False", f"{rel}:{call.lineno} np.load(allow_pickle)"
