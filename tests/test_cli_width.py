"""Every operator command fits an 80-column CI log without cutting a name: prose wraps at spaces, a name that does
not fit beside other words gets a line of its own, and only a single name longer than the whole line overflows it.
Run with the longest names the config accepts (tests/long_names.py), through the CLI's own entry point with rich's
console at 80 columns, and every full name is looked for, whole, in the output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from drctl.__main__ import main
from drctl.verify import Check, VerifyReport, render_report
from tests.conftest import restore_mocks
from tests.long_names import LAYOUTS, LONGEST_SITE, LONGEST_STACK, ovh, write_stack_file

ROOT = Path(__file__).resolve().parent.parent
WIDTH = 80
GUIDES = re.compile(r"^[│├└─ ]*")


def too_wide(text: str) -> list[str]:
    """Lines wider than 80 columns, except a line that is one word (a name longer than the line itself)."""
    return [line for line in text.splitlines() if len(line) > WIDTH and len(GUIDES.sub("", line).strip().split()) != 1]


def whole(name: str, text: str) -> bool:
    return any(name in line for line in text.splitlines())


def _run(capsys, monkeypatch, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    try:
        code = main(list(argv))
    finally:
        restore_mocks()
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def stack_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("long")
    return {
        layout: write_stack_file(
            directory / layout if (directory / layout).mkdir() is None else directory, LONGEST_STACK, build()
        )
        for layout, build in LAYOUTS.items()
    }


def _names(document: dict) -> set[str]:
    """What the text view names: every resource and component (providers are not in the tree) and every single-line
    output value (ARNs, physical names, URLs)."""
    names = {LONGEST_STACK}
    for r in document["resources"]:
        if not r["type"].startswith(("pulumi:pulumi:Stack", "pulumi:providers:")):
            names.add(r["name"])

    def leaves(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from leaves(v)
        elif isinstance(value, list):
            for v in value:
                yield from leaves(v)
        elif isinstance(value, str) and "\n" not in value and " " not in value:
            yield value

    names |= set(leaves({k: v for k, v in document["outputs"].items() if k != "budget"}))
    return {n for n in names if n and n not in ("[secret]", "[unknown]")}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_preview_fits_80_columns_and_keeps_every_name_whole(capsys, monkeypatch, stack_files, layout):
    path = str(stack_files[layout])
    code, out, err = _run(capsys, monkeypatch, "preview", "--stack", LONGEST_STACK, "--stack-file", path, "--json")
    assert code in (0, 1), err
    names = _names(json.loads(out))
    assert len(names) > 40
    code, out, err = _run(capsys, monkeypatch, "preview", "--stack", LONGEST_STACK, "--stack-file", path)
    assert code in (0, 1) and err == ""
    assert not too_wide(out), too_wide(out)
    missing = sorted(n for n in names if not whole(n, out))
    assert not missing, missing
    assert any(len(line) > WIDTH for line in out.splitlines())  # the 100-character stack name overflows, whole


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_budget_fits_80_columns(capsys, monkeypatch, stack_files, layout):
    code, out, err = _run(
        capsys, monkeypatch, "budget", "--stack", LONGEST_STACK, "--stack-file", str(stack_files[layout])
    )
    assert code in (0, 1) and err == "" and "RTO/RPO budget" in out
    assert not too_wide(out) and max(len(line) for line in out.splitlines()) <= WIDTH
    regions = set(re.findall(r"\b[a-z]{2}-[a-z]+-\d\b", out))
    assert regions and all(whole(r, out) for r in regions)


def test_stacks_prints_every_qualified_stack_name_whole(capsys, monkeypatch, tmp_path):
    import drctl.preview
    import drctl.stacks

    base = LONGEST_STACK[: 100 - len("-strasbourg-north-automation")]
    (tmp_path / "Pulumi.yaml").write_bytes((ROOT / "Pulumi.yaml").read_bytes())
    config = ovh()
    config["dr:organization"] = "acme-platform-engineering-europe-west"
    write_stack_file(tmp_path, base, config)
    monkeypatch.setattr(drctl.preview, "PROJECT_DIR", tmp_path)
    monkeypatch.setattr(drctl.stacks, "PROJECT_DIR", tmp_path)
    code, out, err = _run(capsys, monkeypatch, "stacks", "--stack", base, "--json")
    assert code == 0, err
    rows = json.loads(out)["include"]
    code, out, err = _run(capsys, monkeypatch, "stacks", "--stack", base)
    assert code == 0 and err == ""
    assert not too_wide(out), too_wide(out)
    for row in rows:
        assert whole(row["qualifiedStack"], out), row["qualifiedStack"]
        assert len(row["qualifiedStack"]) > WIDTH  # long enough that a table would have cut it
        assert whole(row["tier"], out)


def test_verify_keeps_names_whole_and_wraps_only_prose():
    function = "orders-checkout-platform-eu-2026-Checkout_Platform-Production--1f2e3d"
    checks = [
        Check(
            f"trigger: alarm topic -> {function}",
            "ap-northeast-1",
            False,
            "not subscribed to arn:aws:sns:us-east-1:123456789012:orders-checkout-platform-eu-2026-alarms-topic-"
            "0a1b2c3 and SNS may not invoke it; fix: pulumi up",
        ),
        Check(
            "table orders.checkout_table-orders.checkout_table-orders.checkout_table-orders.checkout_table",
            "ap-southeast-5",
            True,
            "ACTIVE, STRONG replica of ap-northeast-1",
        ),
        Check(
            "topic orders-checkout-platform-eu-2026-notify-ap-northeast-1-topic",
            "ap-northeast-1",
            False,
            "no topic named orders-checkout-platform-eu-2026-notify-ap-northeast-1-topic-<7 hex> (Pulumi's "
            "auto-name) in ap-northeast-1",
        ),
    ]
    console = Console(width=WIDTH, record=True, color_system=None)
    console.print(render_report(VerifyReport(LONGEST_STACK, checks), WIDTH), crop=False)
    out = console.export_text()
    assert not too_wide(out), too_wide(out)
    for c in checks:
        assert whole(c.where, out)
        for word in c.what.split() + c.detail.split():
            assert whole(word, out), word  # names whole: the text wraps at spaces only
    assert whole(LONGEST_STACK, out)
    assert "[0-9a-f]" not in out and "\\-" not in out  # no raw regex


def test_haproxy_keeps_names_whole_and_wraps_comments_and_notes(capsys, monkeypatch, stack_files):
    code, out, err = _run(
        capsys,
        monkeypatch,
        "haproxy",
        "--stack",
        LONGEST_STACK,
        "--site",
        LONGEST_SITE,
        "--stack-file",
        str(stack_files["ovh-hybrid"]),
    )
    assert code == 0
    comments = [line for line in out.splitlines() if line.startswith("#")]
    assert comments and all(len(line) <= WIDTH for line in comments)
    assert err.count("\n") >= 2 and all(len(line) <= WIDTH for line in err.splitlines())
    assert whole(f"of site {LONGEST_SITE}:", out)
    servers = [s["name"] for s in ovh()["dr:sites"][0]["servers"]]
    assert all(len(name) == 63 and whole(f"server {name} ", out) for name in servers)
    # a directive wider than 80 columns is one HAProxy statement (the format has no line continuation)
    for line in out.splitlines():
        if len(line) > WIDTH:
            assert not line.startswith("#") and line.startswith("    ")
