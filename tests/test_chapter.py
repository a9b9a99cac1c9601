"""The helpers chapters call at their start and end."""
import pytest

from tlcore.chapter import start_chapter
from tlcore.studies.profiles import PROFILES


def test_start_chapter_applies_the_parameters_cell_and_keeps_the_profile_where_it_is_empty():
    setup = start_chapter("smoke", seeds=[5, 6], sizes=None)
    assert setup.seeds == (5, 6) and setup.sizes == PROFILES["smoke"].sizes
    assert start_chapter("smoke", seeds=[]).seeds == PROFILES["smoke"].seeds


def test_start_chapter_names_an_unknown_profile():
    with pytest.raises(KeyError, match="unknown profile 'tiny'"):
        start_chapter("tiny")
