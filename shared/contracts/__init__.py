"""The public contract: subjects, streams, envelope and event models (CONTRACT.md)."""
