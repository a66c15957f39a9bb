"""Proxy-means targeting, explained decisions and audits for social assistance."""
__version__ = "0.1.0"
