"""Runs: a run specification as data, computed once and kept in the store under the hash of what determines it."""
