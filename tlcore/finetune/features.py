"""Batched feature extraction shared by similarity measures, probes and transferability metrics."""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from ..data import evaluation_view
from .batches import loader_options


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@torch.inference_mode()
def extract_features(
    model: nn.Module,
    dataset: Dataset,
    *,
    batch_size: int = 256,
    device: torch.device | str | None = None,
    logits: bool = False,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled penultimate features (or logits) of ``model`` on every sample of ``dataset``.

    Returns ``(features, labels)``: float32 CPU tensors of shape (N, D) and int64 (N,), of the images without
    training augmentation (see :func:`ordered_batches`). The model must follow timm's interface
    (``forward_features`` then ``forward_head(..., pre_logits=True)``). It is put in eval mode and restored.
    """
    check_readable(model, dataset)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    outputs, labels = [], []
    try:
        for inputs, targets in tqdm(ordered_batches(dataset, batch_size, device), disable=not progress,
                                    desc="features"):
            inputs = inputs.to(device, non_blocking=True)
            out = model.forward_features(inputs)
            out = model.forward_head(out, pre_logits=not logits)
            outputs.append(out.float().cpu())
            labels.append(torch.as_tensor(targets).long().cpu())
    finally:
        model.train(was_training)
    return torch.cat(outputs), torch.cat(labels)


def check_readable(model: nn.Module, dataset: Dataset, *, name: str = "the model") -> None:
    """A clear ``ValueError``, before any batch is run, when ``dataset`` is empty or its images do not have the
    channels ``model``'s first convolution reads (e.g. RGB photographs for an embedded zoo model trained on greyscale
    glyphs)."""
    if len(dataset) == 0:
        raise ValueError("cannot extract features of an empty dataset")
    first_conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if first_conv is None:
        return
    shape = tuple(dataset[0][0].shape)
    if len(shape) == 3 and shape[0] != first_conv.in_channels:
        raise ValueError(
            f"{name} reads {first_conv.in_channels}-channel images but the dataset's images have shape {shape}; use "
            "each model on images of the kind it was trained on: the embedded zoo models read 32x32 greyscale (the "
            "embedded datasets), timm backbones read RGB (real-tier datasets and image folders)")


def ordered_batches(dataset: Dataset, batch_size: int, device: torch.device | str | None = None):
    """``(inputs, labels)`` batches of ``dataset`` in order, without training augmentation: sliced from an in-memory
    dataset's tensors (its ``images`` are read once), else through a DataLoader (see
    :func:`~tlcore.finetune.batches.loader_options` for ``device``) over the dataset's ``evaluation_view()`` when it
    has one (a real-tier training split otherwise crops and flips at random). A decoded real-tier dataset's uint8
    batches are moved to ``device`` (default: stay on the CPU) and centre-cropped and normalised there."""
    dataset = evaluation_view(dataset)
    images = getattr(dataset, "images", None)
    if isinstance(images, torch.Tensor):
        for start in range(0, len(images), batch_size):
            yield images[start : start + batch_size], dataset.labels[start : start + batch_size]
    else:
        batch_transform = getattr(dataset, "batch_transform", None)
        for inputs, labels in DataLoader(dataset, batch_size=batch_size, shuffle=False, **loader_options(device)):
            if batch_transform is not None:
                inputs = batch_transform(inputs.to(device or "cpu", non_blocking=True))
            yield inputs, labels


@torch.inference_mode()
def extract_stage_features(
    model: nn.Module,
    dataset: Dataset,
    *,
    stages: list[int] | None = None,
    batch_size: int = 256,
    device: torch.device | str | None = None,
) -> tuple[dict[int, torch.Tensor], torch.Tensor]:
    """Global-average-pooled output of every chosen stage of ``model`` (all stages when ``None``) on ``dataset``.

    Returns ``({stage index: (N, C_stage) float32 CPU tensor}, labels)``. Stages are those of
    :func:`tlcore.finetune.stages.model_stages` (the stem is part of stage 0), so a stage's features are what
    "transfer the first k stages" keeps, read at stage ``k - 1``. The model is put in eval mode and restored.
    """
    from .stages import StageOutputs, model_stages, select_stages

    chosen = select_stages(model_stages(model), stages)
    check_readable(model, dataset)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    hooks = StageOutputs(model, chosen, always=True)  # always: inference mode records no graph
    pooled: list[list[torch.Tensor]] = [[] for _ in chosen]
    labels = []
    try:
        for inputs, targets in ordered_batches(dataset, batch_size, device):
            model.forward_features(inputs.to(device, non_blocking=True))
            for store, output in zip(pooled, hooks.take()):
                if output.ndim != 4:
                    raise ValueError(f"stage outputs must be (N, C, H, W) feature maps to pool, got {output.ndim}-D")
                store.append(output.float().mean(dim=(2, 3)).cpu())
            labels.append(torch.as_tensor(targets).long().cpu())
    finally:
        hooks.remove()
        model.train(was_training)
    return {stage.index: torch.cat(store) for stage, store in zip(chosen, pooled)}, torch.cat(labels)
