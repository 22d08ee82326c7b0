"""A stand-in for the pulumi CLI (absent here): a `pulumi.automation.PulumiCommand` subclass that records the
argv of every command the Automation API runs and answers with canned `CommandResult`s.

A failing answer raises exactly what the real `PulumiCommand.run` raises for it (`create_command_error`), so
the driver meets `StackNotFoundError`, `ConcurrentUpdateError` and `CommandError` as it would in CI.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping

from pulumi.automation import CommandResult, PulumiCommand
from pulumi.automation.errors import create_command_error
from semver import VersionInfo

OK = CommandResult(stdout="", stderr="", code=0)
NOT_FOUND = "error: no stack named '{stack}' found"
CONFLICT = "error: [409] Conflict: Another update is currently in progress."


def stack_of(argv: list[str]) -> str | None:
    """The stack a command works on: its `--stack` (`config cp` copies from it), or `stack init NAME`'s."""
    if argv[:2] == ["stack", "init"]:
        return argv[2]
    return argv[argv.index("--stack") + 1] if "--stack" in argv else None


def kind_of(argv: list[str]) -> str:
    """`workspace` for what writes this directory's workspace or stack files (stack select/init, config, tags),
    `operation` for preview/up/refresh/destroy, `read` for the rest."""
    if argv[:2] in (["stack", "select"], ["stack", "init"], ["stack", "tag"]) or argv[0] == "config":
        return "workspace"
    if argv[0] in ("preview", "up", "refresh", "destroy"):
        return "operation"
    return "read"


class RecordingPulumiCommand(PulumiCommand):
    """Records every argv; `fail(predicate, stderr)` makes matching commands fail like the CLI would."""

    def __init__(
        self,
        existing_stacks: frozenset[str] = frozenset(),
        changes: dict | None = None,
        existing_config: Mapping[str, list[str]] | None = None,
    ) -> None:
        # No super().__init__: it runs `pulumi version`. The file event log (CLI <= 3.205) is what this fake
        # writes preview summaries to.
        self.command = "pulumi"
        self.version = VersionInfo(3, 200, 0)
        self.calls: list[list[str]] = []
        self.existing_stacks = set(existing_stacks)
        self.existing_config = dict(existing_config or {})
        self.changes = changes or {"create": 2, "same": 5}
        self._failures: list[tuple[Callable[[list[str]], bool], str]] = []
        self._lock = threading.Lock()
        self.delays: dict[str, float] = {}
        """Kind of command (`kind_of`) -> seconds it takes, so that concurrent commands overlap in time."""
        self.running: dict[str, int] = {}
        self.most_at_once: dict[str, int] = {}
        """Kind of command -> the most commands of that kind that were running at the same instant."""

    def fail(self, predicate: Callable[[list[str]], bool], stderr: str) -> None:
        self._failures.append((predicate, stderr))

    def run(self, args, cwd, additional_env, on_output=None, on_error=None) -> CommandResult:
        argv = list(args)
        kind = kind_of(argv)
        with self._lock:
            self.calls.append(argv)
            self.running[kind] = self.running.get(kind, 0) + 1
            self.most_at_once[kind] = max(self.most_at_once.get(kind, 0), self.running[kind])
        try:
            time.sleep(self.delays.get(kind, 0.0))
            return self._run(argv, on_output)
        finally:
            with self._lock:
                self.running[kind] -= 1

    def _run(self, argv: list[str], on_output) -> CommandResult:
        for predicate, stderr in self._failures:
            if predicate(argv):
                raise create_command_error(CommandResult(stdout="", stderr=stderr, code=255))
        result = self._answer(argv)
        if result.code != 0:
            raise create_command_error(result)
        for line in result.stdout.splitlines():
            if on_output:
                on_output(line)
        return result

    def _answer(self, argv: list[str]) -> CommandResult:
        stack = stack_of(argv)
        verb = argv[:2]
        if verb == ["stack", "select"]:
            if stack in self.existing_stacks:
                return OK
            return CommandResult(stdout="", stderr=NOT_FOUND.format(stack=stack), code=255)
        if verb == ["stack", "init"]:
            self.existing_stacks.add(argv[2])
            return OK
        if verb == ["config", "--json"]:
            return CommandResult(
                stdout=json.dumps({k: {"secret": False} for k in self.existing_config.get(stack, [])}),
                stderr="",
                code=0,
            )
        if argv[0] == "preview":
            log = argv[argv.index("--event-log") + 1]
            with open(log, "a", encoding="utf-8") as f:
                f.write(json.dumps({"sequence": 1, "summaryEvent": {"resourceChanges": self.changes}}) + "\n")
                f.write(json.dumps({"sequence": 2, "cancelEvent": {}}) + "\n")
            return CommandResult(stdout=f"Previewing update ({stack})", stderr="", code=0)
        if argv[0] == "up":
            return CommandResult(stdout=f"Updating ({stack})", stderr="", code=0)
        if verb == ["stack", "output"]:
            return CommandResult(stdout="{}", stderr="", code=0)
        if verb == ["stack", "history"]:
            return CommandResult(
                stdout=json.dumps(
                    [
                        {
                            "kind": "update",
                            "startTime": "2026-01-01T00:00:00.000Z",
                            "endTime": "2026-01-01T00:01:00.000Z",
                            "message": "",
                            "environment": {},
                            "config": {},
                            "result": "succeeded",
                            "version": 1,
                            "resourceChanges": self.changes,
                        }
                    ]
                ),
                stderr="",
                code=0,
            )
        return OK
