"""auxqual: quality of auxiliary anomalies."""

__version__ = "0.1.0"
