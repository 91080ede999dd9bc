"""Anchor banks: CLIP image features of facial exemplars per emotion class."""

from .bank import AnchorBank

__all__ = ["AnchorBank"]
