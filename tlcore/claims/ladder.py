"""The verdict ladder every rule ends on: "supported", "mixed" or "not supported".

Two shapes occur in the rules:

- the usual one, where "mixed" is the weaker claim: supported when the strong condition holds, else mixed when the
  weak one holds, else not supported (``ladder(strong, mixed=weak)``);
- the inverted one, where the rule names what refutes the claim: supported when the strong condition holds, else not
  supported when the refuting one holds, else mixed (``ladder(strong, not_supported=refuted)``).

:func:`from_parts` is the common case of a claim made of parts: supported when every part holds, mixed when some
part does, not supported when none does, all of it only when ``gate`` (a precondition) holds.

The conditions are plain booleans the rule has already computed from its tables; nothing here reads or runs
anything. "planned" and "not run" are not rungs of this ladder: the registry gives them when a claim has no rule or
its tables are missing, and a rule returns "not run" itself before judging (too few seeds, for instance).
"""
from __future__ import annotations

SUPPORTED, MIXED, NOT_SUPPORTED = "supported", "mixed", "not supported"
_UNSET = object()  # not None: a condition that happens to be None must count as false, as in a plain ``if``


def ladder(supported, *, mixed=_UNSET, not_supported=_UNSET) -> str:
    """"supported" when ``supported`` holds; otherwise, given ``mixed``: "mixed" when it holds, else "not supported";
    given ``not_supported`` instead: "not supported" when it holds, else "mixed". Pass exactly one of the two.

    Conditions are taken for their truth value (``numpy.bool_`` is fine)."""
    if (mixed is _UNSET) == (not_supported is _UNSET):
        raise TypeError("ladder() needs exactly one of mixed= or not_supported=")
    if supported:
        return SUPPORTED
    if mixed is not _UNSET:
        return MIXED if mixed else NOT_SUPPORTED
    return NOT_SUPPORTED if not_supported else MIXED


def from_parts(*parts, gate=True) -> str:
    """"supported" when ``gate`` and every part hold, "mixed" when ``gate`` and at least one part holds, "not
    supported" otherwise."""
    if not parts:
        raise TypeError("from_parts() needs at least one part")
    held = [bool(part) for part in parts]
    return ladder(gate and all(held), mixed=gate and any(held))
