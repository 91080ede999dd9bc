"""No data lost: a write that fails midway leaves the previous file intact and no temporary file.

Each writer of the library is run once to create its file; then the serializer it uses is made to
write part of its output and fail (``OSError`` as for a full disk, or ``KeyboardInterrupt`` as for
Ctrl-C), and the second write must change nothing on disk.
"""

from __future__ import annotations

import ast
import os
import pathlib
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import safetensors.torch
import torch
from reliability_helpers import meld_data, meld_model, tiny_bank

import vega_anchors
from vega_anchors import VEGAConfig
from vega_anchors._io import atomic_path, atomic_write
from vega_anchors.official import save_feature_pickle
from vega_anchors.training import TrainConfig, fit, save_checkpoint

PACKAGE = Path(vega_anchors.__file__).resolve().parent
PARTIAL = b"\x80\x04 half of a file"


# ---------------------------------------------------------------------------- sabotage
def _failing(dest: Callable[..., Any], error: BaseException) -> Callable[..., None]:
    """A stand-in serializer that writes a few bytes to its destination and then raises ``error``."""

    def broken(*args: Any, **kwargs: Any) -> None:
        target = dest(*args, **kwargs)
        if hasattr(target, "write"):
            target.write(PARTIAL)
            target.flush()
        else:
            with open(target, "wb") as fh:
                fh.write(PARTIAL)
        raise error

    return broken


# serializer: (module, attribute, how to find the destination among its arguments)
SERIALIZERS: dict[str, tuple[Any, str, Callable[..., Any]]] = {
    "torch.save": (torch, "save", lambda obj, f, *a, **k: f),
    "safetensors.save_file": (safetensors.torch, "save_file", lambda tensors, filename, *a, **k: filename),
    "Path.write_text": (pathlib.Path, "write_text", lambda self, *a, **k: self),
    "pickle.dump": (pickle, "dump", lambda obj, file, *a, **k: file),
}


# ---------------------------------------------------------------------------- the writers
def _fit_writer(folder: Path, seed: int) -> None:
    data = meld_data(num_train=3, num_test=1)
    model = meld_model(data.label_names, seed=seed)
    config = TrainConfig(
        epochs=1,
        batch_size=4,
        progress=False,
        patience=None,
        seed=seed,
        checkpoint_dir=str(folder / "ckpt"),
        log_path=str(folder / "log.json"),
    )
    fit(model, data.train, val=data.test, config=config)


def _feature_pickle_writer(folder: Path, seed: int) -> None:
    save_feature_pickle(meld_data(num_train=2, num_test=1, seed=seed), folder / "features.pkl", layout="vega")


# writer name: (write(folder, version), serializer it goes through, the files that must survive)
WRITERS: dict[str, tuple[Callable[[Path, int], Any], str, list[str]]] = {
    "AnchorBank.save": (lambda d, v: tiny_bank(seed=v).save(d / "bank.safetensors"), "safetensors.save_file", ["*"]),
    "training.save_checkpoint": (
        lambda d, v: save_checkpoint(d / "last.pt", {"format": "vega-anchors/checkpoint", "w": torch.full((3,), v)}),
        "torch.save",
        ["*"],
    ),
    "fit checkpoints": (_fit_writer, "torch.save", ["ckpt/last.pt", "ckpt/best.pt"]),
    "fit metric log": (_fit_writer, "Path.write_text", ["*"]),
    "VEGAConfig.to_json": (
        lambda d, v: VEGAConfig(hidden_dim=8 * (v + 1)).to_json(d / "config.json"),
        "Path.write_text",
        ["*"],
    ),
    "save_feature_pickle": (_feature_pickle_writer, "pickle.dump", ["*"]),
}


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _cases() -> list[Any]:
    cases = []
    for writer in WRITERS:
        for error in (OSError("disk full"), KeyboardInterrupt()):
            if writer.startswith("fit") and isinstance(error, OSError) != (writer == "fit metric log"):
                continue  # a whole fit per case: one failure kind each keeps the suite fast
            cases.append(pytest.param(writer, error, id=f"{writer}-{type(error).__name__}"))
    return cases


@pytest.mark.parametrize(("writer", "error"), _cases())
def test_failed_write_keeps_previous_file_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: str, error: BaseException
) -> None:
    write, serializer, kept = WRITERS[writer]
    write(tmp_path, 0)
    before = _snapshot(tmp_path)
    assert before, "the writer wrote nothing"
    module, attribute, dest = SERIALIZERS[serializer]
    monkeypatch.setattr(module, attribute, _failing(dest, error))
    with pytest.raises(type(error)):
        write(tmp_path, 1)
    monkeypatch.undo()
    after = _snapshot(tmp_path)
    assert sorted(after) == sorted(before), "a temporary file was left behind"
    for name in before if kept == ["*"] else kept:
        assert after[name] == before[name], f"{name} changed"
    assert all(PARTIAL not in content for content in after.values())


def test_a_successful_write_replaces_the_file_and_keeps_its_name(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    atomic_write(path, lambda p: p.write_bytes(b"one"))
    atomic_write(path, lambda p: p.write_bytes(b"two"))
    assert path.read_bytes() == b"two" and os.listdir(tmp_path) == ["x.bin"]


def test_atomic_path_creates_missing_folders_and_cleans_up_on_error(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c.txt"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("partial")
        assert tmp.parent == target.parent  # same folder: the final rename is atomic
        raise RuntimeError("fail")
    assert not target.exists() and os.listdir(target.parent) == []


# ---------------------------------------------------------------------------- a guard on the source
_WRITE_CALLS = {"torch.save", "save_file", "pickle.dump", "json.dump", "np.save", "np.savez", "numpy.save"}
_WRITE_METHODS = {"write_text", "write_bytes"}
_ATOMIC = {"atomic_write", "atomic_write_text", "atomic_path"}
# Demo assets written into fresh folders (see the module); not user data.
_EXEMPT = {"_io.py", "toy.py", "annotate/_demo.py", "media/benchmark.py"}


def _is_write(call: ast.Call) -> bool:
    name = ast.unparse(call.func)
    if name in _WRITE_CALLS or (isinstance(call.func, ast.Attribute) and call.func.attr in _WRITE_METHODS):
        return True
    if name == "open":
        target = call.args[0] if call.args else None
        if isinstance(target, ast.Constant) and str(target.value).startswith(("/proc/", "/sys/")):
            return False  # a kernel interface (e.g. resetting peak RSS), not a file of data
        mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"), None)
        return isinstance(mode, ast.Constant) and any(c in str(mode.value) for c in "wax+")
    return False


def _is_atomic_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] in _ATOMIC


def _is_publish_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and ast.unparse(node.func).split(".")[-1] == "publish_dir"


def _inside_atomic(node: ast.AST, parents: dict[ast.AST, ast.AST], tree: ast.AST) -> bool:
    child, current = node, parents.get(node)
    while current is not None:
        if isinstance(current, ast.With) and any(_is_atomic_call(item.context_expr) for item in current.items):
            return True
        if isinstance(current, ast.Lambda) and _is_atomic_call(parents.get(current)):
            return True
        if isinstance(current, ast.FunctionDef | ast.AsyncFunctionDef):
            if any(_is_publish_call(other) for other in ast.walk(current)):
                return True  # written into a temporary folder that publish_dir renames into place
            scope = parents.get(current, tree)
            for other in ast.walk(scope):
                if _is_atomic_call(other) and any(
                    isinstance(a, ast.Name) and a.id == current.name
                    for a in other.args  # type: ignore[attr-defined]
                ):
                    return True
        child, current = current, parents.get(current)
    del child
    return False


def test_every_file_write_in_the_library_goes_through_the_atomic_helpers() -> None:
    offenders = []
    for source in sorted(PACKAGE.rglob("*.py")):
        rel = source.relative_to(PACKAGE).as_posix()
        if rel in _EXEMPT:
            continue
        tree = ast.parse(source.read_text(encoding="utf-8"))
        parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _is_write(node) and not _inside_atomic(node, parents, tree):
                offenders.append(f"{rel}:{node.lineno}: {ast.unparse(node)[:80]}")
    assert not offenders, "writes outside vega_anchors._io's atomic helpers:\n" + "\n".join(offenders)
