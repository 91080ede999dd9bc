"""One self-contained HTML page for an :class:`~vega_anchors.annotate.Annotation` (no network).

The page holds a video player (the video by relative path, or copied next to the page), a timeline of
the utterances coloured by their predicted emotion (clicking one seeks the player to its start), a
legend, a summary per speaker (shares of their utterances per emotion) and, per utterance, a face
thumbnail from the frames the model saw (``data:`` URIs), its text and class probabilities. Styles
and the few lines of script are inline; every string from the transcript is HTML-escaped.
"""

from __future__ import annotations

import html
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["class_colors", "render_page", "video_source", "write_annotation"]

_KNOWN = {
    "neutral": "#9e9e9e",
    "happy": "#f2b701",
    "joy": "#f2b701",
    "excited": "#e68310",
    "surprise": "#11a579",
    "sad": "#3969ac",
    "sadness": "#3969ac",
    "anger": "#e73f74",
    "angry": "#e73f74",
    "frustration": "#80ba5a",
    "fear": "#7f3c8d",
    "disgust": "#008695",
}
_PALETTE = ("#4b4b8f", "#cf1c90", "#f97b72", "#a5aa99", "#3d7f3d", "#b15928", "#6a3d9a", "#1f78b4")

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#fafafa;color:#222}
header{padding:12px 20px;background:#fff;border-bottom:1px solid #ddd}h1{font-size:20px;margin:0 0 4px}
.note{color:#555;font-size:13px;margin:2px 0}main{display:grid;grid-template-columns:minmax(320px,560px) 1fr;gap:20px;
padding:16px 20px}video{width:100%;background:#000;border-radius:4px}h2{font-size:16px;margin:14px 0 6px}
.timeline{position:relative;height:28px;background:#e8e8e8;border-radius:3px;margin-top:8px}
.seg{position:absolute;top:2px;bottom:2px;border:0;padding:0;cursor:pointer;border-radius:2px;min-width:3px}
.seg.current{outline:2px solid #000}.legend span{display:inline-block;margin:4px 10px 0 0;font-size:13px}
.sw{display:inline-block;width:12px;height:12px;border-radius:2px;vertical-align:-1px;margin-right:4px}
.stack{display:flex;height:14px;border-radius:2px;overflow:hidden;background:#e8e8e8}
.speaker{margin:6px 0;font-size:13px}
ol{list-style:none;padding:0;margin:0}.utt{display:grid;grid-template-columns:80px 1fr;gap:10px;background:#fff;
border:1px solid #ddd;border-left:6px solid #999;border-radius:4px;padding:8px;margin-bottom:8px;cursor:pointer}
.utt.current{box-shadow:0 0 0 2px #000}.utt img{width:80px;height:auto;border-radius:3px;background:#ddd}
.noimg{width:80px;height:80px;background:#ddd;border-radius:3px}.meta{font-size:12px;color:#555}
.text{margin:2px 0 6px}.probs{display:grid;grid-template-columns:max-content 1fr max-content;gap:1px 6px;font-size:11px}
.bar{height:9px;margin-top:3px;background:#e8e8e8;border-radius:2px}.bar i{display:block;height:100%;border-radius:2px}
"""

_SCRIPT = """
(function(){
  var player=document.getElementById('player');
  var items=[].slice.call(document.querySelectorAll('[data-start]'));
  items.forEach(function(el){el.addEventListener('click',function(){
    player.currentTime=parseFloat(el.getAttribute('data-start'));});});
  player.addEventListener('timeupdate',function(){var t=player.currentTime;
    items.forEach(function(el){var on=t>=parseFloat(el.dataset.start)&&t<parseFloat(el.dataset.end);
      el.classList.toggle('current',on);});});
})();
"""


def class_colors(class_names: Sequence[str]) -> dict[str, str]:
    """A colour per class: fixed ones for common emotion names, a palette for the rest."""
    out: dict[str, str] = {}
    spare = iter(_PALETTE * (1 + len(class_names) // len(_PALETTE)))
    for name in class_names:
        out[name] = _KNOWN.get(name.lower()) or next(spare)
    return out


def _clock(seconds: float) -> str:
    minutes, rest = divmod(max(seconds, 0.0), 60)
    return f"{int(minutes)}:{rest:05.2f}"


def _timeline(annotation: Any, colors: dict[str, str], length: float) -> str:
    parts = []
    for i, (cue, emotion) in enumerate(zip(annotation.transcript.cues, annotation.emotions, strict=True)):
        left, width = 100 * cue.start / length, 100 * (cue.end - cue.start) / length
        title = html.escape(f"{_clock(cue.start)} {cue.speaker + ': ' if cue.speaker else ''}{cue.text} — {emotion}")
        parts.append(
            f'<button class="seg" id="seg-{i}" data-start="{cue.start:.3f}" data-end="{cue.end:.3f}" title="{title}" '
            f'style="left:{left:.3f}%;width:{width:.3f}%;background:{colors[emotion]}"></button>'
        )
    return f'<div id="timeline" class="timeline">{"".join(parts)}</div>'


def _speakers(annotation: Any, colors: dict[str, str]) -> str:
    cues, emotions = annotation.transcript.cues, annotation.emotions
    names = list(dict.fromkeys(c.speaker for c in cues))
    rows = []
    for name in names:
        counts = Counter(e for c, e in zip(cues, emotions, strict=True) if c.speaker == name)
        total = sum(counts.values())
        stack = "".join(
            f'<i style="width:{100 * counts[c] / total:.2f}%;background:{colors[c]}" title="{html.escape(c)}"></i>'
            for c in annotation.class_names
            if counts[c]
        )
        shares = ", ".join(
            f"{html.escape(c)} {100 * counts[c] / total:.0f}%" for c in annotation.class_names if counts[c]
        )
        label = html.escape(name) if name else ("unnamed" if annotation.transcript.has_speakers else "all cues")
        rows.append(
            f'<div class="speaker"><b>{label}</b> ({total} utterance{"s" if total != 1 else ""}): {shares}'
            f'<div class="stack">{stack}</div></div>'
        )
    note = "" if annotation.transcript.has_speakers else (
        '<p class="note" id="one-speaker">The transcript names no speakers: all cues are treated as one speaker.</p>'
    )  # fmt: skip
    return f'<section id="speakers"><h2>Speakers</h2>{note}{"".join(rows)}</section>'


def _utterances(annotation: Any, colors: dict[str, str]) -> str:
    items = []
    for i, row in enumerate(annotation.rows()):
        thumb = annotation.thumbnails[i] if i < len(annotation.thumbnails) else None
        image = f'<img alt="face" src="{thumb}">' if thumb else '<div class="noimg"></div>'
        probs = "".join(
            f'<span>{html.escape(c)}</span><div class="bar"><i style="width:{100 * row["prob_" + c]:.1f}%;'
            f'background:{colors[c]}"></i></div><span>{row["prob_" + c]:.2f}</span>'
            for c in annotation.class_names
        )
        speaker = f"<b>{html.escape(row['speaker'])}</b> · " if row["speaker"] else ""
        items.append(
            f'<li class="utt" id="utt-{i}" data-start="{row["start"]:.3f}" data-end="{row["end"]:.3f}" '
            f'style="border-left-color:{colors[row["emotion"]]}">{image}<div><div class="meta">'
            f"{_clock(row['start'])}–{_clock(row['end'])} · {speaker}<b>{html.escape(row['emotion'])}</b></div>"
            f'<div class="text">{html.escape(row["text"])}</div><div class="probs">{probs}</div></div></li>'
        )
    return f'<section><h2>Utterances</h2><ol id="utterances">{"".join(items)}</ol></section>'


def render_page(annotation: Any, video_src: str, *, title: str | None = None, model: str = "") -> str:
    """The page's HTML for ``annotation``; ``video_src`` is the video's URL relative to the page."""
    colors = class_colors(annotation.class_names)
    ends = [c.end for c in annotation.transcript.cues]
    length = max([annotation.duration or 0.0, *ends]) or 1.0
    legend = "".join(
        f'<span><i class="sw" style="background:{colors[c]}"></i>{html.escape(c)}</span>'
        for c in annotation.class_names
    )
    title = title or f"Emotions in {annotation.video.name}"
    source = html.escape(Path(str(annotation.transcript.source)).name or str(annotation.transcript.source))
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{_STYLE}</style></head><body>'
        f'<header><h1>{html.escape(title)}</h1><p class="note">{len(ends)} utterances from {source}; '
        f"model {html.escape(Path(model).name if model else '?')}; emotions predicted per utterance by "
        "vega-anchors annotate.</p></header>"
        f'<main><div><video id="player" controls preload="metadata" src="{html.escape(video_src)}"></video>'
        f'{_timeline(annotation, colors, length)}<div class="legend" id="legend">{legend}</div>'
        f"{_speakers(annotation, colors)}</div>{_utterances(annotation, colors)}</main>"
        f"<script>{_SCRIPT}</script></body></html>\n"
    )


def video_source(video: Path, out_dir: Path, *, copy: bool = False) -> str:
    """The ``src`` of the player: the video's path relative to ``out_dir``; with ``copy``, the video is
    copied into ``out_dir`` (atomically) and referenced by name."""
    if copy:
        import shutil

        from .._io import atomic_write

        target = out_dir / video.name
        if not target.is_file() or target.stat().st_size != video.stat().st_size:
            atomic_write(target, lambda tmp: shutil.copyfile(video, tmp))
        return video.name
    relative = os.path.relpath(video.resolve(), out_dir.resolve())
    return Path(relative).as_posix()


def write_annotation(
    annotation: Any, out_dir: str | os.PathLike[str], *, copy_video: bool = False, model: str = ""
) -> dict[str, Path]:
    """Write ``out_dir/predictions.csv`` and ``out_dir/index.html`` (each atomically; the folder is created).

    Returns:
        ``{"predictions": path, "page": path}``.
    """
    from .._io import atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    src = video_source(annotation.video, out, copy=copy_video)
    predictions = atomic_write_text(out / "predictions.csv", annotation.to_csv())
    page = atomic_write_text(out / "index.html", render_page(annotation, src, model=model))
    return {"predictions": predictions, "page": page}
