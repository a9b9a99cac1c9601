"""Where the runs a grid lacks are computed: here, one after another (the default), or as tasks on a Ray cluster.

:func:`~tlcore.runs.spec.run_many` asks the store which of its runs are missing. With the local executor (the
default, ``$TLCORE_EXECUTOR`` unset or ``local``) it computes each in the chapter's own process, as it always has;
chapters run side by side, one thread each (``scripts/build_book.py --jobs``). With :class:`RayExecutor`
(``$TLCORE_EXECUTOR=ray``, the cluster at ``$TLCORE_RAY_ADDRESS``, else a local Ray instance) every missing run is
one Ray task with declared resources: its outcome and provenance (the worker's machine, threads and seconds) come
back to the driver, which alone writes the store, so no filesystem is shared for results. A task whose worker
dies is retried (``max_retries``); an error raised by a run itself is not retried: it is a bug or a bad
configuration, and it stops the grid after every finished run is stored.

Ray is optional (``pip install tlcore[cluster]``): nothing here imports it until a Ray executor computes.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from tqdm.auto import tqdm

from ..store import PROFILE_ENV, provenance

if TYPE_CHECKING:  # spec.py's run_many hands its missing runs to an executor, so this module cannot import it first
    from .spec import RunSpec

EXECUTOR_ENV = "TLCORE_EXECUTOR"
ADDRESS_ENV = "TLCORE_RAY_ADDRESS"
TASK_CPUS_ENV = "TLCORE_TASK_CPUS"
TASK_GPUS_ENV = "TLCORE_TASK_GPUS"
EXECUTORS = ("local", "ray")
# What a worker needs to compute what the driver would: the profile, the caches, the chapter, offline switches.
FORWARDED_PREFIXES = ("TLCORE_", "HF_")


class Computed(NamedTuple):
    """A run computed by an executor: its spec, its outcome and where, when and how fast it was computed."""

    spec: RunSpec
    value: Any
    provenance: dict


def compute_one(spec: RunSpec, threads: int = 1, env: dict[str, str] | None = None,
                zoo: tuple = ()) -> tuple[Any, dict]:
    """``spec``'s outcome (a diverged run included) and its provenance, computed with ``threads`` torch threads and
    exactly the driver's variables ``env`` of :data:`FORWARDED_PREFIXES` (a worker's own are unset for the task: a
    profile it inherited must not label the record): what one task does on a worker. One thread, as the book build
    computes, reproduces a local run bit for bit. ``zoo``: the driver's zoo entries, registered here first, because a
    chapter registers some at run time (a DATL re-weighting) and a worker process has only those made at import."""
    import torch

    from ..models.zoo import register
    from .spec import outcome

    for entry in zoo:
        register(entry)  # the same recipe is a no-op; another recipe under the same name is refused
    saved = forwarded_env()
    if env is not None:
        _replace_forwarded(env)
    torch.set_num_threads(max(1, threads))
    try:
        start = time.perf_counter()
        value = outcome(spec)
        return value, provenance(time.perf_counter() - start)
    finally:
        if env is not None:
            _replace_forwarded(saved)


def _replace_forwarded(env: dict[str, str]) -> None:
    """Make ``env`` exactly this process's variables of :data:`FORWARDED_PREFIXES`."""
    for name in forwarded_env():
        os.environ.pop(name)
    os.environ.update(env)


def forwarded_env() -> dict[str, str]:
    """The driver's variables that decide what a run computes (:data:`FORWARDED_PREFIXES`), set on its task."""
    return {name: value for name, value in os.environ.items() if name.startswith(FORWARDED_PREFIXES)}


def task_resources(profile: str | None = None) -> dict[str, float]:
    """What one task asks of the cluster: ``$TLCORE_TASK_CPUS`` CPUs and ``$TLCORE_TASK_GPUS`` GPUs, by default one
    CPU (embedded runs are single-threaded) and, in the real tier, one GPU."""
    profile = profile if profile is not None else os.environ.get(PROFILE_ENV, "")
    resources = {"num_cpus": 1.0, "num_gpus": 1.0 if profile == "real" else 0.0}
    for key, name, unit in (("num_cpus", TASK_CPUS_ENV, "CPUs"), ("num_gpus", TASK_GPUS_ENV, "GPUs")):
        text = os.environ.get(name, "").strip()
        if text:
            try:
                resources[key] = float(text)
            except ValueError:
                raise ValueError(f"${name} must be a number of {unit} per task, not {text!r}") from None
            if resources[key] < 0:
                raise ValueError(f"${name} must not be negative, got {text!r}")
    return resources


def _ray():
    try:
        import ray
    except ImportError as error:
        raise ImportError("the Ray executor needs Ray: pip install 'tlcore[cluster]' (or unset $TLCORE_EXECUTOR "
                          "to compute locally)") from error
    return ray


class RayExecutor:
    """Each run one Ray task on the cluster at ``address`` (None: the one this process is connected to, else
    ``$TLCORE_RAY_ADDRESS``, else a new local instance), asking ``resources`` (default :func:`task_resources`),
    retried up to ``max_retries`` times when its worker dies."""

    def __init__(self, address: str | None = None, *, resources: dict[str, float] | None = None,
                 max_retries: int = 3):
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries}")
        self.address = address or os.environ.get(ADDRESS_ENV) or None
        self.resources = resources if resources is not None else task_resources()
        self.max_retries = max_retries

    def connect(self):
        ray = _ray()
        if not ray.is_initialized():
            import logging

            ray.init(address=self.address, log_to_driver=False, logging_level=logging.ERROR,
                     include_dashboard=False)
        return ray

    def compute(self, specs: list[RunSpec], *, progress: bool = True) -> Iterator[Computed]:
        """Compute every spec as a task; yields each as it finishes (in no particular order). If a run raises,
        the tasks not yet finished are cancelled and the error is raised, naming the run."""
        if not specs:
            return
        ray = self.connect()
        threads = max(1, int(self.resources.get("num_cpus", 1)))
        env = forwarded_env()
        # Both: runtime_env so that a worker starts with them (libraries such as huggingface_hub read HF_* when
        # imported), the argument so that the task unsets what its worker inherited and the driver does not have.
        task = ray.remote(compute_one).options(**self.resources, max_retries=self.max_retries,
                                               retry_exceptions=False, runtime_env={"env_vars": env})
        from ..models.zoo import ZOO

        zoo = ray.put(tuple(ZOO.values()))  # sent to the object store once, not pickled into every task
        pending = {task.remote(spec, threads, env, zoo): spec for spec in specs}
        with tqdm(total=len(pending), disable=not progress, desc="runs on Ray", unit="run", mininterval=2.0) as bar:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                spec = pending.pop(done[0])
                try:
                    value, origin = ray.get(done[0])
                except Exception as error:
                    for ref in pending:
                        ray.cancel(ref)
                    raise RuntimeError(f"the run {spec} failed on the cluster: {error}") from error
                bar.update()
                bar.set_postfix_str(f"{len(pending)} left")
                yield Computed(spec, value, origin)


def executor_from_env() -> RayExecutor | None:
    """The executor ``$TLCORE_EXECUTOR`` names: None for ``local`` (or unset), a :class:`RayExecutor` for ``ray``."""
    name = os.environ.get(EXECUTOR_ENV, "").strip() or "local"
    if name not in EXECUTORS:
        raise ValueError(f"${EXECUTOR_ENV}={name!r} names no executor; choose one of {EXECUTORS}")
    return RayExecutor() if name == "ray" else None


def use_executor(name: str, address: str | None = None) -> str | None:
    """Make this process and every process it starts from now on (the chapters of a build) compute their missing
    runs with executor ``name``: for ``ray``, on the cluster at ``address``, else on a local Ray instance this
    process starts (or is already connected to) and holds until it exits. Returns the cluster's address (None for
    the local executor)."""
    if name not in EXECUTORS:
        raise ValueError(f"{name!r} names no executor; choose one of {EXECUTORS}")
    os.environ[EXECUTOR_ENV] = name
    os.environ.pop(ADDRESS_ENV, None)
    if name != "ray":
        return None
    if address is None:  # nowhere named: a local instance, which the chapters join as drivers
        address = RayExecutor().connect().get_runtime_context().gcs_address
        # Ray starts a local instance with token authentication on, but a driver joining it sends the token only
        # when told to (Ray 2.60); the token itself is in ~/.ray/auth_token, where the chapters find it.
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    os.environ[ADDRESS_ENV] = address
    return address
