"""Functions whose results are kept in the results store (:mod:`tlcore.store`): :func:`remembered` keys a call by
the hash of its arguments (and what else it depends on), so that a chapter whose outcomes are all stored trains and
pretrains nothing, and ``python -m tlcore verify`` can call it again (:func:`recompute_call`)."""
from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from typing import Any

import numpy as np
import pandas as pd

from .store import Store, record_key


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON (tuples as lists, numpy scalars as numbers, dataclasses as dicts); TypeError if it
    holds anything else (a model, a tensor): such a call cannot be keyed."""
    if is_dataclass(value) and not isinstance(value, type):
        return jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot key a {type(value).__name__}")


def encode(value: Any) -> Any:
    """A function's result as JSON: tidy frames column by column (dtypes kept), arrays as lists."""
    if isinstance(value, pd.DataFrame):
        if not isinstance(value.index, pd.RangeIndex) or value.index.start != 0 or value.index.step != 1:
            value = value.reset_index(drop=True)
        return {"__frame__": {"columns": [str(c) for c in value.columns],
                              "dtypes": [str(t) for t in value.dtypes],
                              "data": [value[c].tolist() for c in value.columns]}}
    if isinstance(value, np.ndarray):
        return {"__array__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(v) for v in value]
    return jsonable(value)


def decode(value: Any) -> Any:
    if isinstance(value, dict) and "__frame__" in value:
        frame = value["__frame__"]
        return pd.DataFrame({c: pd.Series(d, dtype=t) for c, t, d in zip(frame["columns"], frame["dtypes"],
                                                                        frame["data"])})
    if isinstance(value, dict) and "__array__" in value:
        return np.asarray(value["__array__"], dtype=value["dtype"])
    if isinstance(value, dict):
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value


def remembered(kind: str, *, version: int = 1, depends: Callable[[dict], dict] | None = None):
    """Keep what the decorated function returns in the :class:`Store`, under the hash of its arguments (plus
    ``depends(arguments)``: what else determines the result, e.g. the recipe keys of the zoo models it loads) and
    ``version`` (bump it when the function's result changes meaning). The undecorated function is ``.compute``.
    A call whose arguments cannot be written as JSON is computed and not kept."""

    def decorate(function):
        signature = inspect.signature(function)
        name = f"{function.__module__}:{function.__qualname__}"

        @functools.wraps(function)
        def kept(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            try:
                arguments = jsonable(dict(bound.arguments))
            except TypeError:
                return function(*args, **kwargs)
            config = {"function": name, "arguments": arguments, "version": version}
            if depends is not None:
                config["depends"] = jsonable(depends(arguments))
            value = Store().computed(record_key(config), kind, config, lambda: encode(function(*args, **kwargs)))
            return decode(value)

        kept.compute, kept.version = function, version
        return kept

    return decorate


def remembered_function(config: dict) -> Callable:
    """The :func:`remembered` function a stored call record names; LookupError if it no longer exists."""
    module, _, qualname = config["function"].partition(":")
    try:
        function = importlib.import_module(module)
        for part in qualname.split("."):
            function = getattr(function, part)
    except (ImportError, AttributeError) as error:
        raise LookupError(f"{config['function']} no longer exists ({error})") from error
    if not hasattr(function, "compute"):
        raise LookupError(f"{config['function']} is no longer a remembered function")
    return function


def recompute_call(config: dict) -> Any:
    """What the remembered function of ``config`` returns now, computed (not read), as it would be stored."""
    return encode(remembered_function(config).compute(**config["arguments"]))
