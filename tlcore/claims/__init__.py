"""The claims registry: ``CLAIMS[id]``, ``verdict(id)``, ``claims_frame()``."""
from . import catalogue  # noqa: F401  (registers every claim)
from .registry import CLAIMS, VERDICTS, Claim, Verdict, claims_frame, register, verdict
from .stats import bootstrap_ci, paired_difference, summarise

__all__ = ["CLAIMS", "VERDICTS", "Claim", "Verdict", "claims_frame", "register", "verdict", "bootstrap_ci",
           "paired_difference", "summarise"]
