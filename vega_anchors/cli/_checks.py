"""Checks the CLI makes before any work: an ``--out`` it can write, warnings phrased in flags."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import ConfigError

__all__ = ["check_writable", "cli_warning"]


def check_writable(path: str | os.PathLike[str], flag: str = "--out", *, directory: bool = False) -> None:
    """Raise :class:`ConfigError` unless ``path`` (a file, or a folder with ``directory``) can be written:
    its nearest existing folder accepts a new file. Checked before any work, so a bad ``--out`` costs
    nothing."""
    target = Path(path)
    if target.exists() and target.is_dir() != directory:
        kind = "a folder" if target.is_dir() else "a file"
        raise ConfigError(
            f"{flag} {target} is {kind}", python_fix="give another path",
            cli_fix=f"give {flag} a {'folder' if directory else 'file'} path",
        )  # fmt: skip
    folder = target if directory else target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    problem = "is not a folder" if not folder.is_dir() else ""
    if not problem:
        try:
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as err:
            problem = f"cannot be written ({err.strerror or err})"
    if problem:
        raise ConfigError(
            f"{flag} {target}: {folder} {problem}",
            python_fix="give a path in a folder you can write to",
            cli_fix=f"give {flag} a path in a folder you can write to",
        )


_PYTHON_ADVICE = {
    'Use VEGAConfig(input_norm="standardize") (fit_input_normalization / fit do it on the training split).': (
        "vega-anchors train standardizes every input dimension by default (the recipe's input_norm "
        "'standardize'); keep it (do not set input_norm in --config)."
    ),
    'Use VEGAConfig(input_norm="standardize") or scale them.': (
        "vega-anchors train standardizes them by default (do not set input_norm in --config), or scale them."
    ),
}


def cli_warning(text: str) -> str:
    """A data-report warning with its Python advice replaced by the command-line equivalent."""
    for python, cli in _PYTHON_ADVICE.items():
        text = text.replace(python, cli)
    return text
