"""Trained runs and anchor banks on the Hugging Face Hub (extra ``vega-anchors[hub]``).

:class:`PretrainedRun` and :class:`PretrainedBank` are :class:`huggingface_hub.ModelHubMixin` classes:
``save_pretrained(folder)``, ``from_pretrained(hub_id_or_folder)`` and ``push_to_hub(repo_id)``.

A run's folder is itself a run directory that :func:`~vega_anchors.runs.load_run` reads::

    README.md                    the model card: metrics per split and seed, feature recipe, licence, usage
    config.json, metrics.json, per_class.csv, feature_recipe.json, COMPLETE   the run's own files
    anchors.safetensors          the run's AnchorBank, when it has one
    seed-<s>/model.safetensors   each seed's selected weights (safetensors: no code runs on loading)
    seed-<s>/history.json        each seed's per-epoch log

A bank's folder holds ``anchors.safetensors`` (:meth:`~vega_anchors.AnchorBank.save`: exemplar
features, counts, sources, encoder identity), ``config.json`` (the same metadata, readable on the
Hub) and ``README.md``.

:func:`resolve_pretrained` turns a Hub id or a local folder into a local folder; ``train --anchors``,
``predict``/``evaluate`` and ``annotate --model`` accept either through it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from huggingface_hub import ModelCard, ModelHubMixin

from ._hub_card import bank_card, run_card
from ._io import atomic_write, atomic_write_text
from ._rundir import RunFiles
from .anchors.bank import AnchorBank
from .errors import ConfigError
from .runs import Run, flat_state_dict, load_run

logger = logging.getLogger(__name__)

__all__ = ["PretrainedBank", "PretrainedRun", "resolve_pretrained"]

Kind = Literal["run", "anchors"]
_MARKER = {"run": "config.json", "anchors": "anchors.safetensors"}
_WHAT = {"run": "trained run", "anchors": "anchor bank"}
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _offline_error(name: str, kind: Kind, err: BaseException) -> ConfigError:
    what = _WHAT[kind]
    flag = "--anchors" if kind == "anchors" else "RUN_DIR (or annotate --model)"
    return ConfigError(
        f"cannot fetch the {what} {name!r} from the Hugging Face Hub ({type(err).__name__}: {err}), and no local "
        f"folder {name!r} exists",
        python_fix=f"pass the local folder that save_pretrained wrote instead of the Hub id (on a machine with "
        f"network: huggingface-cli download {name} --local-dir DIR, then copy DIR here)",
        cli_fix=f"give {flag} a local folder instead of the Hub id: one written by vega-anchors push ... --local-dir "
        f"DIR, or by huggingface-cli download {name} --local-dir DIR on a machine with network",
    )


def resolve_pretrained(
    name_or_path: str | os.PathLike[str],
    kind: Kind = "run",
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    token: str | bool | None = None,
) -> Path:
    """A local folder (or, for ``kind="anchors"``, a bank file) for a Hub id or a local path.

    Args:
        name_or_path: a folder written by ``save_pretrained`` (or a run directory), a bank
            ``.safetensors`` file (``kind="anchors"``), or a Hub id ``owner/name`` (downloaded into the
            Hugging Face cache; read from the cache when ``HF_HUB_OFFLINE=1``).
        kind: ``"run"`` (the folder holds ``config.json``) or ``"anchors"`` (``anchors.safetensors``).
        revision, cache_dir, token: for :func:`huggingface_hub.snapshot_download`.

    Raises:
        ConfigError: the Hub id cannot be fetched (offline, unknown, private) — the error says how to pass
            a local folder — or the folder is not a ``kind`` folder, or ``huggingface_hub`` is missing.
        FileNotFoundError: ``name_or_path`` is neither an existing path nor a Hub id.
    """
    name = os.fspath(name_or_path)
    path = Path(name).expanduser()
    if path.is_file() and kind == "anchors":
        return path
    if path.is_dir():
        return _checked(path, kind, name)
    if path.exists() or not _REPO_ID.match(name):
        what = "a run directory" if kind == "run" else "an anchor bank file or folder"
        raise FileNotFoundError(f"{name} is not {what} (no such path), nor a Hub id (owner/name)")
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError
    except ImportError as err:  # pragma: no cover - the extra is installed in dev
        raise ConfigError(
            f"reading the Hub id {name!r} needs huggingface_hub",
            python_fix="pip install 'vega-anchors[hub]', or pass a local folder",
        ) from err
    try:
        folder = snapshot_download(name, revision=revision, cache_dir=cache_dir, token=token)
    except (OSError, ValueError, HfHubHTTPError) as err:
        raise _offline_error(name, kind, err) from err
    return _checked(Path(folder), kind, name)


def _checked(folder: Path, kind: Kind, name: str) -> Path:
    if not (folder / _MARKER[kind]).is_file():
        raise ConfigError(
            f"{name} holds no {_MARKER[kind]}: it is not a {_WHAT[kind]} saved by vega-anchors",
            python_fix=f"pass a folder written by {'PretrainedRun' if kind == 'run' else 'PretrainedBank'}"
            ".save_pretrained (or a run directory)",
            cli_fix="give a folder written by vega-anchors push --local-dir, a run directory, or a Hub id",
        )
    return folder


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))


def _card_kwargs(repo_id: str | None, license: str | None, datasets: Sequence[str]) -> dict[str, Any]:
    return {"repo_id": repo_id, "license": license, "datasets": list(datasets)}


class PretrainedRun(
    ModelHubMixin, library_name="vega-anchors", tags=["emotion-recognition", "erc", "vega-anchors"]
):
    """A trained run (:class:`~vega_anchors.runs.Run`) to save, load and push as one Hub repository.

    Example::

        shared = PretrainedRun(load_run("runs/meld"))
        shared.save_pretrained("meld-vega")                  # a folder load_run reads; README.md = the card
        shared.push_to_hub("me/meld-vega", private=True)     # the same folder, uploaded
        run = PretrainedRun.from_pretrained("me/meld-vega").run   # or the folder

    Args:
        run: the loaded run (its directory supplies metrics.json, feature_recipe.json, history).
    """

    def __init__(self, run: Run) -> None:
        self.run = run

    def _save_pretrained(self, save_directory: Path) -> None:
        from safetensors.torch import save_file

        run, source, target = self.run, RunFiles(self.run.directory), RunFiles(save_directory)
        for name in ("config", "metrics", "per_class", "feature_recipe"):
            if getattr(source, name).is_file():
                _copy(getattr(source, name), getattr(target, name))
        if not source.config.is_file():
            target.write_config(run.config)
        if run.bank is not None:
            run.bank.save(target.anchors)
        for seed, net in run.models.items():
            state, meta = flat_state_dict(net.state_dict())
            target.seed_dir(seed).mkdir(parents=True, exist_ok=True)
            atomic_write(target.weights(seed), lambda tmp, s=state, m=meta: save_file(s, str(tmp), m))
            if source.history(seed).is_file():
                _copy(source.history(seed), target.history(seed))
        if source.complete.is_file():  # last, as train writes it: the folder is a finished run
            _copy(source.complete, target.complete)

    def generate_model_card(  # type: ignore[override]
        self, repo_id: str | None = None, license: str | None = None, datasets: Sequence[str] = ()
    ) -> ModelCard:
        """The card: metrics per split and seed, feature recipe, licence reminder, how to annotate with it."""
        directory = Path(self.run.directory)
        recipe_path = RunFiles(directory).feature_recipe
        recipe = json.loads(recipe_path.read_text(encoding="utf-8")) if recipe_path.is_file() else None
        name = repo_id or directory.name
        return ModelCard(run_card(name, self.run.config, self.run.metrics, recipe, license_=license, datasets=datasets))

    def save_pretrained(  # type: ignore[override]
        self,
        save_directory: str | Path,
        *,
        repo_id: str | None = None,
        license: str | None = None,
        datasets: Sequence[str] = (),
        **kwargs: Any,
    ) -> str | None:
        """Write the run's folder (weights, files, ``README.md``) to ``save_directory``; ``repo_id``,
        ``license`` and ``datasets`` go into the card. A previous card there is replaced."""
        (Path(save_directory) / "README.md").unlink(missing_ok=True)
        card = {**_card_kwargs(repo_id, license, datasets), **(kwargs.pop("model_card_kwargs", None) or {})}
        return super().save_pretrained(save_directory, repo_id=repo_id, model_card_kwargs=card, **kwargs)

    def push_to_hub(  # type: ignore[override]
        self, repo_id: str, *, license: str | None = None, datasets: Sequence[str] = (), **kwargs: Any
    ) -> str:
        """Create (or update) ``repo_id`` and upload the folder of :meth:`save_pretrained` in one commit."""
        card = {**_card_kwargs(repo_id, license, datasets), **(kwargs.pop("model_card_kwargs", None) or {})}
        kwargs.setdefault("commit_message", f"vega-anchors run {Path(self.run.directory).name}")
        return super().push_to_hub(repo_id, model_card_kwargs=card, **kwargs)

    @classmethod
    def from_pretrained(  # type: ignore[override]
        cls,
        pretrained_model_name_or_path: str | os.PathLike[str],
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        token: str | bool | None = None,
        device: str = "cpu",
        **kwargs: Any,
    ) -> PretrainedRun:
        """Load a run from a Hub id or a local folder (:func:`resolve_pretrained`); ``.run`` is the
        :class:`~vega_anchors.runs.Run` (models in eval mode on ``device``)."""
        folder = resolve_pretrained(pretrained_model_name_or_path, "run", revision=revision, cache_dir=cache_dir,
                                    token=token)  # fmt: skip
        return super().from_pretrained(folder, device=device, **kwargs)

    @classmethod
    def _from_pretrained(cls, *, model_id: str, device: str = "cpu", **kwargs: Any) -> PretrainedRun:  # type: ignore[override]
        return cls(load_run(model_id, device=device))


class PretrainedBank(ModelHubMixin, library_name="vega-anchors", tags=["vega-anchors", "anchor-bank"]):
    """An :class:`~vega_anchors.AnchorBank` (exemplar features, sources, encoder identity) on the Hub.

    ``PretrainedBank(bank).push_to_hub("me/meld-anchors")``;
    ``PretrainedBank.from_pretrained("me/meld-anchors").bank`` (or a local folder or bank file).
    """

    def __init__(self, bank: AnchorBank, name: str | None = None) -> None:
        self.bank = bank
        self.name = name

    def _save_pretrained(self, save_directory: Path) -> None:
        self.bank.save(save_directory / "anchors.safetensors")
        meta = {"kind": "vega-anchors anchor bank", **self.bank.metadata()}
        atomic_write_text(save_directory / "config.json", json.dumps(meta, indent=1) + "\n")

    def generate_model_card(self, repo_id: str | None = None, license: str | None = None, **_: Any) -> ModelCard:  # type: ignore[override]
        """The bank's card: classes, exemplars per class, encoder, licence reminder, how to train with it."""
        return ModelCard(bank_card(repo_id or self.name or "anchor-bank", self.bank.metadata(), license_=license))

    def save_pretrained(  # type: ignore[override]
        self, save_directory: str | Path, *, repo_id: str | None = None, license: str | None = None, **kwargs: Any
    ) -> str | None:
        """Write ``anchors.safetensors``, ``config.json`` and ``README.md`` to ``save_directory``."""
        (Path(save_directory) / "README.md").unlink(missing_ok=True)
        card = {"repo_id": repo_id, "license": license, **(kwargs.pop("model_card_kwargs", None) or {})}
        return super().save_pretrained(save_directory, repo_id=repo_id, model_card_kwargs=card, **kwargs)

    def push_to_hub(self, repo_id: str, *, license: str | None = None, **kwargs: Any) -> str:  # type: ignore[override]
        """Create (or update) ``repo_id`` and upload the bank's folder in one commit."""
        card = {"repo_id": repo_id, "license": license, **(kwargs.pop("model_card_kwargs", None) or {})}
        return super().push_to_hub(repo_id, model_card_kwargs=card, **kwargs)

    @classmethod
    def from_pretrained(  # type: ignore[override]
        cls,
        pretrained_model_name_or_path: str | os.PathLike[str],
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        token: str | bool | None = None,
        **kwargs: Any,
    ) -> PretrainedBank:
        """Load a bank from a Hub id, a local folder or a bank file (:func:`resolve_pretrained`)."""
        path = resolve_pretrained(pretrained_model_name_or_path, "anchors", revision=revision, cache_dir=cache_dir,
                                  token=token)  # fmt: skip
        file = path if path.is_file() else path / "anchors.safetensors"
        return cls(AnchorBank.load(file), name=os.fspath(pretrained_model_name_or_path))
