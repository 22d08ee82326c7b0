"""`drctl diagram`: the topology of every shipped stack from its offline preview and config, as DOT text (tested
directly) and as SVG and PNG drawn by Graphviz's `dot` (Debian's graphviz, installed by `make test`; without it
the drawing tests skip, except under CI=true, where they fail)."""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from drctl.diagram import budget_caption, to_dot
from drctl.diagram import cli as diagram_cli
from drctl.diagram.cli import DiagramError, draw, output_format, stack_topology
from drctl.diagram.dot import quote

ROOT = Path(__file__).resolve().parent.parent
STACKS = ("prod", "staging", "do", "ovh")
SVG = "{http://www.w3.org/2000/svg}"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def require_dot() -> str:
    path = shutil.which("dot")
    if path is None:
        message = "Graphviz dot is not installed (`make test` installs Debian's graphviz)"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def topologies():
    from tests.conftest import restore_mocks

    try:
        return {stack: stack_topology(stack) for stack in STACKS}
    finally:
        restore_mocks()


def names(t) -> set[str]:
    """What the picture must name: every site, where it runs, and every AWS region."""
    return {*(s.name for s in t.sites), *(s.place for s in t.sites), *t.regions}


# --- the topology and its DOT text ----------------------------------------------------------------------------


def test_the_topologies_of_the_shipped_stacks(topologies):
    prod, staging, do, ovh = (topologies[s] for s in STACKS)
    assert [(s.name, s.provider, s.aws_region) for s in prod.sites] == [
        ("us-east-1", "AWS", "us-east-1"),
        ("us-east-2", "AWS", "us-east-2"),
        ("us-west-2", "AWS", "us-west-2"),
    ]
    assert prod.sites[0].entry == "ALB orders-us-east-1-alb" and prod.sites[0].compute == "ECS service orders (6 tasks)"
    assert (prod.data.consistency, prod.data.regions, prod.witness) == (
        "strong",
        ("us-east-1", "us-east-2", "us-west-2"),
        None,
    )
    assert (prod.ttl_seconds, prod.scales) == (None, False)  # alias records; a hot standby is never scaled
    assert (staging.witness, staging.observers, staging.data.consistency) == ("eu-west-2", ["eu-west-2"], "eventual")
    assert staging.regions == ["eu-west-1", "eu-central-1", "eu-west-2", "us-east-1"] and staging.scales
    assert [s.compute for s in staging.sites] == ["ECS service orders (2 tasks)", "ECS service orders (1 task)"]
    assert [(s.name, s.provider, s.place, s.aws_region, s.entry) for s in do.sites] == [
        ("nyc3", "DigitalOcean", "nyc3", "us-east-1", "load balancer 203.0.113.21"),
        ("sfo3", "DigitalOcean", "sfo3", "us-west-2", "load balancer 203.0.113.193"),
    ]
    assert do.ttl_seconds == 30 and do.control.regions == ("us-east-1", "us-west-2") and do.witness == "us-east-2"
    assert [(s.name, s.place, s.entry, [v.name for v in s.servers]) for s in ovh.sites] == [
        ("gra", "GRA", "HAProxy 203.0.113.10", ["gra-app-1", "gra-app-2"]),
        ("rbx", "RBX", "HAProxy 203.0.113.20", ["rbx-app-1", "rbx-app-2"]),
    ]
    assert ovh.haproxy_backup and not do.haproxy_backup and ovh.record_name == "api.orders.example.com"
    assert ovh.alarm_region == "us-east-1" and len(ovh.alarms) == 2 and ovh.topics == ["eu-west-1", "eu-west-3"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_dot_text_names_every_site_and_region_and_the_failover_order(topologies, stack):
    t = topologies[stack]
    text = to_dot(t)
    assert text.startswith(f'digraph "dr_{stack}" {{') and text.rstrip().endswith("}")
    for name in names(t):
        assert name in text, name
    order = " -> ".join(f"{s.name} ({s.aws_region})" for s in t.sites)
    assert f"failover order {order}" in text
    assert budget_caption(dict(t.budget)) and "RTO/RPO budget: detection" in text
    assert f'dns -> entry_{t.sites[0].name.replace("-", "_")} [label="1st: PRIMARY"' in text
    assert ('label="backup when all own servers are down"' in text) == (stack == "ovh")
    assert ("control table witness" in text) == (t.witness is not None)
    assert ('label="scales up"' in text) == t.scales


def test_budget_caption_and_quoting():
    budget = {
        "detectionSeconds": 36,
        "trafficRtoSeconds": 96,
        "writeRtoSeconds": 43,
        "rpoSeconds": 5,
        "objectives": {"rtoSeconds": 120, "rpoSeconds": 5},
        "worstFailure": "eu-west-3",
        "inProxyFailoverSeconds": 6.0,
    }
    assert budget_caption(budget) == (
        "RTO/RPO budget: detection 36 s, traffic RTO 96 s, write RTO 43 s, RPO 5 s (objectives: RTO 120 s, RPO 5 s; "
        "worst failure eu-west-3)\nin-proxy failover (HAProxy backup): 6 s"
    )
    assert budget_caption({}) == ""
    assert quote('a "b"\\c\nd') == '"a \\"b\\"\\\\c\\nd"'


# --- drawn by Graphviz ----------------------------------------------------------------------------------------


def assert_svg(path: Path, expected: set[str]) -> None:
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    texts = " ".join(e.text or "" for e in root.iter(f"{SVG}text"))
    missing = {n for n in expected if n not in texts}
    assert not missing, missing


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 200 and height > 100


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_stack_draws_as_svg_and_png(topologies, stack, tmp_path):
    require_dot()
    text = to_dot(topologies[stack])
    draw(text, tmp_path / "t.svg", "svg")
    draw(text, tmp_path / "t.png", "png")
    assert_svg(tmp_path / "t.svg", names(topologies[stack]))
    assert_png(tmp_path / "t.png")


@pytest.mark.parametrize(("stack", "layout"), [("prod", "aws"), ("do", "digitalocean"), ("ovh", "ovh-hybrid")])
def test_the_pictures_in_the_docs_are_of_the_example_stacks(topologies, stack, layout):
    """docs/images/layout-<layout>.svg, drawn by `drctl diagram` (docs/layouts.md says the command)."""
    picture = ROOT / "docs" / "images" / f"layout-{layout}.svg"
    assert_svg(picture, names(topologies[stack]))
    assert (
        f"drctl diagram --stack {stack} --out docs/images/layout-{layout}.svg"
        in (ROOT / "docs" / "layouts.md").read_text()
    )


def test_the_format_comes_from_the_extension(tmp_path):
    assert [output_format(Path(f"a{e}")) for e in (".svg", ".PNG", ".dot")] == ["svg", "png", "dot"]
    with pytest.raises(DiagramError, match=r"unknown extension '\.gif'; use \.svg, \.png or \.dot"):
        output_format(Path("a.gif"))
    with pytest.raises(DiagramError, match="unknown extension '\\(none\\)'"):
        output_format(Path("picture"))
    draw("digraph x {}\n", tmp_path / "x.dot", "dot")  # the text itself: no Graphviz needed
    assert (tmp_path / "x.dot").read_text() == "digraph x {}\n"


def test_without_dot_a_drawing_is_one_line_exit_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(DiagramError, match="Graphviz `dot` is not installed"):
        draw("digraph x {}", tmp_path / "x.svg", "svg")
    args = argparse.Namespace(stack="prod", out=tmp_path / "x.png", stack_file=None)
    assert diagram_cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Graphviz `dot` is not installed") and err.count("\n") == 1


def test_dot_refusing_the_text_is_one_line(tmp_path):
    require_dot()
    with pytest.raises(DiagramError, match=r"dot failed \(1\): .*syntax error"):
        draw("digraph {", tmp_path / "x.svg", "svg")


def drctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "drctl", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_cli_writes_the_picture_and_refuses_an_unknown_extension(tmp_path):
    require_dot()
    run = drctl("diagram", "--stack", "ovh", "--out", str(tmp_path / "ovh.svg"))
    assert run.returncode == 0, run.stderr
    assert run.stdout == f"wrote {tmp_path / 'ovh.svg'}\n"
    assert_svg(tmp_path / "ovh.svg", {"gra", "rbx", "GRA", "RBX", "eu-west-3", "eu-west-1", "eu-west-2"})
    run = drctl("diagram", "--stack", "ovh", "--out", str(tmp_path / "ovh.jpg"))
    assert run.returncode == 2 and run.stdout == "" and run.stderr.count("\n") == 1
    assert run.stderr.startswith("error: --out ") and "unknown extension '.jpg'" in run.stderr
    run = drctl("diagram", "--stack", "nope", "--out", str(tmp_path / "nope.svg"))
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "nope" in run.stderr
