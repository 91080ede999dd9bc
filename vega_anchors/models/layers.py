"""Building blocks of the SDT-style dialogue transformer used by DualBranchVEGA."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def sinusoidal_positions(max_len: int, dim: int) -> Tensor:
    """Sinusoidal position table ``[max_len, dim]``, computed in float32 as the official code
    (its values then match official checkpoints exactly whatever dtype the model is cast to)."""
    position = torch.arange(max_len, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * -(math.log(10000.0) / dim))
    table = torch.zeros(max_len, dim)
    table[:, 0::2] = torch.sin(position * div)
    table[:, 1::2] = torch.cos(position * div)[:, : dim // 2]
    return table


class MultiHeadAttention(nn.Module):
    """Multi-head attention with separate query and key/value streams.

    Padded keys are excluded with a finite ``-1e4`` bias (as the official code): a dialogue whose
    every key is padding still gives finite outputs.
    """

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.dropout = dropout
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def _split(self, x: Tensor) -> Tensor:
        b, t, d = x.shape
        return x.view(b, t, self.num_heads, d // self.num_heads).transpose(1, 2)

    def forward(self, query: Tensor, source: Tensor, key_bias: Tensor) -> Tensor:
        """``query, source [B, T, H]``; ``key_bias [B, 1, 1, T]`` additive (0 real, -1e4 padding)."""
        q, k, v = self._split(self.q(query)), self._split(self.k(source)), self._split(self.v(source))
        context = F.scaled_dot_product_attention(
            q, k, v, attn_mask=key_bias.to(q.dtype), dropout_p=self.dropout if self.training else 0.0
        )
        b, _, t, _ = context.shape
        return self.out(context.transpose(1, 2).reshape(b, t, -1))


class FeedForward(nn.Module):
    """Pre-norm position-wise feed-forward with residual: ``x + drop(fc2(drop(gelu_tanh(fc1(LN(x))))))``."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

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
    followed by its output gate ``sigmoid(W z) ⊙ z``.

    With ``self_attention=True`` (source = target) one dropout mask is shared by queries and keys.
    """

    def __init__(self, dim: int, num_heads: int, dropout: float, *, self_attention: bool) -> None:
        super().__init__()
        self.self_attention = self_attention
        self.drop = nn.Dropout(dropout)
        self.attn = MultiHeadAttention(dim, num_heads, dropout)
        self.ffn = FeedForward(dim, dim, dropout)
        self.gate = nn.Linear(dim, dim, bias=False)
        self.unused_norm = InertLayerNorm(dim)

    def forward(self, target: Tensor, source: Tensor, context: Tensor, key_bias: Tensor) -> Tensor:
        """``target, source, context [B, T, H]`` (context = positions + speakers) → ``[B, T, H]``."""
        query = self.drop(target + context)
        keys = query if self.self_attention else self.drop(source + context)
        u = self.drop(self.attn(query, keys, key_bias)) + query
        z = self.ffn(u)
        return torch.sigmoid(self.gate(z)) * z


class GatedFusion(nn.Module):
    """Fuse modality features with per-feature softmax weights over modalities:
    ``Σ_m softmax_m(W r_m) ⊙ r_m``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gate = nn.Linear(dim, dim, bias=False)

    def forward(self, features: list[Tensor]) -> Tensor:
        """``features``: one ``[B, T, H]`` per modality → ``[B, T, H]``."""
        stacked = torch.stack(features, dim=-2)  # [B, T, M, H]
        weights = torch.softmax(self.gate(stacked), dim=-2)
        return (weights * stacked).sum(-2)
