"""Pulumi mocks are process-global: they are installed here, once, for the whole test session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# moto 5 with a current botocore: keep DynamoDB (Streams) calls on endpoints moto routes.
os.environ.setdefault("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")

from drctl import mocks  # noqa: E402

MONITOR = mocks.install(project="dynamodb-dr", stack="test", preview=False)


def restore_mocks() -> None:
    """Reinstall the session's mocks after an in-process offline preview (which installs its own)."""
    import pulumi
    from pulumi.runtime import settings

    settings.set_root_resource(None)  # type: ignore[arg-type]
    MONITOR.reset()
    pulumi.runtime.set_mocks(MONITOR.aws_mocks, project="dynamodb-dr", stack="test", preview=False, monitor=MONITOR)
    pulumi.runtime.set_all_config({}, [])


@pytest.fixture
def offline_preview():
    """`drctl.preview.run_preview` in this process; the session's mocks are back afterwards."""
    from drctl.preview import run_preview

    yield run_preview
    restore_mocks()


@pytest.fixture
def recorder():
    """Runs a function that declares resources under `pulumi.runtime.test` and returns what registered."""
    import pulumi

    def run(declare):
        MONITOR.reset()
        results = {}

        @pulumi.runtime.test
        def program():
            value = declare()
            if isinstance(value, pulumi.Output):
                # resolved inside the test run; Recorded.value then holds the plain value
                return value.apply(lambda v: results.__setitem__("value", v))
            results["value"] = value
            return None

        program()
        return Recorded(list(MONITOR.recorded), results.get("value", _NOT_RESOLVED), list(MONITOR.invokes))

    return run


_NOT_RESOLVED = object()


class Recorded:
    """The RegisterResource requests of one run, with small lookup helpers."""

    def __init__(self, resources, value, invokes=()):
        self.resources = resources
        self.value = value
        self.invokes = list(invokes)
        """(token, args) of each invoke the run made."""

    def of_type(self, type_token: str):
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str):
        found = self.of_type(type_token)
        assert len(found) == 1, f"expected one {type_token}, found {len(found)}"
        return found[0]

    def named(self, name: str):
        found = [r for r in self.resources if r.name == name]
        assert found, f"no resource named {name}"
        return found[0]


@pytest.fixture(scope="module")
def moto_server():
    """The moto server on loopback for one test module (its state is global: tests reset it as they need)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`make test`: `-n auto --dist loadgroup`), a module whose tests share a module-scoped
    fixture (an offline preview, a moto server) runs on one worker, so that fixture is built once, not on every
    worker; modules that name their own `xdist_group` keep it."""
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        info = getattr(item, "_fixtureinfo", None)
        if info is not None and any(defs[-1].scope == "module" for defs in info.name2fixturedefs.values()):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
