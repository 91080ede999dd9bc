"""The training-budget flags that ``train`` and ``ablate`` share, and how they override a recipe."""

from __future__ import annotations

import argparse
from typing import Any

BUDGET_KEYS = ("epochs", "max_steps", "min_steps", "patience", "patience_steps", "batch_size", "lr")


def add_budget_flags(parser: argparse.ArgumentParser) -> None:
    """``--max-steps``, ``--epochs``, ``--min-steps``, ``--patience-steps``, ``--patience``, ``--batch-size``,
    ``--lr``; their help names the default recipe's values."""
    from ..recipes import DEFAULT_TRAIN as recipe

    parser.add_argument(
        "--max-steps", type=int, default=None,
        help=f"the budget in optimizer steps (recipe: {recipe['max_steps']}); epochs follow from the data size",
    )  # fmt: skip
    parser.add_argument(
        "--epochs", type=int, default=None, help="a budget in epochs instead of steps (replaces the step budget)"
    )
    parser.add_argument(
        "--min-steps", type=int, default=None, help=f"no early stop before this step (recipe: {recipe['min_steps']})"
    )
    parser.add_argument(
        "--patience-steps", type=int, default=None,
        help=f"early stop this many steps after the best evaluation (recipe: {recipe['patience_steps']})",
    )  # fmt: skip
    parser.add_argument(
        "--patience", type=int, default=None, help=f"early stop after N evaluations (epochs) without improvement "
        f"(recipe: {recipe['patience'] or 'off'})",
    )  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=None, help=f"recipe: {recipe['batch_size']}")
    parser.add_argument("--lr", type=float, default=None, help=f"peak learning rate (recipe: {recipe['lr']})")


def budget_overrides(args: argparse.Namespace, train: dict[str, Any] | None = None) -> dict[str, Any]:
    """``train`` (TrainConfig overrides, e.g. from ``--config``) updated with the budget flags given."""
    train = dict(train or {})
    for key in BUDGET_KEYS:
        if getattr(args, key) is not None:
            train[key] = getattr(args, key)
    if args.epochs is not None and args.max_steps is None:
        train["max_steps"] = None  # a budget in epochs replaces the recipe's step budget
    return train
