"""Normalisation layers for fine-tuning: Stochastic Normalization (Kou et al. 2020)."""
from .stochnorm import StochNorm, convert_to_stochnorm

__all__ = ["StochNorm", "convert_to_stochnorm"]
