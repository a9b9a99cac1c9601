"""Issue 14, item 4: every declared primary test, simulated under no effect, says "supported" at most 5% of the time
(within simulation error), and the command line writes the calibration table."""
import pandas as pd
import pytest

from tlcore.claims.primary import Primary, calibration
from tlcore.claims.primary_test import PrimaryTest
from tlcore.claims.registry import CLAIMS, primaries, rule_calibration
from tlcore.cli import main


@pytest.fixture(scope="module")
def table():
    return rule_calibration(n_sim=2000)


def test_every_declared_test_keeps_its_false_supported_rate_at_or_under_five_percent(table):
    assert set(table.claim) == set(primaries()) and len(table) == 3 * len(primaries())
    assert (table.false_supported_rate <= 0.05 + 3 * table.mc_se).all(), table.sort_values("false_supported_rate")
    assert (table.false_supported_rate_alone <= 0.05 + 3 * table.mc_se).all()


def test_power_grows_with_seeds(table):
    by_seeds = table.pivot(index="claim", columns="seeds", values="power")
    assert (by_seeds[10] >= by_seeds[3] - 0.05).all() and (by_seeds[10] > by_seeds[3]).mean() > 0.9


def test_a_lax_test_is_caught():
    lax = Primary(PrimaryTest("synthetic", "greater", 1.0, alpha=0.3, method="t"), lambda tables: [])
    frame = calibration({"X": lax}, seeds=(5,), n_sim=2000)
    assert frame.false_supported_rate.item() > 0.05 + 3 * frame.mc_se.item()


def test_the_command_writes_the_table(tmp_results, capsys):
    assert main(["claims", "--calibration", "--n-sim", "500"]) == 0
    written = pd.read_csv(tmp_results / "tables" / "rule_calibration.csv")
    assert list(written.columns[:4]) == ["claim", "false_supported_rate", "power", "seeds"]
    assert "highest false 'supported' rate" in capsys.readouterr().out


def test_every_implemented_claim_declares_a_primary_test():
    missing = [c.id for c in CLAIMS.values() if c.rule is not None and c.primary is None]
    assert not missing, f"claims without a declared primary test: {missing}"
