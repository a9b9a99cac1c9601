"""A zoo model's provenance (source accuracy, pretraining time, the sha256 of its weights) in the results store, so
that a chapter reading it needs neither the weights nor their pretraining when the store holds it."""
from __future__ import annotations

from dataclasses import asdict, replace

from ..finetune.protocol import Protocol
from ..remembered import jsonable
from ..store import Store, record_key
from .zoo import ZOO, ZooEntry, load_source_model, register, seeded

KIND = "zoo"


def _config(entry: ZooEntry) -> dict:
    """What determines a zoo model: its recipe (as its cache key hashes it) and the entry itself, so that ``verify``
    can register an entry a chapter made (a DATL re-weighting) before pretraining it again."""
    return {"recipe": entry.recipe(), "entry": jsonable(asdict(entry))}


def source_provenance(name: str, pretrain_seed: int = 0) -> dict:
    """The provenance of zoo model ``name`` (pretrained with ``pretrain_seed``) from the store, else from its cache
    (pretrained if missing) and stored."""
    config = _config(seeded(name, pretrain_seed))
    return Store().computed(record_key(config), KIND, config,
                            lambda: load_source_model(name, pretrain_seed=pretrain_seed, progress=False)[1])


def entry_from_config(config: dict) -> ZooEntry:
    """The zoo entry a stored zoo record describes, registered (a chapter may have made it at run time)."""
    fields = dict(config["entry"])
    fields["protocol"] = Protocol.from_dict(fields["protocol"])
    fields["layers"], fields["channels"] = tuple(fields["layers"]), tuple(fields["channels"])
    fields["class_weights"] = tuple(fields.get("class_weights", ()))
    entry = ZooEntry(**fields)
    if entry.name not in ZOO:  # registered at seed 0, as the chapter that made it registers it
        register(replace(entry, seed=0))
    if record_key(_config(entry)) != record_key(config):
        raise ValueError(f"the stored zoo record of {entry.name!r} no longer matches the zoo's recipe")
    return entry


def source_keys(*names: str, pretrain_seeds=(0,)) -> dict:
    """The recipe key of every zoo model among ``names`` (one per pretraining seed of ``pretrain_seeds`` beyond 0):
    what a stored outcome computed from them depends on besides their names (a model pretrained differently is a
    different model). With only seed 0 the keys are those from before there were pretraining seeds."""
    keys = {name: ZOO[name].key() for name in names if name in ZOO}
    keys.update({f"{name}@{seed}": seeded(name, seed).key() for name in names if name in ZOO
                 for seed in pretrain_seeds if seed != 0})
    return keys
