"""The docs stay honest: every public name is in docs/api.md, and every Python sample runs.

A ```python block is executed unless the line before it is ``<!-- no-run -->`` (samples that need
real files, downloads or a GPU). Each block runs in a fresh namespace with a temporary working
directory; README.md's blocks are checked the same way when it exists.
"""

from __future__ import annotations

import importlib
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
NO_RUN = "<!-- no-run -->"
API_MODULES = (
    "vega_anchors",
    "vega_anchors.data",
    "vega_anchors.training",
    "vega_anchors.official",
    "vega_anchors.losses",
    "vega_anchors.heads",
    "vega_anchors.bench",
    "vega_anchors.metrics",
    "vega_anchors.models",
    "vega_anchors.encoders",
    "vega_anchors.images",
    "vega_anchors.anchors.folder",
    "vega_anchors.anchors.pools",
    "vega_anchors.anchors.selection",
    "vega_anchors.anchors.diagnostics",
    "vega_anchors.plots",
    "vega_anchors.run_report",
    "vega_anchors.distributed",
    "vega_anchors.toy",
    "vega_anchors.media",
    "vega_anchors.features",
    "vega_anchors.runs",
    "vega_anchors.hub",
    "vega_anchors.recipes",
    "vega_anchors.baselines",
    "vega_anchors.finetune",
    "vega_anchors.errors",
    "vega_anchors.anchors.prompts",
    "vega_anchors.anchors",
    "vega_anchors.annotate",
    "vega_anchors.tuning",
)
_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)$")


def _markdown_files() -> list[Path]:
    files = sorted(DOCS.glob("*.md"))
    readme = ROOT / "README.md"
    return [*files, readme] if readme.is_file() else files


def python_blocks(path: Path) -> list[tuple[int, str, bool]]:
    """``(first line number, code, runnable)`` for each fenced ```python block of ``path``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[tuple[int, str, bool]] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        info = match["info"].strip().lower()
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        i += 1  # closing fence
        if info.split(" ")[0] in ("python", "py"):
            previous = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), "")
            blocks.append((start + 1, textwrap.dedent("\n".join(body)) + "\n", previous != NO_RUN))
    return blocks


def _cases() -> list[pytest.param]:
    cases = []
    for path in _markdown_files():
        for line, code, runnable in python_blocks(path):
            if runnable:
                cases.append(pytest.param(path, line, code, id=f"{path.relative_to(ROOT)}:{line}"))
    return cases


def test_docs_have_runnable_samples() -> None:
    assert len(_cases()) >= 10


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny samples run fastest on one thread (and do not crawl on a busy machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize(("path", "line", "code"), _cases())
def test_python_sample_runs(
    path: Path, line: int, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_thread: None
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs_sample__"}
    compiled = compile(code, f"{path.relative_to(ROOT)}:{line}", "exec")
    exec(compiled, namespace)


def _public_names() -> dict[str, list[str]]:
    names = {module: list(importlib.import_module(module).__all__) for module in API_MODULES}
    return names


def test_api_reference_covers_every_public_name() -> None:
    text = (DOCS / "api.md").read_text(encoding="utf-8")
    spans = re.findall(r"`([^`\n]+)`", text)
    missing = {
        module: [n for n in names if not any(re.search(rf"(?<![\w.]){re.escape(n)}\b", s) for s in spans)]
        for module, names in _public_names().items()
    }
    missing = {module: names for module, names in missing.items() if names}
    assert not missing, f"public names missing from docs/api.md (inside `code`): {missing}"


def test_no_run_marker_is_only_used_before_code() -> None:
    for path in _markdown_files():
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, text in enumerate(lines):
            if text.strip() == NO_RUN:
                following = next((t for t in lines[i + 1 :] if t.strip()), "")
                assert following.lstrip().startswith("```"), f"{path.name}:{i + 1}: {NO_RUN} not followed by a block"
