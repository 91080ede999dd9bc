"""The ``vega-anchors`` command: one module per command group, each with ``register(subparsers)``.

Run ``vega-anchors --help`` for the list; each command's ``--help`` for its flags. Errors are
printed as ``vega-anchors COMMAND: error: ...`` (naming the flag to change) with exit status 2; Ctrl-C
ends with one line saying what was kept and how to resume (exit status 130).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ..errors import ConfigError
from . import anchors, annotate, compare, features, finetune, hub, report, runs, tune
from .features import read_any_features

__all__ = ["main", "read_any_features"]

_GROUPS = [features, finetune, runs, anchors, report, compare, annotate, hub, tune]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vega-anchors", description="VEGA for emotion recognition in conversations")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in _GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vega-anchors`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.run(args))
    except ConfigError as err:  # names the fix in flags
        print(f"vega-anchors {args.command}: error: {err.for_cli()}", file=sys.stderr)
        return 2
    except (FileNotFoundError, ValueError) as err:
        print(f"vega-anchors {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # e.g. a disk that filled up or a folder that became read-only mid-run
        print(f"vega-anchors {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        kept = getattr(args, "on_interrupt", "kept: files already written are whole (written atomically)")
        print(f"vega-anchors {args.command}: interrupted; {kept}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
