"""auxqual: quality of auxiliary anomalies."""
