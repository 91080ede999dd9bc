"""The model cards (``README.md``) of runs and anchor banks shared on the Hugging Face Hub: front matter
and Markdown from a run's own files — its metrics per split and seed, feature recipe, licence reminder
and how to run ``vega-anchors annotate`` with it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["LICENCE_REMINDER", "bank_card", "run_card"]

LICENCE_REMINDER = (
    "Weights trained on a dataset carry that dataset's terms. **MELD** is released under GPL-3.0 "
    "(weights and features trained on it may count as derived work: sharing them under GPL-3.0 is the safe "
    "choice). **IEMOCAP** is "
    "licensed by USC SAIL for academic research only, and its release agreement forbids redistributing "
    "the data. Check the licence of your own data before you push, and say it here."
)
_METRICS = (("weighted_f1", "weighted F1"), ("accuracy", "accuracy"), ("macro_f1", "macro F1"))


def _front_matter(tags: Sequence[str], license_: str | None, datasets: Sequence[str]) -> str:
    lines = ["---", "library_name: vega-anchors", "tags:", *(f"- {t}" for t in tags)]
    if license_:
        lines.append(f"license: {license_}")
    if datasets:
        lines += ["datasets:", *(f"- {d}" for d in datasets)]
    return "\n".join([*lines, "---", ""])


def _cell(record: Mapping[str, Any] | None, key: str) -> str:
    if not record or record.get(key) is None:
        return "–"
    value = float(record[key])
    std = record.get(f"{key}_std")
    return f"{value:.4f} ± {float(std):.4f}" if std is not None else f"{value:.4f}"


def metrics_table(metrics: Mapping[str, Any]) -> str:
    """One row per split and seed (and the mean ± std over seeds) of a run's ``metrics.json``."""
    header = "| split | seed | " + " | ".join(label for _, label in _METRICS) + " | best epoch |"
    rows = [header, "|" + "---|" * (len(_METRICS) + 3)]
    seeds = metrics.get("seeds") or {}
    selected = metrics.get("selected_on", "dev")
    for split in ("test", "dev"):
        name = split if split == "test" else f"{selected} (selection)"
        for seed, record in seeds.items():
            cells = " | ".join(_cell(record.get(split), key) for key, _ in _METRICS)
            rows.append(f"| {name} | {seed} | {cells} | {record.get('best_epoch', '–')} |")
        if metrics.get(split):
            cells = " | ".join(_cell(metrics[split], key) for key, _ in _METRICS)
            rows.append(f"| {name} | mean ± std | {cells} | |")
    return "\n".join(rows)


def _recipe_lines(config: Mapping[str, Any], recipe: Mapping[str, Any] | None) -> list[str]:
    """The feature recipe as Markdown bullets (``feature_recipe.json`` when the run has one, else config.json)."""
    recipe = dict(recipe or {})
    encoder = recipe.get("text_encoder") or config.get("encoder")
    lines = [f"- modalities (feature widths): `{json.dumps(config.get('modalities', {}))}`"]
    if encoder:
        lines.append(
            f"- text encoder: `{encoder.get('name')}` (identity `{encoder.get('identity')}`, backend "
            f"{encoder.get('backend')}, layers {encoder.get('layers') or 'sentence embedding'}, dim "
            f"{encoder.get('dim')}, context turns {encoder.get('context', 0)})"
        )
    for key, label in (("audio_extractor", "audio extractor"), ("visual_extractor", "visual extractor")):
        if recipe.get(key):
            lines.append(f"- {label}: `{' / '.join(recipe[key])}`")
    if recipe.get("num_frames"):
        lines.append(f"- frames per utterance: {recipe['num_frames']}")
    if recipe.get("speakers"):
        lines.append(f"- speakers ({recipe.get('speaker_mode') or 'global'}): {', '.join(recipe['speakers'])}")
    if not recipe:
        lines.append("- (the run has no `feature_recipe.json`: the text encoder above is all it records)")
    return lines


def run_card(
    repo_id: str,
    config: Mapping[str, Any],
    metrics: Mapping[str, Any],
    recipe: Mapping[str, Any] | None,
    *,
    license_: str | None = None,
    datasets: Sequence[str] = (),
) -> str:
    """The ``README.md`` of a shared run: what it predicts, its measured metrics (``metrics.json``),
    its feature recipe, the dataset licence reminder and how to use it."""
    classes = ", ".join(f"`{c}`" for c in config.get("class_names", []))
    model = config.get("model", {})
    seeds = config.get("seeds", [])
    parts = [
        _front_matter(["emotion-recognition", "erc", "merc", "vega", "vega-anchors"], license_, datasets),
        f"# {repo_id}",
        "",
        "A VEGA (ACM MM 2025) emotion-recognition-in-conversation model trained with "
        f"`vega-anchors train`: classes {classes}; modalities {', '.join(config.get('modalities', {}))}; "
        f"anchors `{config.get('anchors')}`; hidden size {model.get('hidden_dim')}; "
        f"{len(seeds)} seed(s) {seeds}, whose predictions are averaged.",
        "",
        "## Measured metrics",
        "",
        f"From the run's `metrics.json` (model selected on `{metrics.get('selected_on', 'dev')}`):",
        "",
        metrics_table(metrics),
        "",
        "## Feature recipe",
        "",
        "Inputs must be built exactly this way (`vega-anchors annotate` rebuilds them from a video):",
        "",
        *_recipe_lines(config, recipe),
        "",
        "## Use",
        "",
        "```bash",
        'pip install "vega-anchors[hub,media,smile,text]"',
        f"vega-anchors annotate VIDEO.mp4 --transcript VIDEO.srt --model {repo_id} --out annotated/",
        f"vega-anchors predict {repo_id} --features STORE.safetensors --out predictions.csv",
        "```",
        "",
        "```python",
        "from vega_anchors.hub import PretrainedRun",
        "",
        f'run = PretrainedRun.from_pretrained("{repo_id}").run  # a vega_anchors.runs.Run',
        "```",
        "",
        "Offline, pass the folder instead of the id (`huggingface-cli download "
        f"{repo_id} --local-dir DIR` on a machine with network).",
        "",
        "## Data licence",
        "",
        LICENCE_REMINDER,
        "",
    ]
    return "\n".join(parts)


def bank_card(repo_id: str, meta: Mapping[str, Any], *, license_: str | None = None) -> str:
    """The ``README.md`` of a shared :class:`~vega_anchors.AnchorBank` (its header metadata ``meta``)."""
    counts = meta.get("counts") or []
    per_class = ", ".join(f"`{c}` ({n})" for c, n in zip(meta.get("class_names", []), counts, strict=False))
    identity = meta.get("encoder_identity")
    encoder = (
        f"text encoder `{identity.get('name')}` (identity `{identity.get('identity')}`)"
        if isinstance(identity, Mapping)
        else f"image encoder `{meta.get('encoder_name')}` (`{meta.get('pretrained')}`)"
    )
    sources = meta.get("sources")
    parts = [
        _front_matter(["emotion-recognition", "vega-anchors", "anchor-bank"], license_, ()),
        f"# {repo_id}",
        "",
        f"A vega-anchors `AnchorBank`: {meta.get('dim')}-dim exemplar features per class — {per_class} — "
        f"embedded by the {encoder}."
        + (" The exemplars' source ids are in the file's metadata (`sources`)." if sources else ""),
        "",
        "```bash",
        f"vega-anchors train --features STORE.safetensors --anchors {repo_id} --out run/",
        "```",
        "",
        "## Data licence",
        "",
        LICENCE_REMINDER,
        "",
    ]
    return "\n".join(parts)
