"""Explicit providers never read the stack's provider config: the program passes what the stack says.

The `digitalocean` layout's `digitalocean.Provider` gets the stack's `digitalocean:token` (a Pulumi secret), else
the environment variable pulumi-digitalocean documents; a plain-text token is refused. Provider inputs are
recorded by the mocks (`pulumi:providers:digitalocean`), so these tests see what the engine would receive.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest
import yaml

from components.config import ConfigError, load_stack_config
from components.providers import DIGITALOCEAN_TOKEN_ENV
from drctl.stackfile import SECRET_PLACEHOLDER

ROOT = Path(__file__).resolve().parent.parent
SECURE = {"secure": "v1:ZXhhbXBsZS1vbmx5:ZHVtbXktZG8tdG9rZW4="}  # decrypts nowhere


def _provider(offline_preview, tmp_path: Path, token=None):
    """The DigitalOcean provider of an offline preview of Pulumi.do.yaml (with `token` as its digitalocean:token):
    its recorded inputs (secrets shown as "[secret]") and the inputs the provider plugin would receive."""
    from drctl import mocks

    doc = yaml.safe_load((ROOT / "Pulumi.do.yaml").read_text())
    if token is not None:
        doc["config"]["digitalocean:token"] = token
    path = tmp_path / "Pulumi.do-token.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = offline_preview("do-token", stack_file=path)
    documented = [r for r in result.resources if r["type"] == "pulumi:providers:digitalocean"]
    monitor = pulumi.runtime.settings.get_monitor()
    assert isinstance(monitor, mocks.RecordingMonitor) and len(documented) == 1
    return documented[0]["inputs"], monitor.aws_mocks.provider_inputs[documented[0]["name"]]


@pytest.fixture
def no_token_env(monkeypatch):
    for name in DIGITALOCEAN_TOKEN_ENV:
        monkeypatch.delenv(name, raising=False)


def test_the_stacks_token_reaches_the_explicit_provider_as_a_secret(offline_preview, tmp_path, no_token_env):
    inputs, outputs = _provider(offline_preview, tmp_path, SECURE)
    assert inputs["token"] == "[secret]"  # sent to the engine as a secret
    assert outputs["token"] == SECRET_PLACEHOLDER  # the stack's (decrypted) value, not another one


def test_the_documented_environment_variable_is_the_fallback(offline_preview, tmp_path, no_token_env, monkeypatch):
    monkeypatch.setenv("DIGITALOCEAN_ACCESS_TOKEN", "dummy-access-token")
    assert _provider(offline_preview, tmp_path)[1]["token"] == "dummy-access-token"
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", "dummy-env-token")  # the first one the provider documents wins
    inputs, outputs = _provider(offline_preview, tmp_path)
    assert (inputs["token"], outputs["token"]) == ("[secret]", "dummy-env-token")


def test_the_stack_config_wins_over_the_environment(offline_preview, tmp_path, no_token_env, monkeypatch):
    monkeypatch.setenv("DIGITALOCEAN_TOKEN", "dummy-env-token")
    assert _provider(offline_preview, tmp_path, SECURE)[1]["token"] == SECRET_PLACEHOLDER


def test_without_a_token_the_provider_gets_none(offline_preview, tmp_path, no_token_env):
    inputs, _ = _provider(offline_preview, tmp_path)
    assert "token" not in inputs


def test_the_program_refuses_a_plain_token_from_the_engine(monkeypatch):
    """Config the engine passes (not only the stack file): a key that is not secret is refused, naming it."""
    from tests.conftest import restore_mocks

    monkeypatch.chdir(ROOT)
    try:
        pulumi.runtime.set_all_config({"digitalocean:token": "dop_v1_dummy", "dr:layout": "digitalocean"}, [])
        with pytest.raises(
            ConfigError,
            match=r"^digitalocean:token: is a credential in plain text; set it with "
            r"`pulumi config set --secret digitalocean:token`",
        ):
            load_stack_config()
    finally:
        restore_mocks()
