"""Fixtures of the fine-tuning tests: a tiny random BERT with its tokenizer, one torch thread."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from finetune_helpers import write_tiny_bert


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(autouse=True)
def one_thread() -> None:
    torch.set_num_threads(1)
