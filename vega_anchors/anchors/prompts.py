"""Prompt sentences for text anchors: built-in sentences for common emotion names, templates for any
other label, and a prompts-file reader.

A prompts file is JSON (``{"class": ["sentence", ...], ...}``) or plain text with one
``class<TAB>sentence`` per line (blank lines and lines starting with ``#`` are skipped).
:meth:`~vega_anchors.AnchorBank.from_texts` embeds the sentences with the text encoder that made
the features.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import ConfigError
from ..labels import canonical_label

__all__ = ["DEFAULT_TEMPLATES", "EMOTION_PROMPTS", "default_prompts", "read_prompts"]

# Several sentences per emotion (canonical names, see vega_anchors.canonical_label).
EMOTION_PROMPTS: dict[str, list[str]] = {
    "neutral": [
        "I am speaking calmly, with no particular emotion.",
        "Okay, that sounds fine.",
        "Let me tell you what happened today.",
        "A neutral, matter-of-fact statement.",
        "Sure, I will be there at eight.",
        "The person sounds calm and indifferent.",
    ],
    "surprise": [
        "What? Really? I can't believe it!",
        "Oh my God, no way!",
        "Wow, I did not expect that at all!",
        "You're kidding me?!",
        "The person sounds surprised and astonished.",
        "Wait, are you serious?",
    ],
    "fear": [
        "I'm scared, I don't want to go in there.",
        "Oh no, what if something terrible happens?",
        "I'm so nervous, my hands are shaking.",
        "Please, don't hurt me.",
        "The person sounds afraid and anxious.",
        "I'm terrified of what he'll do.",
    ],
    "sad": [
        "I miss her so much, it hurts.",
        "I'm sorry, I just feel so alone.",
        "Everything is falling apart and I can't stop crying.",
        "We broke up last night.",
        "The person sounds sad and heartbroken.",
        "I really thought he loved me.",
    ],
    "happy": [
        "This is the best day ever!",
        "I'm so happy for you, congratulations!",
        "Haha, that's hilarious, I love it!",
        "Yay! We got the apartment!",
        "The person sounds happy and joyful.",
        "I'm so excited, this is great!",
    ],
    "disgust": [
        "Ew, that is disgusting.",
        "Gross, get that away from me.",
        "That's revolting, how could you eat that?",
        "Ugh, you make me sick.",
        "The person sounds disgusted and repulsed.",
        "That is so nasty.",
    ],
    "anger": [
        "How dare you do that to me!",
        "I'm so mad at you right now!",
        "Shut up! Just get out!",
        "You lied to me, I can't believe you!",
        "The person sounds angry and furious.",
        "Stop it, this is ridiculous!",
    ],
}
EMOTION_PROMPTS.update(
    {
        "excited": [
            "I can't wait, this is going to be amazing!",
            "Oh, I'm so thrilled about this!",
            "Let's go, let's do it right now!",
            "The person sounds excited and eager.",
            "This is incredible, I'm buzzing!",
        ],
        "frustration": [
            "Why does this keep happening to me?",
            "I've told you a hundred times already.",
            "Nothing ever works the way it should.",
            "The person sounds frustrated and fed up.",
            "I just can't deal with this anymore.",
        ],
    }
)

DEFAULT_TEMPLATES: tuple[str, ...] = (
    "The emotion here is {label}.",
    "The speaker's emotion is {label}.",
    "This sounds like {label}.",
    "Feeling: {label}.",
    "A line spoken with the emotion {label}.",
    "The person sounds {label}.",
)
"""Templates for labels without built-in sentences; ``{label}`` is the class name (lower-cased,
``_``/``-`` as spaces)."""


def default_prompts(
    class_names: Sequence[str], *, templates: Sequence[str] | str | None = None
) -> dict[str, list[str]]:
    """Prompt sentences per class: the built-in :data:`EMOTION_PROMPTS` for known emotion names
    (after :func:`~vega_anchors.canonical_label`), else ``templates`` (default
    :data:`DEFAULT_TEMPLATES`) filled with the name. With ``templates`` given, every class uses them."""
    chosen = [templates] if isinstance(templates, str) else (list(templates) if templates is not None else None)
    out: dict[str, list[str]] = {}
    for name in class_names:
        known = EMOTION_PROMPTS.get(canonical_label(name))
        if chosen is None and known is not None:
            out[name] = list(known)
            continue
        label = str(name).strip().lower().replace("_", " ").replace("-", " ")
        out[name] = [t.format(label=label) for t in (chosen or DEFAULT_TEMPLATES)]
    return out


def read_prompts(path: str | os.PathLike[str], class_names: Sequence[str] | None = None) -> dict[str, list[str]]:
    """Read a prompts file (JSON object of lists, or ``class<TAB>sentence`` lines).

    With ``class_names``, every class must have at least one sentence and no other class may appear
    (class names compared after :func:`~vega_anchors.canonical_label`); the result uses
    ``class_names``' spelling and order.

    Raises:
        ConfigError: an unreadable file, a missing or unknown class (named, with the fix).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prompts file not found: {path}")
    text = path.read_text(encoding="utf-8-sig")
    prompts: dict[str, list[str]] = {}
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from err
        for name, sentences in data.items():
            if isinstance(sentences, str):
                sentences = [sentences]
            prompts[str(name)] = [str(s) for s in sentences if str(s).strip()]
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if "\t" not in line:
                raise ValueError(f"{path} line {number}: expected 'class<TAB>sentence', got {line[:60]!r}")
            name, sentence = line.split("\t", 1)
            if sentence.strip():
                prompts.setdefault(name.strip(), []).append(sentence.strip())
    if class_names is None:
        return prompts
    by_key = {canonical_label(k): v for k, v in prompts.items()}
    missing = [n for n in class_names if not by_key.get(canonical_label(n))]
    unknown = sorted(set(by_key) - {canonical_label(n) for n in class_names})
    if missing or unknown:
        raise ConfigError(
            f"{path} does not match the classes {list(class_names)}: "
            f"{'no sentences for ' + str(missing) if missing else ''}"
            f"{'; ' if missing and unknown else ''}{'unknown classes ' + str(unknown) if unknown else ''}",
            python_fix="give at least one sentence per class name (and no other classes) in the prompts",
            cli_fix="give at least one 'class<TAB>sentence' line per class in the --prompts file (and no other "
            "classes), or leave out --prompts for the default sentences",
        )
    return {n: list(by_key[canonical_label(n)]) for n in class_names}
