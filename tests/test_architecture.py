"""The package's shape: imports flow one way (the import-linter contract in pyproject.toml), no two parts of the
package import each other, and no module grows past what one concept needs."""
import re
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tlcore"
MAX_MODULE_LINES = 300


def test_the_layer_contract_holds():
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 kept, 0 broken" in result.stdout


def part(module: str) -> str:
    """``tlcore.studies.profiles`` -> ``tlcore.studies``; top-level modules stand for themselves."""
    return ".".join(module.split(".")[:2])


def import_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one node in the directed graph ``edges`` (Tarjan)."""
    index, low, stack, on_stack, groups, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in edges.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


@pytest.fixture(scope="module")
def part_imports():
    graph = grimp.build_graph("tlcore")
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        if module == "tlcore":  # the root re-exports the entry points of every layer
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            if imported != "tlcore" and part(imported) != part(module):
                edges.setdefault(part(module), set()).add(part(imported))
    return edges


def test_no_two_parts_of_the_package_import_each_other(part_imports):
    assert import_cycles(part_imports) == []


def test_the_cycle_finder_finds_cycles():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []


def test_features_are_read_below_the_methods_that_use_them(part_imports):
    # The loop once imported analysis.features, which imported finetune back inside a function.
    assert "tlcore.analysis" not in part_imports.get("tlcore.finetune", set())


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{path.relative_to(ROOT)} has {lines} lines; split it by concept"


# Calls that load or train a model. A chapter that makes one trains it on a fresh machine even when the store holds
# every outcome its page shows (chapter 7 once pretrained its reference model only to read its source accuracy);
# chapters read what they show from the store (``tlcore.models.source_provenance`` for zoo facts) through
# ``tlcore.studies``.
TRAINING_CALLS = re.compile(r"\b(load_source_model|create_model|fit|train_source|pretrain)\(|models\.create\(")


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.py")), ids=lambda p: p.name)
def test_chapters_never_load_or_train_a_model_themselves(path):
    calls = [f"{path.name}:{number}: {line.strip()}" for number, line in enumerate(path.read_text().splitlines(), 1)
             if TRAINING_CALLS.search(line) and not line.lstrip().startswith("#")]
    assert not calls, "read it from the store through tlcore.studies instead:\n" + "\n".join(calls)


def test_the_training_call_pattern_finds_what_it_names():
    assert TRAINING_CALLS.search('acc = tlcore.models.load_source_model(setup.arch)[1]["source_val_accuracy"]')
    assert TRAINING_CALLS.search("model = tlcore.models.create('glyph_resnet_narrow', pretrained=True)")
    assert not TRAINING_CALLS.search("slope = np.polyfit(x, y, 1)")  # fitting a line trains nothing
    assert not TRAINING_CALLS.search('acc = tlcore.models.source_provenance(setup.arch)["source_val_accuracy"]')
