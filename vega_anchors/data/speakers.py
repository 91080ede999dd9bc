"""Speaker names → speaker ids: :class:`SpeakerMap`, fitted on the training split and reused for dev/test."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .tables import DialogueTable, RawDialogue

logger = logging.getLogger(__name__)

__all__ = ["OTHER_SPEAKER", "SpeakerMap"]

OTHER_SPEAKER = "other"
"""Name of the shared speaker id for speakers outside a :class:`SpeakerMap`'s top N."""


@dataclass
class SpeakerMap:
    """Speaker names → ids, fitted on the training split and reused for dev/test.

    ``mode="global"``: the ``top_n`` most frequent training speakers get ids ``0..N-1`` (ties broken
    by name) and every other speaker — rarer or unseen — shares id ``N`` (``"other"``). The unnamed
    speaker ``""`` (an empty or null speaker cell) never takes a named slot: it is always ``"other"``.
    ``mode="per_dialogue"``: ids are the order of first appearance within each dialogue
    (``0, 1, ...``), capped at ``top_n`` (later speakers share the last id) — the "party" ids of
    IEMOCAP/DialogueRNN-style features.

    Attributes:
        names: the named speakers (global mode), id order.
        mode: ``"global"`` or ``"per_dialogue"``.
        top_n: the cap.
    """

    names: list[str]
    mode: Literal["global", "per_dialogue"] = "global"
    top_n: int = 8
    _index: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in ("global", "per_dialogue"):
            raise ValueError(f"mode must be 'global' or 'per_dialogue', got {self.mode!r}")
        self._index = {name: i for i, name in enumerate(self.names)}

    @classmethod
    def fit(
        cls,
        train: DialogueTable | Iterable[RawDialogue],
        *,
        top_n: int | None = 8,
        mode: Literal["global", "per_dialogue"] = "global",
    ) -> SpeakerMap:
        """Fit on the training dialogues. ``top_n=None`` names every training speaker."""
        dialogues = train.dialogues if isinstance(train, DialogueTable) else list(train)
        if top_n is not None and top_n < 1:
            raise ValueError(f"top_n must be >= 1 (or None for every speaker), got {top_n}")
        if mode == "per_dialogue":
            longest = max((len(dict.fromkeys(d.speakers)) for d in dialogues), default=1)
            return cls([], mode, top_n if top_n is not None else longest)
        counts = Counter(s for d in dialogues for s in d.speakers if s)  # "" (no name) is always "other"
        ranked = sorted(counts, key=lambda s: (-counts[s], s))
        names = ranked if top_n is None else ranked[:top_n]
        if len(ranked) > len(names):
            covered = sum(counts[s] for s in names) / max(sum(counts.values()), 1)
            logger.info(
                "speakers: top %d of %d cover %.1f%% of training utterances; the rest share %r",
                len(names),
                len(ranked),
                100 * covered,
                OTHER_SPEAKER,
            )
        return cls(names, mode, len(names))

    @property
    def num_speakers(self) -> int:
        """Number of speaker ids (``N + 1`` with the shared "other" id; ``top_n`` per dialogue)."""
        return len(self.names) + 1 if self.mode == "global" else self.top_n

    @property
    def id_names(self) -> list[str]:
        """A readable name per id."""
        if self.mode == "global":
            return [*self.names, OTHER_SPEAKER]
        return [f"party {i}" for i in range(self.top_n)]

    def encode(self, speakers: Sequence[str]) -> list[int]:
        """Ids for one dialogue's speakers (in order)."""
        if self.mode == "global":
            other = len(self.names)
            return [self._index.get(s, other) for s in speakers]
        order: dict[str, int] = {}
        return [min(order.setdefault(s, len(order)), self.top_n - 1) for s in speakers]

    def to_dict(self) -> dict[str, Any]:
        return {"names": list(self.names), "mode": self.mode, "top_n": self.top_n}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpeakerMap:
        return cls(list(data["names"]), data.get("mode", "global"), int(data.get("top_n", len(data["names"]))))
