"""Grids on a cluster: a local Ray instance computes what the serial loop computes, retries a task whose worker dies,
and the driver alone writes the store."""
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tlcore.runs import executors
from tlcore.runs.executors import RayExecutor, executor_from_env, task_resources, use_executor
from tlcore.runs.spec import RunSpec, missing, run_many
from tlcore.runs.store import OutcomeStore, RunStore
from tlcore.runs.verify import differences

from factories import one_run_of_each_kind

# CI installs the cluster extra, so there a missing Ray is a failure, not a skip.
ray = pytest.importorskip("ray") if not os.environ.get("CI") else __import__("ray")


@pytest.fixture(scope="module")
def cluster():
    """One local Ray instance with 2 CPUs for this module (starting one takes seconds)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    # Specs defined in this test module travel by value: the workers cannot import a test module.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray
    ray.shutdown()


def _values(store: RunStore) -> dict:
    return {record["key"]: record for record in store.store.records()}


def test_a_grid_on_ray_stores_the_records_the_serial_loop_stores(cluster, tmp_path):
    specs = list(one_run_of_each_kind().values())
    grid = specs + [specs[0]]  # a run asked for twice is computed once
    serial, clustered = RunStore(tmp_path / "serial"), RunStore(tmp_path / "ray")
    local_frame = run_many(grid, store=serial, progress=False)
    ray_frame = run_many(grid, store=clustered, progress=False, executor=RayExecutor())
    local, remote = _values(serial), _values(clustered)
    assert len(remote) == len(specs) == 3 and set(local) == set(remote)
    for key, record in local.items():
        assert differences(record["value"], remote[key]["value"]) == [], record["kind"]
        assert remote[key]["kind"] == record["kind"] and remote[key]["config"] == record["config"]
        origin = remote[key]["provenance"]  # the worker's: one thread, its own pid's seconds
        assert origin["threads"] == 1 and origin["seconds"] > 0 and origin["cpu_capability"]
    timing = [c for c in local_frame.columns if "seconds" in c]  # column order: as read back from the store
    assert ray_frame.drop(columns=timing).sort_index(axis=1).equals(local_frame.drop(columns=timing).sort_index(axis=1))
    assert missing(grid, clustered) == [] and len(missing(grid, RunStore(tmp_path / "empty"))) == 3


@dataclass(frozen=True)
class DiesOnce(RunSpec):
    """A run whose worker process dies the first time it is computed (the marker file says it has died)."""

    marker: str
    value: int = 7

    def config(self) -> dict:
        return {"dies_once": self.value}

    def summary(self) -> dict:
        return {"value": self.value}

    def compute(self, progress: bool = False) -> dict:
        if not Path(self.marker).exists():
            Path(self.marker).touch()
            os._exit(1)  # the worker dies: not an exception Ray could report, a lost process
        return {"computed": self.value * 6, "pid": os.getpid()}

    def diverged(self, error: FloatingPointError) -> dict:
        return {"diverged": str(error)}

    def store(self, runs: RunStore) -> OutcomeStore:
        return _DiesOnceStore(runs.root)


class _DiesOnceStore(OutcomeStore):
    kinds = ("DiesOnce",)


@dataclass(frozen=True)
class Raises(DiesOnce):
    """A run with a bug: it raises once the file ``stored`` exists (a quick run beside it has been stored; waiting
    on the file, not on the clock, keeps the test true on a loaded machine, where Ray's workers start slowly)."""

    stored: str = ""

    def compute(self, progress: bool = False) -> dict:
        deadline = time.monotonic() + 120
        while self.stored and not Path(self.stored).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        raise KeyError("a bug in the run")


@dataclass(frozen=True)
class ReadsTheZoo(DiesOnce):
    """A run whose outcome is the description of zoo entry ``marker``, as the worker's zoo holds it."""

    def compute(self, progress: bool = False) -> dict:
        from tlcore.models.zoo import ZOO

        return {"description": ZOO[self.marker].description}


def test_a_zoo_entry_the_driver_registered_at_run_time_reaches_the_workers(cluster, tmp_path, monkeypatch):
    from dataclasses import replace

    from tlcore.models.zoo import ZOO

    name = "glyph_micro_registered_at_run_time"  # as a chapter registers a DATL re-weighting: after import
    monkeypatch.setitem(ZOO, name, replace(ZOO["glyph_micro"], name=name, description="made by the driver"))
    store = RunStore(tmp_path / "store")
    run_many([ReadsTheZoo(marker=name)], store=store, progress=False, executor=RayExecutor())
    assert [r["value"] for r in store.store.records()] == [{"description": "made by the driver"}]


def test_a_task_whose_worker_dies_is_retried_and_the_store_ends_complete(cluster, tmp_path):
    store = RunStore(tmp_path / "store")
    spec = DiesOnce(str(tmp_path / "died"))
    frame = run_many([spec], store=store, progress=False, executor=RayExecutor(max_retries=2))
    assert Path(spec.marker).exists()  # it did die once
    assert frame["computed"].tolist() == [42] and frame["pid"].item() != os.getpid()
    records = list(store.store.records())
    assert [(r["kind"], r["value"]["computed"]) for r in records] == [("DiesOnce", 42)]
    assert sorted(p.name for p in (tmp_path / "store").iterdir() if p.is_file()) == ["shared.jsonl"]


def test_without_retries_a_dead_worker_fails_the_grid_and_nothing_is_half_written(cluster, tmp_path):
    store = RunStore(tmp_path / "store")
    with pytest.raises(RuntimeError, match="failed on the cluster"):
        run_many([DiesOnce(str(tmp_path / "died"))], store=store, progress=False,
                 executor=RayExecutor(max_retries=0))
    assert len(store.store) == 0 and not any(p.is_file() for p in (tmp_path / "store").rglob("*.jsonl"))


def test_a_run_that_raises_is_not_retried_and_finished_runs_stay_stored(cluster, tmp_path):
    store = RunStore(tmp_path / "store")
    good = DiesOnce(str(tmp_path / "died"), value=1)
    (tmp_path / "died").touch()  # this one computes at once
    with pytest.raises(RuntimeError, match="a bug in the run"):
        run_many([good, Raises(str(tmp_path / "other"), value=2, stored=str(tmp_path / "store" / "shared.jsonl"))],
                 store=store, progress=False, executor=RayExecutor(max_retries=3))
    assert [r["value"]["computed"] for r in store.store.records()] == [6]


def test_the_executor_is_named_by_the_environment(monkeypatch):
    monkeypatch.delenv("TLCORE_EXECUTOR", raising=False)
    assert executor_from_env() is None
    monkeypatch.setenv("TLCORE_EXECUTOR", "ray")
    monkeypatch.setenv("TLCORE_RAY_ADDRESS", "10.0.0.5:6379")
    assert executor_from_env().address == "10.0.0.5:6379"
    monkeypatch.setenv("TLCORE_EXECUTOR", "dask")
    with pytest.raises(ValueError, match=r"'dask' names no executor; choose one of \('local', 'ray'\)"):
        executor_from_env()


def test_task_resources_default_to_one_cpu_and_a_gpu_in_the_real_tier(monkeypatch):
    monkeypatch.delenv("TLCORE_TASK_CPUS", raising=False)
    monkeypatch.delenv("TLCORE_TASK_GPUS", raising=False)
    assert task_resources("embedded") == {"num_cpus": 1.0, "num_gpus": 0.0}
    assert task_resources("real") == {"num_cpus": 1.0, "num_gpus": 1.0}
    monkeypatch.setenv("TLCORE_TASK_CPUS", "4")
    assert task_resources("real")["num_cpus"] == 4.0
    monkeypatch.setenv("TLCORE_TASK_GPUS", "one")
    with pytest.raises(ValueError, match=r"\$TLCORE_TASK_GPUS must be a number of GPUs per task, not 'one'"):
        task_resources("real")
    monkeypatch.setenv("TLCORE_TASK_GPUS", "-1")
    with pytest.raises(ValueError, match="must not be negative"):
        task_resources("real")


def test_without_ray_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install 'tlcore\[cluster\]'"):
        executors._ray()


def test_the_workers_get_the_variables_that_decide_a_run(monkeypatch):
    monkeypatch.setenv("TLCORE_PROFILE", "embedded")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("UNRELATED_SECRET", "x")
    forwarded = executors.forwarded_env()
    assert forwarded["TLCORE_PROFILE"] == "embedded" and forwarded["HF_HUB_OFFLINE"] == "1"
    assert "UNRELATED_SECRET" not in forwarded and "PATH" not in forwarded


def test_a_build_passes_its_executor_to_the_chapters_it_starts(monkeypatch):
    monkeypatch.setenv("TLCORE_EXECUTOR", "local")
    monkeypatch.setenv("TLCORE_RAY_ADDRESS", "stale:1")
    assert use_executor("ray", "10.0.0.5:6379") == "10.0.0.5:6379"  # a named cluster: nothing started here
    assert executor_from_env().address == "10.0.0.5:6379"  # what each chapter's run_many then does
    assert use_executor("local") is None and executor_from_env() is None
    assert "TLCORE_RAY_ADDRESS" not in os.environ
    with pytest.raises(ValueError, match="'spark' names no executor"):
        use_executor("spark")


def test_a_build_without_an_address_shares_its_local_instance_with_its_chapters(cluster, monkeypatch):
    monkeypatch.setenv("TLCORE_EXECUTOR", "local")
    monkeypatch.delenv("TLCORE_RAY_ADDRESS", raising=False)
    address = use_executor("ray")
    assert address == cluster.get_runtime_context().gcs_address and os.environ["TLCORE_RAY_ADDRESS"] == address


def test_a_task_computes_under_exactly_the_drivers_variables(monkeypatch, tmp_results):
    monkeypatch.setenv("TLCORE_PROFILE", "stale")  # what a worker process may have inherited
    driver = {name: value for name, value in os.environ.items()
              if name.startswith(("TLCORE_", "HF_")) and name != "TLCORE_PROFILE"}
    value, origin = executors.compute_one(one_run_of_each_kind()["transfer"], 1, driver)
    assert origin["profile"] == "" and origin["threads"] == 1 and value.val_accuracy >= 0
    assert os.environ["TLCORE_PROFILE"] == "stale"  # the worker's own variables are back after the task
