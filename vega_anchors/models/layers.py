"""Building blocks of the SDT-style dialogue transformer used by DualBranchVEGA."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..heads import FastDropout


def sinusoidal_positions(max_len: int, dim: int) -> Tensor:
    """Sinusoidal position table ``[max_len, dim]``, computed in float32 as the official code
    (its values then match official checkpoints exactly whatever dtype the model is cast to)."""
    position = torch.arange(max_len, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * -(math.log(10000.0) / dim))
    table = torch.zeros(max_len, dim)
    table[:, 0::2] = torch.sin(position * div)
    table[:, 1::2] = torch.cos(position * div)[:, : dim // 2]
    return table


@dataclass
class RowLayout:
    """Where the rows of a ``[N, F]`` activation live in the padded ``[B, T]`` grid.

    ``index`` holds the flat positions (``b * T + t``) of the rows: the real utterances only in
    packed execution, or ``None`` in padded execution (every position is a row, ``N = B·T``).
    ``key_bias [B, 1, 1, T]`` keeps attention inside each dialogue (0 real, -1e4 padding).
    """

    batch: int
    length: int
    index: Tensor | None
    key_bias: Tensor

    def to_padded(self, rows: Tensor) -> Tensor:
        """``[N, F]`` → ``[B, T, F]`` (zeros at padding in packed execution)."""
        if self.index is None:
            return rows.view(self.batch, self.length, -1)
        grid = rows.new_zeros(self.batch * self.length, rows.shape[-1])
        return grid.index_copy_(0, self.index, rows).view(self.batch, self.length, -1)

    def to_rows(self, padded: Tensor) -> Tensor:
        """``[B, T, F]`` → ``[N, F]``."""
        flat = padded.reshape(self.batch * self.length, -1)
        return flat if self.index is None else flat.index_select(0, self.index)


class MultiHeadAttention(nn.Module):
    """Multi-head attention with separate query and key/value streams, on utterance rows.

    Projections run on the rows only (no work for padding in packed execution); the scores are
    computed per dialogue on the padded grid, with padded keys excluded by a finite ``-1e4`` bias
    (as the official code), so an all-padding dialogue still gives finite outputs. Projections that
    share an input are stored and run as one Linear: ``qkv`` for self-attention, ``q`` + ``kv``
    otherwise (:mod:`vega_anchors.official` splits them into the official ``linear_q/k/v``).
    """

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0, *, self_attention: bool = False) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.dropout = dropout
        self.self_attention = self_attention
        if self_attention:
            self.qkv = nn.Linear(dim, 3 * dim)
        else:
            self.q = nn.Linear(dim, dim)
            self.kv = nn.Linear(dim, 2 * dim)
        self.out = nn.Linear(dim, dim)
        self._init_like_separate_linears(dim)

    @torch.no_grad()
    def _init_like_separate_linears(self, dim: int) -> None:
        # Same init distribution as three separate nn.Linear(dim, dim) (fan_in = dim either way).
        bound = 1 / math.sqrt(dim)
        for lin in [self.qkv] if self.self_attention else [self.q, self.kv]:
            nn.init.kaiming_uniform_(lin.weight, a=math.sqrt(5))
            nn.init.uniform_(lin.bias, -bound, bound)

    def _heads(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.num_heads, d // self.num_heads).transpose(1, 2)

    def forward(self, query: Tensor, source: Tensor | None, layout: RowLayout) -> Tensor:
        """``query [N, H]`` rows; ``source [N, H]`` rows (ignored for self-attention)."""
        if self.self_attention:
            qkv = self.qkv(query)
        else:
            assert source is not None
            qkv = torch.cat([self.q(query), self.kv(source)], dim=-1)
        q, k, v = (self._heads(x) for x in layout.to_padded(qkv).chunk(3, dim=-1))
        context = F.scaled_dot_product_attention(
            q, k, v, attn_mask=layout.key_bias.to(q.dtype), dropout_p=self.dropout if self.training else 0.0
        )
        b, _, t, _ = context.shape
        return self.out(layout.to_rows(context.transpose(1, 2).reshape(b, t, -1)))


class FeedForward(nn.Module):
    """Pre-norm position-wise feed-forward with residual: ``x + drop(fc2(drop(gelu_tanh(fc1(LN(x))))))``."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = FastDropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        h = self.drop(F.gelu(self.fc1(self.norm(x)), approximate="tanh"))
        return x + self.drop(self.fc2(h))


class InertLayerNorm(nn.Module):
    """LayerNorm parameters the official one-layer encoder stores but never applies.

    Kept as buffers (not parameters: they never get a gradient, which would break DDP) only so
    official checkpoints survive an official → ours → official round trip.
    """

    weight: Tensor
    bias: Tensor

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("weight", torch.ones(dim))
        self.register_buffer("bias", torch.zeros(dim))


class CrossModalBlock(nn.Module):
    """One encoder layer refining a *target* modality with keys/values from a *source* modality,
    followed by its output gate ``sigmoid(W z) ⊙ z``. Works on utterance rows ``[N, H]``.

    With ``self_attention=True`` (source = target) one dropout mask is shared by queries and keys.
    """

    def __init__(self, dim: int, num_heads: int, dropout: float, *, self_attention: bool) -> None:
        super().__init__()
        self.self_attention = self_attention
        self.drop = FastDropout(dropout)
        self.attn = MultiHeadAttention(dim, num_heads, dropout, self_attention=self_attention)
        self.ffn = FeedForward(dim, dim, dropout)
        self.gate = nn.Linear(dim, dim, bias=False)
        self.unused_norm = InertLayerNorm(dim)

    def forward(self, target: Tensor, source: Tensor, context: Tensor, layout: RowLayout) -> Tensor:
        """``target, source, context [N, H]`` rows (context = positions + speakers) → ``[N, H]``."""
        query = self.drop(target + context)
        keys = None if self.self_attention else self.drop(source + context)
        u = self.drop(self.attn(query, keys, layout)) + query
        z = self.ffn(u)
        return torch.sigmoid(self.gate(z)) * z


class Standardize(nn.Module):
    """``(x - mean) / std`` per feature, with statistics fitted on training data (buffers, so they
    are saved with the model and reused at prediction time)."""

    mean: Tensor
    std: Tensor
    fitted: Tensor

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def fit(self, rows: Tensor, eps: float = 1e-6) -> None:
        """Fit on ``rows [N, dim]`` (float64 accumulation); constant features get std 1."""
        x = rows.double()
        std = x.std(0, unbiased=False)
        self.mean.copy_(x.mean(0))
        self.std.copy_(torch.where(std > eps, std, torch.ones_like(std)))
        self.fitted.fill_(True)

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)


class GatedFusion(nn.Module):
    """Fuse modality features with per-feature softmax weights over modalities:
    ``Σ_m softmax_m(W r_m) ⊙ r_m``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gate = nn.Linear(dim, dim, bias=False)

    def forward(self, features: list[Tensor]) -> Tensor:
        """``features``: one ``[..., H]`` per modality → ``[..., H]``."""
        stacked = torch.stack(features, dim=-2)  # [B, T, M, H]
        weights = torch.softmax(self.gate(stacked), dim=-2)
        return (weights * stacked).sum(-2)
