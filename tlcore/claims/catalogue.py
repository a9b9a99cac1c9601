"""Every claim of the survey, by the stable ID of the project's claim catalogue.

Statements paraphrase the survey (section numbers refer to Plested & Gedeon 2022; "blog" to the summary of Iman et
al.'s review). A claim with a ``rule`` is tested by the named chapter; the others are planned.
"""
from __future__ import annotations

from . import best_practice as practice
from . import does_transfer_help as transfer
from . import hyperparameters as hp
from . import neighbouring_problems as neighbours
from . import regularizers, source_data, what_to_transfer
from . import transferability_metrics as metrics
from . import what_is_transferred as transferred
from . import which_source_model as source_models
from .registry import Claim, register

CH1 = "01_does_transfer_help"
CH4 = "04_transferability_metrics"
CH5 = "05_regularizers"
CH2 = "02_what_to_transfer"
W2 = what_to_transfer
CH3 = "03_which_source_model"
SRC = (source_models.SOURCES, source_models.FINETUNED, source_models.PROBES, source_models.PRETRAININGS)
REG = (regularizers.GRID, regularizers.SIMILARITY)
CH8 = "08_what_is_transferred"
CH7 = "07_source_data"
CH6 = "06_hyperparameters"
CH9 = "09_neighbouring_problems"


def _rule_text(rule) -> str:
    return " ".join(rule.__doc__.split())


_CATALOGUE = [
    # Does transfer help, and when?
    ("T1", "5.1, 5.6, 7.1", "Starting from pretrained weights beats random initialisation, and the gain is larger "
     "for smaller targets and for targets more similar to the source.",
     "Pretrained vs scratch over target similarity (near / mid / far / real) x target size.", CH1,
     (transfer.GRID, transfer.SIMILARITY), transfer.rule_t1),
    ("T2", "5.1 (2)", "More pretraining (more source images or more source iterations) transfers better.",
     "Source checkpoints at several source sizes and epochs, fine-tuned on the targets.", CH3, SRC,
     source_models.rule_t2),
    ("T3", "5.1 (3), 5.6, 7.1 (1)", "Fine-tuning beats a linear probe on frozen features; the gap is large for "
     "dissimilar targets and small for similar ones.", "Fine-tune minus linear-probe accuracy per target, "
     "against measured similarity.", CH2, (W2.PROBE_GAP, W2.SIMILARITY), W2.rule_t3),
    ("T4", "5.1 (4), 5.3, 7.1 (4)", "Transfer more layers when source and target are similar and fewer when they "
     "are not; with tuned hyper-parameters, transferring every layer but the head is often not best.",
     "Transfer the first k stages and re-initialise the rest, LR tuned per k, near and far targets.",
     CH2, (W2.REINIT_TUNING, W2.SIMILARITY), W2.rule_t4),
    ("T5", "5.1 (5)", "Deeper networks transfer better.", "Zoo models of several depths, same source.", CH3, SRC,
     source_models.rule_t5),
    ("T6", "5.1, 5.2.4", "Models that are better on the source transfer better, with diminishing returns; the best "
     "model differs between targets.", "Source accuracy vs target accuracy across the zoo; rank changes.", CH3,
     SRC, source_models.rule_t6),
    ("T7", "3.4", "Negative transfer: the gap NTG = error(with source) - error(without) is positive when the source "
     "is dissimilar and the target large.", "NTG over the T1 grid.", CH1, (transfer.GRID, transfer.SIMILARITY),
     transfer.rule_t7),
    ("T8", "5.7, blog", "Pretraining speeds up convergence even where it no longer improves final accuracy.",
     "Steps to a fixed validation accuracy, pretrained vs scratch, on the far target.", CH1,
     (transfer.CURVES, transfer.GRID), transfer.rule_t8),
    ("T9", "5.5, 5.6", "The smaller the target, the more results depend on fine-tuning hyper-parameters.",
     "Spread of accuracy over a learning-rate x momentum grid against target size.", CH6, (hp.GRID,), hp.rule_t9),
    # Regularizers and normalisation
    ("R1", "5.2.1 (1), 7.1 (2)", "L2-SP beats L2 when source and target are similar; little gain, or harm, when "
     "they are not.", "L2 vs L2-SP on near and far targets at several sizes.", CH5, REG, regularizers.rule_r1),
    ("R2", "5.2.1 (2)", "DELTA slightly beats L2-SP on similar targets and can hurt on dissimilar ones.",
     "As R1 with DELTA.", CH5, REG, regularizers.rule_r2),
    ("R3", "5.2.1 (4)", "BSS rarely hurts and helps most on small targets; the usual order is BSS > DELTA > L2-SP.",
     "As R1 with BSS; the ranking across the grid.", CH5, REG, regularizers.rule_r3),
    ("R4", "5.2.2 (2)", "Stochastic normalisation helps on targets with few samples.",
     "StochNorm vs BatchNorm fine-tuning at small sizes.", CH5, REG, regularizers.rule_r4),
    ("R5", "5.2.1 (1), 7.1 (2)", "L2-SP on lower layers with L2 on upper layers can beat either on all layers.",
     "Per-stage mix vs all-L2 vs all-L2-SP, near and far.", CH5, REG, regularizers.rule_r5),
    ("R6", "5.2.3", "Co-Tuning, which keeps the source head through a learned source-to-target label relation, "
     "improves fine-tuning.", "Co-Tuning vs plain fine-tuning.", CH5, REG, regularizers.rule_r6),
    ("R7", "5.2.1 (5)", "Sample-based regularisation (distance between same-class features) beats L2-SP, DELTA "
     "and BSS.", "As R3 with the sample-based regulariser.", CH5, REG, regularizers.rule_r7),
    ("R8", "5.2.4 (BiT)", "With a schedule adapted to target size, extra regularisation adds little on large "
     "targets.", "Regulariser gain against target size.", CH5, (regularizers.GRID, regularizers.LARGE),
     regularizers.rule_r8),
    # Hyper-parameters
    ("H1", "5.2.4, 7.1 (3)", "The best learning rate and momentum are lower for similar pairs and higher for "
     "dissimilar ones.", "LR x momentum grid per target; arg-max against similarity.", CH6,
     (hp.GRID, hp.SIMILARITY), hp.rule_h1),
    ("H2", "5.2.4, 7.1 (4)", "The best learning rate depends on how many layers are re-initialised.",
     "LR grid x number of re-initialised stages.", CH2, (W2.REINIT_TUNING,), W2.rule_h2),
    ("H3", "7.1 (3)", "Small targets want a faster learning-rate decay (fewer updates).",
     "Schedule length x target size.", CH6, (hp.SCHEDULE,), hp.rule_h3),
    ("H4", "5.2.4 (BiT, 2)", "MixUp helps fine-tuning on mid-size targets only.", "MixUp on/off against target size.",
     CH6, (hp.MIXUP,), hp.rule_h4),
    ("H5", "5.2.4, table 1", "A recipe tuned for similar targets is far from optimal on a dissimilar target; a larger "
     "learning rate and a longer schedule recover much of the gap.", "Default recipe vs LR x schedule grid on the "
     "far target (the shape of the survey's table 1).", CH6, (hp.BIT,), hp.rule_h5),
    # Source data
    ("S1", "5.3.1, 5.6.1, 5.2.4", "More source data helps, but a smaller source that matches the target better beats "
     "a larger generic one.", "Sources of different size and match, fine-tuned on the targets.", CH7,
     (*source_data.TABLES, source_data.MATCHED), source_data.rule_s1),
    ("S2", "5.3.2 (DATL)", "Re-weighting source classes by P_t(y)/P_s(y) during pretraining improves transfer.",
     "Weighted vs unweighted pretraining.", CH7,
     (*source_data.TABLES, source_data.DATL), source_data.rule_s2),
    ("S3", "5.3.2, 5.6.1", "The earth mover's distance between source and target features predicts transfer "
     "performance.", "EMD similarity vs fine-tuned accuracy across pairs (rank correlation).", CH7,
     (*source_data.TABLES, source_data.EMD), source_data.rule_s3),
    ("S4", "5.2.4, 5.3.1, 7.1 (5)", "Two-step transfer through an intermediate dataset close to the target beats one "
     "step from a large unrelated source.", "Source -> intermediate -> target vs source -> target.",
     CH7,
     source_data.TABLES, source_data.rule_s4),
    ("S5", "5.7, 5.8, 7.1 (5)", "Self-supervised pretraining on related unlabelled data can beat supervised "
     "pretraining on less related labelled data.", "Small SimCLR-style pretraining on related data vs supervised "
     "on unrelated data.", CH7,
     source_data.TABLES, source_data.rule_s5),
    ("S6", "5.2.4", "Source losses that raise source accuracy (label smoothing and other non-softmax losses) give "
     "less transferable features.", "Zoo pretrained with cross-entropy vs label smoothing, linear-probe transfer.",
     CH3, SRC, source_models.rule_s6),
    # Transferability metrics
    ("M1", "5.2.5, 7.1 (6)", "H-score, NCE, LEEP (and later LogME, TransRate, ...) rank pretrained models by how "
     "well they fine-tune on a target.", "Scores for every zoo model x target against fine-tuned accuracy: weighted "
     "Kendall tau and Pearson.", CH4, (metrics.SCORES, metrics.ACCURACY, metrics.SEED_SCORES), metrics.rule_m1),
    ("M2", "5.2.5 (3)", "LEEP correlates with transfer gain better than NCE and H-score.",
     "The M1 correlations compared per target.", CH4, (metrics.SCORES, metrics.ACCURACY, metrics.SEED_SCORES),
     metrics.rule_m2),
    ("M3", "5.5, 7.1 (6)", "The gap between frozen-feature and fine-tuned accuracy, even with poor hyper-parameters, "
     "predicts good fine-tuning hyper-parameters.", "Linear-probe vs quick fine-tune gap against the H1 optimum.",
     CH6, (hp.GRID, hp.PROBE_GAP), hp.rule_m3),
    # What is transferred
    ("P1", "5.2.5, blog", "Models fine-tuned from the same pretrained weights stay in one basin, close in parameter "
     "space, with similar errors; models trained from scratch do not.", "Parameter distances, loss along linear "
     "interpolation, error overlap across seeds.", CH8, (transferred.PAIRS,), transferred.rule_p1),
    ("P2", "3.4, 5.3", "Lower layers are general, higher layers task-specific.", "Layer-wise CKA before/after "
     "fine-tuning, near vs far.", CH8, (transferred.CKA,), transferred.rule_p2),
    ("P3", "5.7.3, 7.1 (4)", "For small dissimilar targets, fixed features from an inner layer beat the last layer.",
     "Linear probes on every stage's features.", CH2, (W2.STAGE_PROBES, W2.SIMILARITY), W2.rule_p3),
    ("P4", "blog", "Pretrained models struggle on ambiguous samples; their extra correct answers are on easy ones.",
     "Per-sample correctness of pretrained vs scratch against a difficulty score.", CH8, (transferred.SAMPLES,),
     transferred.rule_p4),
    # Neighbouring problems
    ("A1", "6.1, blog", "Adversarial domain adaptation (DANN) beats source-only training on an unlabelled target "
     "domain.", "Source-only vs DANN on a shifted domain pair.", CH9, (neighbours.ADAPTATION,), neighbours.rule_a1),
    ("A2", "6.2", "Fine-tuning forgets the source task; LwF and L2-SP forget less.", "Source accuracy after target "
     "fine-tuning, per method.", CH9, (neighbours.CONTINUAL,), neighbours.rule_a2),
    ("A3", "6.3", "With a few examples per class, fine-tuning with suitable hyper-parameters beats a "
     "nearest-prototype classifier on frozen features.", "k-shot (1, 5, 10) fine-tuning vs prototypes.",
     CH9, (neighbours.FEW_SHOT,), neighbours.rule_a3),
    ("A4", "2 (blog), conclusion", "Progressive networks learn the target without forgetting and match fine-tuning.",
     "Progressive net vs fine-tuning vs freezing.", CH9, (neighbours.CONTINUAL,), neighbours.rule_a4),
    # Best practice
    ("B1", "7.2", "The survey's four recommendations by target size x similarity pick protocols at or near the best "
     "measured in each quadrant.", "Rank of the recommended protocol among all protocols run in the book, per "
     "quadrant; an advisor applies the rule from measured size and similarity.", "10_best_practice",
     (practice.LEADERBOARD,), practice.rule_b1),
]

# Each rule module declares its claims' primary tests (``PRIMARY``: claim id -> Primary) beside its rules.
_PRIMARY = {claim_id: primary
            for module in (transfer, W2, source_models, metrics, regularizers, hp, source_data, transferred, neighbours,
                           practice)
            for claim_id, primary in getattr(module, "PRIMARY", {}).items()}

for claim_id, section, statement, experiment, chapter, *implemented in _CATALOGUE:
    tables, rule = implemented if implemented else ((), None)
    register(Claim(claim_id, section, statement, experiment, chapter, tuple(tables), rule,
                   _rule_text(rule) if rule else "", _PRIMARY.pop(claim_id, None)))
if _PRIMARY:
    raise ValueError(f"primary tests declared for claims the catalogue does not have: {sorted(_PRIMARY)}")
