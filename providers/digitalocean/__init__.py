"""DigitalOcean provider on pydo (see provider.py)."""

from providers.digitalocean.provider import DigitalOceanProvider

__all__ = ["DigitalOceanProvider"]
