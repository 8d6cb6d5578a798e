"""redrain: a high-concurrency prize-draw server."""

__version__ = "0.1.0"
