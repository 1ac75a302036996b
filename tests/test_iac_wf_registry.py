"""The provider registry: built-ins, registered types, modules named in the environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from interfaces.errors import ConfigError
from providers.registry import create_provider, provider_types, register_provider_type
from tests.iac_test_provider import TestProvider

ROOT = Path(__file__).resolve().parent.parent


def test_registered_and_builtin_types() -> None:
    register_provider_type("test", TestProvider)
    assert {"aws", "test"} <= set(provider_types())
    assert isinstance(create_provider("test"), TestProvider)
    with pytest.raises(ConfigError, match="unknown provider type 'nope'"):
        create_provider("nope")


def test_modules_named_in_the_environment_register_their_types() -> None:
    code = (
        "from providers.registry import create_provider;"
        "print(type(create_provider('test')).__name__)"
    )
    env = {"WFCTL_PROVIDER_MODULES": "tests.iac_test_provider", "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.stdout.strip() == "TestProvider", done.stderr
