"""scripts/pending_raises.py: every pending raise is a valid change of the embedded profile, and unknown chapters
are refused before anything is computed."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import pending_raises  # noqa: E402

from tlcore.studies.profiles import get_profile  # noqa: E402


@pytest.mark.parametrize("chapter", sorted(pending_raises.RAISES))
def test_each_pending_raise_changes_the_embedded_profile(chapter):
    embedded, raised = get_profile("embedded"), pending_raises.raised(chapter)
    for group, changes in pending_raises.RAISES[chapter].items():
        assert getattr(raised, group) != getattr(embedded, group)  # not yet the profile's (else delete the entry)
        assert all(getattr(getattr(raised, group), name) == value for name, value in changes.items())


def test_an_unknown_chapter_is_refused(capsys):
    with pytest.raises(SystemExit):
        pending_raises.main(["07"])
    assert "no pending raise for '07'" in capsys.readouterr().err
