"""wharf: a container image registry (Docker Registry HTTP API V2, OCI Distribution 1.1)."""

__version__ = "0.1.0"
