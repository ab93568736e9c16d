"""sodaudit: audit object-detection datasets for small-object problems before training."""

__version__ = "0.1.0"
