"""twotier: a self-hostable partner center for two-tier cloud distribution."""

__version__ = "0.1.0"
