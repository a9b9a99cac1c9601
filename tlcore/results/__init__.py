"""Result tables: the tidy frames chapters save and the claims registry and the book read."""
from .tables import has_table, load_table, not_in_tier, save_table, tables_dir, tier_gap

__all__ = ["save_table", "load_table", "has_table", "tables_dir", "not_in_tier", "tier_gap"]
