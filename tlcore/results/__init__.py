"""Result tables: the tidy frames chapters save and the claims registry and the book read."""
from .tables import has_table, load_table, save_table, tables_dir

__all__ = ["save_table", "load_table", "has_table", "tables_dir"]
