"""Where runs and result tables live."""
from .store import STORE_VERSION, RunStore, has_table, load_table, save_table, tables_dir

__all__ = ["RunStore", "STORE_VERSION", "save_table", "load_table", "has_table", "tables_dir"]
