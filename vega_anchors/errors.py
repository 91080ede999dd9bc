"""Errors that name their fix in the words of the interface in use.

A :class:`ConfigError` carries the problem and two fixes: one in Python arguments
(``columns=TableColumns(dialogue=(...))``) and one in command-line flags (``--dialogue-column A,B``).
``str(err)`` is the Python form; the ``vega-anchors`` command prints :meth:`ConfigError.for_cli`.
It is a :class:`ValueError`, so code that catches ``ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """A problem with the data or settings that the caller can fix.

    Args:
        problem: what is wrong (with the values found).
        python_fix: the fix in Python terms, e.g. ``"pass label_names='auto'"``.
        cli_fix: the same fix as command-line flags, e.g. ``"add --labels auto"``; default: the
            Python fix.
    """

    def __init__(self, problem: str, *, python_fix: str, cli_fix: str | None = None) -> None:
        self.problem = problem
        self.python_fix = python_fix
        self.cli_fix = cli_fix if cli_fix is not None else python_fix
        super().__init__(f"{problem}. Fix: {python_fix}")

    def for_cli(self) -> str:
        """The message with the command-line fix."""
        return f"{self.problem}. Fix: {self.cli_fix}"
