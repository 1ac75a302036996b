"""A spec type a cloud does not have is refused at validation, naming the cloud and the
resource, with the providers' real capabilities (no cloud is called)."""

from __future__ import annotations

import pytest

from engine.iac.stack import parse_stack, validate_stack
from interfaces.errors import ConfigError
from providers.registry import create_provider


@pytest.mark.parametrize(
    ("cloud", "resource_type"),
    [("gcp", "infra.cdn"), ("azure", "infra.cdn"), ("digitalocean", "infra.secret")],
)
def test_a_type_the_cloud_lacks_is_not_offered_by_it(cloud: str, resource_type: str) -> None:
    doc = parse_stack({
        "stack": "shop",
        "providers": {"main": {"type": cloud}},
        "resources": [{"name": "edge", "type": resource_type}],
    })  # fmt: skip
    offered = create_provider(cloud).capabilities()
    with pytest.raises(ConfigError) as refused:
        validate_stack(doc, {"main": offered}, "shop.yaml")
    assert refused.value.problems == [
        f'shop.yaml: resource "edge": {resource_type} is not offered by {cloud} (provider '
        f'"main"; it offers: {", ".join(sorted(c.resource_type for c in offered))})'
    ]
