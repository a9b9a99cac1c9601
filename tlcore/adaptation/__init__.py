"""Architectures and losses for transfer across tasks and domains: progressive networks (Rusu et al. 2016) and
domain-adversarial training (DANN, Ganin et al. 2016)."""
from .dann import DANN, DomainClassifier, GradientReversal, dann_lambda, fit_dann, reverse_gradient
from .progressive import LateralAdapter, ProgressiveNet

__all__ = ["ProgressiveNet", "LateralAdapter", "DANN", "DomainClassifier", "GradientReversal", "reverse_gradient",
           "dann_lambda", "fit_dann"]
