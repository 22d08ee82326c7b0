"""AWS for the drill: the moto server in a process of its own (its own interpreter lock, so the drill's actors and
AWS do not take turns on one core), item operations made atomic as DynamoDB's are.

`python -m drctl.drill.moto_process` prints `port N` once listening and serves until its standard input closes.
"""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

from drctl.drill.network import LOOPBACK

_ITEM_OPERATIONS = (
    "get_item",
    "put_item",
    "update_item",
    "delete_item",
    "batch_get_item",
    "batch_write_item",
    "transact_write_items",
    "query",
    "scan",
)


def make_items_atomic() -> None:
    """moto applies an UpdateItem attribute by attribute, so a concurrent read can see half an item and two racing
    conditional writes can both pass; DynamoDB is atomic per item. The drill runs several orchestrators and
    applications at once, so moto's item operations run one at a time."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()

    def atomic(original: Callable) -> Callable:
        @functools.wraps(original)
        def run(self, *args, **kwargs):
            with lock:
                return original(self, *args, **kwargs)

        return run

    originals: Mapping[str, Callable] = {
        n: getattr(DynamoDBBackend, n) for n in _ITEM_OPERATIONS if hasattr(DynamoDBBackend, n)
    }
    for name, original in originals.items():
        setattr(DynamoDBBackend, name, atomic(original))


def serve() -> None:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    make_items_atomic()
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=0, verbose=False)
    server.start()
    print(f"port {server.get_host_and_port()[1]}", flush=True)
    sys.stdin.read()  # until the drill closes the pipe (or dies)
    server.stop()


class MotoProcess:
    """The moto server process; `reset()` empties every region between scenarios."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.port = 0

    def start(self) -> MotoProcess:
        env = {
            **os.environ,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        root = str(Path(__file__).resolve().parents[2])
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"import sys; sys.path.insert(0, {root!r}); from drctl.drill.moto_process import serve; serve()",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("port "):
            self.stop()
            raise RuntimeError(f"the moto server did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    @property
    def address(self) -> tuple[str, int]:
        return LOOPBACK, self.port

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST"), timeout=10)

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            if self.process.stdin:
                self.process.stdin.close()
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
        self.process = None


if __name__ == "__main__":
    serve()
