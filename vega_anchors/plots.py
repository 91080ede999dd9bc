"""Pictures of anchors and training runs, as PNG files (needs ``pip install 'vega-anchors[plots]'``).

matplotlib is imported inside each function (``import vega_anchors`` never imports it), and figures
are drawn on their own Agg canvas: no pyplot, no global backend change, safe on headless machines.
Every function writes one PNG atomically and returns its path. The PNG is exactly
``figsize × dpi`` pixels (layout is "constrained", so labels fit inside the figure).

Anchor pictures: :func:`plot_center_heatmap` (centre-to-centre cosines), :func:`plot_projection`
(2-D PCA of exemplars and centres), :func:`plot_contact_sheet` (exemplar thumbnails per class).
Training pictures: :func:`plot_loss_curves`, :func:`plot_metric_curve`, :func:`plot_learning_rate`,
:func:`plot_confusion_matrix`, :func:`plot_per_class_f1`. Hyper-parameter search pictures:
:func:`plot_optimization_history`, :func:`plot_param_importances`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ._io import atomic_write

if TYPE_CHECKING:
    from PIL import Image

    from .anchors.bank import AnchorBank
    from .anchors.diagnostics import AnchorDiagnostics

__all__ = [
    "contact_sheet_figsize",
    "new_figure",
    "pca_2d",
    "plot_center_heatmap",
    "plot_confusion_matrix",
    "plot_contact_sheet",
    "plot_learning_rate",
    "plot_loss_curves",
    "plot_metric_curve",
    "plot_optimization_history",
    "plot_param_importances",
    "plot_per_class_f1",
    "plot_projection",
    "save_figure",
]

History = Sequence[Mapping[str, Any]]


# ---- helpers -------------------------------------------------------------------------------------
def new_figure(figsize: tuple[float, float], dpi: int) -> Any:
    """A matplotlib ``Figure`` on the Agg canvas (no pyplot, no display); a clear error without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "drawing pictures needs matplotlib: pip install 'vega-anchors[plots]' (or pip install matplotlib)"
        ) from err
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``fig`` as a PNG to ``path`` atomically (folders made as needed)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=fig.dpi))


def _epoch_axis(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _class_colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def pca_2d(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Project ``points [N, D]`` onto their first two principal components (torch SVD, no sklearn).

    Returns ``(coords [N, 2], explained [2])``: coordinates of the centred points and the fraction of
    variance each axis explains. Signs are fixed so that the largest |loading| of each axis is positive
    (the same data always gives the same picture).
    """
    x = points.detach().double().cpu()
    x = x - x.mean(0, keepdim=True)
    if x.shape[0] < 2:
        return torch.zeros(x.shape[0], 2), torch.zeros(2)
    _, s, vh = torch.linalg.svd(x, full_matrices=False)
    comps = vh[:2]
    if comps.shape[0] < 2:
        comps = torch.cat([comps, torch.zeros(2 - comps.shape[0], x.shape[1], dtype=x.dtype)])
    signs = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True)))
    comps = comps * torch.where(signs == 0, torch.ones_like(signs), signs)
    var = s**2
    explained = torch.zeros(2, dtype=x.dtype)
    explained[: min(2, len(var))] = (var[:2] / var.sum().clamp(min=1e-12))[:2]
    return (x @ comps.T).float(), explained.float()


# ---- anchors -------------------------------------------------------------------------------------
def plot_center_heatmap(
    source: AnchorBank | AnchorDiagnostics,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    figsize: tuple[float, float] = (6.4, 5.6),
    dpi: int = 100,
) -> Path:
    """Heatmap of the centre-to-centre cosine matrix ``[C, C]`` of a bank (or its diagnostics).

    The colour scale runs from the smallest cosine to 1 so that small differences between similar
    centres stay visible; each cell is annotated when ``C <= 12``.
    """
    from .anchors.diagnostics import AnchorDiagnostics

    diag = source if isinstance(source, AnchorDiagnostics) else source.diagnostics()
    names, matrix = diag.class_names, np.array(diag.center_cosine)
    fig = new_figure(figsize, dpi)
    ax = fig.add_subplot()
    low = float(matrix.min())
    image = ax.imshow(matrix, cmap="viridis", vmin=min(low, 0.999), vmax=1.0)
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    if len(names) <= 12:
        mid = (low + 1.0) / 2
        for i in range(len(names)):
            for j in range(len(names)):
                ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="black" if matrix[i, j] > mid else "white")  # fmt: skip
    fig.colorbar(image, ax=ax, label="cosine")
    ax.set_title(title or "Anchor centres: cosine similarity")
    return save_figure(fig, path)


def plot_projection(
    bank: AnchorBank,
    path: str | os.PathLike[str],
    *,
    title: str | None = None,
    figsize: tuple[float, float] = (7.2, 5.6),
    dpi: int = 100,
) -> Path:
    """2-D PCA (:func:`pca_2d`) of every exemplar (dots) and the class centres (large crosses), one
    colour per class; axes show the explained variance."""
    counts = bank.counts.cpu()
    valid = torch.arange(bank.exemplars.shape[1]) < counts[:, None]
    feats = bank.exemplars.detach().cpu().float()[valid]
    owner = torch.arange(bank.num_classes)[:, None].expand_as(valid)[valid]
    centers = torch.nn.functional.normalize(bank.centers.detach().cpu().float(), dim=-1)
    coords, explained = pca_2d(torch.cat([feats, centers]))
    points, centre_xy = coords[: len(feats)].numpy(), coords[len(feats) :].numpy()
    colors = _class_colors(bank.num_classes)
    fig = new_figure(figsize, dpi)
    ax = fig.add_subplot()
    scale = float(np.ptp(coords.numpy(), axis=0).max()) or 1.0
    for c, name in enumerate(bank.class_names):
        # centres at (nearly) the same spot get their labels stacked instead of printed on top of each other
        close = sum(1 for o in range(c) if np.linalg.norm(centre_xy[o] - centre_xy[c]) < 0.08 * scale)
        mine = (owner == c).numpy()
        ax.scatter(points[mine, 0], points[mine, 1], s=14, alpha=0.6, color=colors[c], label=name)
        ax.scatter(centre_xy[c, 0], centre_xy[c, 1], s=160, marker="X", color=colors[c], edgecolors="black",
                   linewidths=1.2, zorder=3)  # fmt: skip
        ax.annotate(
            name, centre_xy[c], xytext=(8, 6 - 12 * close), textcoords="offset points", fontsize=9, weight="bold"
        )
    ax.set_xlabel(f"PC 1 ({100 * float(explained[0]):.0f}% of variance)")
    ax.set_ylabel(f"PC 2 ({100 * float(explained[1]):.0f}% of variance)")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, title="class (X = centre)")
    ax.set_title(title or "Anchor exemplars and centres (PCA)")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def contact_sheet_figsize(
    num_classes: int, columns: int, thumb_inches: float = 0.6, label_chars: int = 12
) -> tuple[float, float]:
    """The default ``figsize`` of :func:`plot_contact_sheet`: ``columns`` thumbnails of
    ``thumb_inches`` per row, one row per class, plus room for class names of up to ``label_chars``
    characters (left) and the title (top); at least 4 inches wide so the title fits."""
    return (max(4.0, 0.35 + 0.08 * label_chars + columns * thumb_inches), 0.55 + num_classes * thumb_inches)


def plot_contact_sheet(
    bank: AnchorBank | None,
    path: str | os.PathLike[str],
    *,
    images: Mapping[str, Sequence[Image.Image | None]] | None = None,
    images_root: str | os.PathLike[str] | None = None,
    max_per_class: int = 12,
    thumb: int = 64,
    title: str | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: int = 100,
) -> Path:
    """Thumbnails of the chosen exemplar images, one row per class (first ``max_per_class`` each).

    Images come from ``images`` (``{class: [PIL image or None]}``) or else from ``bank.sources``
    (recorded by :meth:`AnchorBank.from_pool`), re-opened with
    :func:`~vega_anchors.anchors.pools.load_source_images` (relative paths under ``images_root``).
    Missing images are drawn as grey tiles with a cross.

    Raises:
        ValueError: neither ``images`` nor ``bank.sources`` is available.
    """
    from PIL import Image, ImageDraw, ImageOps

    if images is None:
        sources = getattr(bank, "sources", None)
        if not sources:
            raise ValueError(
                "this bank does not record its source images (it was not built with AnchorBank.from_pool / "
                "vega-anchors build-anchors); pass images= to draw a contact sheet"
            )
        from .anchors.pools import load_source_images

        wanted = {name: list(ids)[:max_per_class] for name, ids in sources.items()}
        flat = [s for ids in wanted.values() for s in ids]
        opened = iter(load_source_images(flat, images_root))
        images = {name: [next(opened) for _ in ids] for name, ids in wanted.items()}
    names = list(images)
    columns = max(1, min(max_per_class, max(len(v) for v in images.values()) if images else 1))
    pad = 2
    sheet = np.full((len(names) * (thumb + pad), columns * (thumb + pad), 3), 255, dtype=np.uint8)
    missing = 0
    for r, name in enumerate(names):
        for c, img in enumerate(list(images[name])[:columns]):
            if img is None:
                missing += 1
                tile = Image.new("RGB", (thumb, thumb), (200, 200, 200))
                draw = ImageDraw.Draw(tile)
                draw.line((0, 0, thumb, thumb), fill=(120, 120, 120), width=2)
                draw.line((0, thumb, thumb, 0), fill=(120, 120, 120), width=2)
            else:
                tile = ImageOps.fit(img.convert("RGB"), (thumb, thumb))
            y, x = r * (thumb + pad), c * (thumb + pad)
            sheet[y : y + thumb, x : x + thumb] = np.asarray(tile)
    longest = max((len(n) for n in names), default=1)
    fig = new_figure(figsize or contact_sheet_figsize(len(names), columns, label_chars=longest), dpi)
    ax = fig.add_subplot()
    # aspect="auto": the sheet fills the axes that the layout leaves beside the class names (with a
    # fixed aspect, a narrow figure can push the names off the left edge)
    ax.imshow(sheet, interpolation="nearest", aspect="auto")
    ax.set_yticks([r * (thumb + pad) + thumb / 2 for r in range(len(names))], names)
    ax.set_xticks([])
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    note = f" ({missing} missing)" if missing else ""
    ax.set_title(title or f"Anchor exemplars, first {columns} per class{note}", fontsize=10)
    return save_figure(fig, path)


# ---- training ------------------------------------------------------------------------------------
def _selection_prefix(history: History) -> str:
    for record in history:
        for key in record:
            if key.endswith("_weighted_f1"):
                return key[: -len("_weighted_f1")]
    return "validation"


def plot_loss_curves(
    histories: Mapping[str, History],
    path: str | os.PathLike[str],
    *,
    figsize: tuple[float, float] | None = None,
    dpi: int = 100,
) -> Path:
    """Loss per epoch, one panel per loss family (``train_loss`` terms such as total, cls, cls_kl,
    anchor, anchor_kl, and the selection split's loss), one line per run (``histories``: ``{label:
    fit history}``, e.g. one per seed). Default ``figsize``: 3.6 in per panel, 3 panels per row.
    """
    families: list[str] = []
    for history in histories.values():
        for record in history:
            for key in record.get("train_loss", {}):
                if key not in families:
                    families.append(key)
    prefixes = {_selection_prefix(h) for h in histories.values()}
    panels: list[tuple[str, tuple[str, str | None]]] = [(f"train {k}", ("train_loss", k)) for k in families]
    panels += [(f"{p} loss", (f"{p}_loss", None)) for p in sorted(prefixes)]
    cols = min(3, max(1, len(panels)))
    rows = math.ceil(max(1, len(panels)) / cols)
    fig = new_figure(figsize or (3.6 * cols, 2.9 * rows), dpi)
    axes = fig.subplots(rows, cols, squeeze=False)
    colors = _class_colors(len(histories))
    for n, (label, (key, sub)) in enumerate(panels):
        ax = axes[n // cols][n % cols]
        for (run, history), color in zip(histories.items(), colors, strict=True):
            xs, ys = [], []
            for record in history:
                value = record.get(key)
                value = value.get(sub) if sub is not None and isinstance(value, Mapping) else value
                if isinstance(value, (int, float)) and math.isfinite(value):
                    xs.append(record["epoch"])
                    ys.append(value)
            if xs:
                ax.plot(xs, ys, marker="." if len(xs) < 30 else None, color=color, label=run)
        ax.set_title(label)
        _epoch_axis(ax)
        ax.grid(alpha=0.3)
        if len(histories) > 1 and n == 0:
            ax.legend(fontsize=8)
    for n in range(len(panels), rows * cols):
        axes[n // cols][n % cols].set_visible(False)
    fig.suptitle("Loss per epoch")
    return save_figure(fig, path)


def plot_metric_curve(
    histories: Mapping[str, History],
    path: str | os.PathLike[str],
    *,
    metric: str = "weighted_f1",
    figsize: tuple[float, float] = (6.4, 4.0),
    dpi: int = 100,
) -> Path:
    """``<selection split>_<metric>`` per epoch (dev/validation weighted F1 by default), one line per
    run; the best epoch of each run is marked with a star."""
    fig = new_figure(figsize, dpi)
    ax = fig.add_subplot()
    prefix = "validation"
    for (run, history), color in zip(histories.items(), _class_colors(len(histories)), strict=True):
        prefix = _selection_prefix(history)
        key = f"{prefix}_{metric}"
        pts = [(r["epoch"], r[key]) for r in history if isinstance(r.get(key), (int, float))]
        if not pts:
            continue
        xs, ys = zip(*pts, strict=True)
        ax.plot(xs, ys, color=color, label=run, marker="." if len(xs) < 30 else None)
        best = history[-1].get("best_epoch")
        if best in xs:
            ax.scatter([best], [ys[xs.index(best)]], marker="*", s=180, color=color, edgecolors="black", zorder=3)
    label = f"{prefix} {metric.replace('_', ' ').replace('f1', 'F1')}"
    _epoch_axis(ax)
    ax.set_ylabel(label)
    ax.set_title(f"{label} per epoch (star = selected epoch)")
    ax.grid(alpha=0.3)
    if len(histories) > 1:
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_learning_rate(
    histories: Mapping[str, History],
    path: str | os.PathLike[str],
    *,
    figsize: tuple[float, float] = (6.4, 3.2),
    dpi: int = 100,
) -> Path:
    """The learning rate (``lr`` of each history record) per epoch, one line per run."""
    fig = new_figure(figsize, dpi)
    ax = fig.add_subplot()
    for (run, history), color in zip(histories.items(), _class_colors(len(histories)), strict=True):
        pts = [(r["epoch"], r["lr"]) for r in history if isinstance(r.get("lr"), (int, float))]
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.plot(xs, ys, color=color, label=run)
    _epoch_axis(ax)
    ax.set_ylabel("learning rate")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
    ax.set_title("Learning rate")
    ax.grid(alpha=0.3)
    if len(histories) > 1:
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_confusion_matrix(
    confusion: Sequence[Sequence[float]] | np.ndarray,
    class_names: Sequence[str],
    path: str | os.PathLike[str],
    *,
    normalize: bool = True,
    title: str | None = None,
    figsize: tuple[float, float] = (6.4, 5.6),
    dpi: int = 100,
) -> Path:
    """Confusion matrix ``[C, C]`` (rows = true class, columns = predicted); with ``normalize`` each
    row is divided by its total (rows with no items stay 0), so the diagonal is per-class recall."""
    matrix = np.asarray(confusion, dtype=np.float64)
    if matrix.shape != (len(class_names), len(class_names)):
        raise ValueError(f"confusion must be [C, C] for {len(class_names)} classes, got {matrix.shape}")
    shown = matrix / np.maximum(matrix.sum(1, keepdims=True), 1e-12) if normalize else matrix
    fig = new_figure(figsize, dpi)
    ax = fig.add_subplot()
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = float(shown.max()) if shown.size else 1.0
    if len(class_names) <= 15:
        for i in range(len(class_names)):
            for j in range(len(class_names)):
                text = f"{shown[i, j]:.2f}" if normalize else f"{int(shown[i, j])}"
                ax.text(j, i, text, ha="center", va="center", fontsize=8,
                        color="white" if shown[i, j] > top / 2 else "black")  # fmt: skip
    fig.colorbar(image, ax=ax, label="fraction of the true class" if normalize else "count")
    ax.set_title(title or ("Confusion matrix (row-normalised)" if normalize else "Confusion matrix"))
    return save_figure(fig, path)


def plot_per_class_f1(
    f1: Sequence[float],
    class_names: Sequence[str],
    path: str | os.PathLike[str],
    *,
    support: Sequence[int] | None = None,
    title: str | None = None,
    figsize: tuple[float, float] = (6.4, 4.0),
    dpi: int = 100,
) -> Path:
    """Horizontal bars of the per-class F1 (0..1), value printed at each bar; ``support`` (items per
    class) is added to the class labels when given."""
    if len(f1) != len(class_names):
        raise ValueError(f"{len(f1)} F1 values for {len(class_names)} classes")
    labels = (
        list(class_names) if support is None else [f"{n} (n={s})" for n, s in zip(class_names, support, strict=True)]
    )
    fig = new_figure(figsize, dpi)
    ax = fig.add_subplot()
    ys = np.arange(len(labels))
    ax.barh(ys, f1, color=_class_colors(len(labels)))
    for y, v in zip(ys, f1, strict=True):
        ax.text(min(v + 0.01, 0.93), y, f"{v:.3f}", va="center", fontsize=8)
    ax.set_yticks(ys, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1")
    ax.set_title(title or "Per-class F1")
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, path)


# ---- hyper-parameter search ----------------------------------------------------------------------
def plot_optimization_history(
    trials: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    metric: str = "dev weighted F1",
    figsize: tuple[float, float] = (6.4, 4.0),
    dpi: int = 100,
) -> Path:
    """Each trial's value by trial number: completed trials as dots, pruned ones as grey crosses at
    their last reported score, and the best value so far as a line. ``trials``: mappings with
    ``number``, ``state`` (``"COMPLETE"``, ``"PRUNED"``, ...), ``value`` and ``last_score``."""
    fig = new_figure(figsize, dpi)
    ax = fig.add_subplot()
    done = [(int(t["number"]), float(t["value"])) for t in trials if t.get("state") == "COMPLETE" and _finite(t)]
    pruned = [
        (int(t["number"]), float(t["last_score"]))
        for t in trials
        if t.get("state") == "PRUNED" and isinstance(t.get("last_score"), (int, float))
    ]
    if pruned:
        xs, ys = zip(*pruned, strict=True)
        ax.scatter(xs, ys, marker="x", color="0.55", label=f"pruned ({len(pruned)}; last score)")
    if done:
        xs, ys = zip(*sorted(done), strict=True)
        ax.scatter(xs, ys, color="tab:blue", zorder=3, label=f"complete ({len(done)})")
        best = np.maximum.accumulate(np.asarray(ys))
        last = max(int(t["number"]) for t in trials)  # the line runs to the latest trial
        ax.step([*xs, last], [*best, best[-1]], where="post", color="tab:red", label="best so far")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title(f"Optimisation history ({len(trials)} trials)")
    ax.grid(alpha=0.3)
    if done or pruned:
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def _finite(trial: Mapping[str, Any]) -> bool:
    value = trial.get("value")
    return isinstance(value, (int, float)) and math.isfinite(value)


def plot_param_importances(
    importances: Mapping[str, float],
    path: str | os.PathLike[str],
    *,
    title: str = "Parameter importances",
    figsize: tuple[float, float] | None = None,
    dpi: int = 100,
) -> Path:
    """Horizontal bars of each parameter's importance (shares summing to 1), largest first."""
    items = sorted(importances.items(), key=lambda kv: kv[1], reverse=True)
    fig = new_figure(figsize or (6.4, max(2.5, 0.4 * len(items) + 1.2)), dpi)
    ax = fig.add_subplot()
    ys = np.arange(len(items))
    values = [float(v) for _, v in items]
    ax.barh(ys, values, color="tab:blue")
    for y, v in zip(ys, values, strict=True):
        ax.text(v + 0.01, y, f"{v:.2f}", va="center", fontsize=8)
    ax.set_yticks(ys, [name for name, _ in items])
    ax.invert_yaxis()
    ax.set_xlim(0, max([*values, 0.0]) * 1.15 + 0.05)
    ax.set_xlabel("importance (share of the value's variance)")
    fig.suptitle(title)  # over the whole figure: long parameter names push the axes right
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, path)
