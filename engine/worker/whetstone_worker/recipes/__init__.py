"""Training recipes: one self-contained loop per method, sharing components, not base classes."""
