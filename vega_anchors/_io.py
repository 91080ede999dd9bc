"""Atomic file writes (a file the library writes is complete or absent, never half-written) and JSON-lines reading."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    """The process umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it over ``path`` only if the block succeeds.

    The temporary file lives in the same directory so the final ``os.replace`` is atomic; on any
    error the temporary file is removed and a previous ``path`` is left untouched. The file gets the
    mode a plain ``open()`` would give it (``0666`` less the umask), not ``mkstemp``'s ``0600``.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600: give the file the mode open() would
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and atomically move the result to ``path``. Returns ``Path(path)``."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def safe_torch_load(path: str | os.PathLike[str]) -> Any:
    """``torch.load(weights_only=True)`` with an error that says why a file was refused.

    ``weights_only=True`` refuses any pickle that would import or call code, so a crafted file
    cannot run anything here; it fails with a ``ValueError`` naming the file instead.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"file not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise ValueError(
            f"refused to load {path}: it cannot be read with torch.load(weights_only=True) "
            f"({type(err).__name__}: {first}). Files that need full unpickling can run arbitrary code; "
            "re-save them as plain state dicts/tensors from a trusted environment."
        ) from err


def jsonl_records(text: str, path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line of JSON-lines ``text`` read from ``path``.

    Raises:
        ValueError: a line that is not valid JSON or not a JSON object (``path`` and the line named).
    """
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip().lstrip("\ufeff")
        if not line:
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} line {number}: not valid JSON ({err.msg})") from err
        if not isinstance(record, dict):
            raise ValueError(f"{path} line {number}: expected a JSON object, got {type(record).__name__}")
        yield number, record


def read_safetensors(
    path: str | os.PathLike[str],
    *,
    what: str,
    writer: str,
    hint: str = "",
    device: str = "cpu",
    keep: Callable[[str], bool] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a vega-anchors safetensors file: ``(tensors, metadata)``, the metadata being the JSON
    stored under the ``"vega_anchors"`` header key. Data only: nothing is unpickled or executed.

    ``what`` names the kind of file and ``writer`` the function that writes it, for error messages.
    ``keep``: read only the tensors whose name it accepts (the others are never read from disk).
    """
    import json

    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    try:
        with safe_open(str(path), framework="pt", device=device) as fh:
            header = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys() if keep is None or keep(k)}  # noqa: SIM118
    except Exception as err:  # safetensors raises several error types for foreign files
        raise ValueError(f"{path} is not a vega-anchors {what} file (safetensors): {err}. {hint}".rstrip()) from err
    if "vega_anchors" not in header:
        raise ValueError(f"{path} has no vega-anchors metadata; was it written by {writer}?")
    try:
        meta = json.loads(header["vega_anchors"])
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is a damaged vega-anchors {what} file (metadata: {err})") from err
    if not isinstance(meta, dict):
        raise ValueError(f"{path} is a damaged vega-anchors {what} file (metadata is not an object)")
    return tensors, meta


def publish_dir(tmp: Path, target: Path) -> None:
    """Move the complete directory ``tmp`` to ``target``: a kill leaves the old ``target`` (or, between
    the two renames, none: the old one waits in ``.<name>.old``), never half a directory."""
    old = target.parent / f".{target.name}.old"
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    if old.exists():
        shutil.rmtree(old)
