"""A zoo model's provenance (source accuracy, pretraining time, the sha256 of its weights) in the results store, so
that a chapter reading it needs neither the weights nor their pretraining when the store holds it."""
from __future__ import annotations

from dataclasses import asdict

from ..finetune.protocol import Protocol
from ..remembered import jsonable
from ..store import Store, record_key
from .zoo import ZOO, ZooEntry, load_source_model, register

KIND = "zoo"


def _config(entry: ZooEntry) -> dict:
    """What determines a zoo model: its recipe (as its cache key hashes it) and the entry itself, so that ``verify``
    can register an entry a chapter made (a DATL re-weighting) before pretraining it again."""
    return {"recipe": entry.recipe(), "entry": jsonable(asdict(entry))}


def source_provenance(name: str) -> dict:
    """The provenance of zoo model ``name`` from the store, else from its cache (pretrained if missing) and stored."""
    if name not in ZOO:
        raise KeyError(f"unknown zoo model {name!r}; the zoo has {sorted(ZOO)}")
    config = _config(ZOO[name])
    return Store().computed(record_key(config), KIND, config, lambda: load_source_model(name, progress=False)[1])


def entry_from_config(config: dict) -> ZooEntry:
    """The zoo entry a stored zoo record describes, registered (a chapter may have made it at run time)."""
    fields = dict(config["entry"])
    fields["protocol"] = Protocol.from_dict(fields["protocol"])
    fields["layers"], fields["channels"] = tuple(fields["layers"]), tuple(fields["channels"])
    fields["class_weights"] = tuple(fields.get("class_weights", ()))
    entry = ZooEntry(**fields)
    if entry.name not in ZOO:
        register(entry)
    if record_key(_config(entry)) != record_key(config):
        raise ValueError(f"the stored zoo record of {entry.name!r} no longer matches the zoo's recipe")
    return entry


def source_keys(*names: str) -> dict:
    """The recipe key of every zoo model among ``names``: what a stored outcome computed from them depends on
    besides their names (a model pretrained differently is a different model)."""
    return {name: ZOO[name].key() for name in names if name in ZOO}
