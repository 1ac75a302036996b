"""The GCP provider: google-cloud-compute, Cloud SQL Admin and Memorystore drivers."""

from providers.gcp.provider import GcpProvider

__all__ = ["GcpProvider"]
