"""The Azure provider on azure-mgmt-resource."""

from providers.azure.provider import AzureProvider

__all__ = ["AzureProvider"]
