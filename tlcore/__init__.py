"""tlcore: the executable companion to "Deep transfer learning for image classification: a survey".

Entry points: :func:`tlcore.data.load`, :func:`tlcore.models.create`, :func:`tlcore.finetune.fit`,
:mod:`tlcore.claims` (the registry of the survey's claims and their verdict rules), :func:`tlcore.advise` (the survey's
best-practice table as a recipe for your target).
"""
from . import claims, data, finetune, models, results
from .advisor import advise
from .finetune import Protocol, fit
from .results.selection import select_on_validation
from .runs.transfer import TransferRun, run, run_many
from .seeding import seed_everything
from .studies.does_transfer_help import tuned_transfer_grid
from .studies.profiles import PROFILES, get_profile
from .studies.transferability_metrics import transferability_study

__version__ = "0.1.0"
__all__ = ["advise", "data", "models", "finetune", "claims", "results", "fit", "Protocol", "TransferRun", "run", "run_many",
           "select_on_validation", "tuned_transfer_grid", "transferability_study", "get_profile", "PROFILES", "seed_everything"]
