"""The package as others use it: `python -m build` makes an sdist and a wheel from a clean copy of the tree; the wheel
goes into a fresh virtualenv that holds nothing else but the distributions its metadata requires (linked from this
venv, so nothing is downloaded; `pip check` then proves the declared dependencies complete and the pinned versions
inside their ranges); and examples/consumer, copied out of the repository, previews under Pulumi's mocks from that
venv, declaring the table, the sites, the DR plane and failover DNS through the public API only."""

from __future__ import annotations

import ast
import collections
import importlib
import importlib.metadata as md
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
REGIONS = ["us-east-1", "us-east-2", "us-west-2"]
ISOLATED_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "HOME": os.environ.get("HOME", "/tmp"),
    "AWS_EC2_METADATA_DISABLED": "true",
}


def _run(argv: list, cwd: Path, timeout: float = 300) -> str:
    out = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=ISOLATED_ENV, capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == 0, f"{argv}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout


def _clean_copy(to: Path) -> Path:
    """The files a checkout has (tracked, or new and not ignored): no venv, build outputs or caches."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if (ROOT / name).is_file():
            (to / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, to / name)
    return to


def _closure(requirements: list[str]) -> set[str]:
    """Every installed distribution that `requirements` pull in (markers evaluated, extras followed)."""
    seen: set[tuple[str, str]] = set()
    todo = [(Requirement(r), "") for r in requirements]
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(req.name)
        for wanted in ["", *sorted(req.extras)]:
            if (name, wanted) in seen:
                continue
            seen.add((name, wanted))
            todo.extend((Requirement(r), wanted) for r in md.distribution(name).requires or [])
    return {name for name, _ in seen}


def _is_unit(dist: md.Distribution, parts: tuple[str, ...]) -> bool:
    """A directory linked whole: a distribution's metadata, or a regular package (not a namespace one, such as
    `google`, which several distributions fill)."""
    if len(parts) == 1 and parts[0].endswith(".dist-info"):
        return True
    return Path(str(dist.locate_file(Path(*parts, "__init__.py")))).is_file()


def _link_distributions(names: set[str], site_packages: Path) -> None:
    """Each distribution's own files (its RECORD) linked into `site_packages`, a regular package as one link;
    scripts outside site-packages are skipped."""
    linked: set[tuple[str, ...]] = set()
    for name in sorted(names):
        dist = md.distribution(name)
        for file in dist.files or []:
            parts = tuple(file.parts)
            if parts[0] == ".." or any(parts[:i] in linked for i in range(1, len(parts) + 1)):
                continue
            unit = next((parts[:i] for i in range(1, len(parts)) if _is_unit(dist, parts[:i])), parts)
            source = Path(str(dist.locate_file(Path(*unit))))
            if source.exists():
                target = site_packages.joinpath(*unit)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(source)
            linked.add(unit)


@pytest.fixture(scope="module")
def consumer_env(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("package")
    src = _clean_copy(tmp / "src")
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", tmp / "dist", src], cwd=tmp)
    wheel = next((tmp / "dist").glob("dynamodb_dr-0.1.0-py3-none-any.whl"))
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", wheel], cwd=tmp)
    site_packages = Path(
        _run([python, "-I", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp).strip()
    )
    with zipfile.ZipFile(wheel) as zf:
        metadata = zf.read("dynamodb_dr-0.1.0.dist-info/METADATA").decode()
    requires = [line.split(": ", 1)[1] for line in metadata.splitlines() if line.startswith("Requires-Dist: ")]
    _link_distributions(_closure(requires), site_packages)
    consumer = shutil.copytree(ROOT / "examples" / "consumer", tmp / "consumer")
    return {"tmp": tmp, "wheel": wheel, "python": python, "site_packages": site_packages, "consumer": consumer}


def test_build_makes_an_sdist_and_a_typed_wheel_of_both_packages(consumer_env):
    # setuptools before 69.3 keeps the project's dash in the sdist's name
    built = sorted(p.name.replace("dynamodb-dr-", "dynamodb_dr-") for p in consumer_env["wheel"].parent.iterdir())
    assert built == [
        "dynamodb_dr-0.1.0-py3-none-any.whl",
        "dynamodb_dr-0.1.0.tar.gz",
    ]
    names = zipfile.ZipFile(consumer_env["wheel"]).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"components", "failover", "dynamodb_dr-0.1.0.dist-info"}
    assert {"components/py.typed", "failover/py.typed", "components/sites/doks/component.py"} <= set(names)
    shipped = sorted(n.split("/", 1)[1] for n in names if n.startswith("failover/") and n.endswith(".py"))
    assert shipped == sorted(p.name for p in (ROOT / "failover").glob("*.py"))


def test_declared_dependencies_are_complete_and_admit_the_pinned_versions(consumer_env):
    out = _run([sys.executable, "-m", "pip", "--python", consumer_env["python"], "check"], cwd=consumer_env["tmp"])
    assert "No broken requirements found" in out


@pytest.mark.parametrize("package", ["components", "failover"])
def test_the_public_names_are_listed_alike_for_readers_type_checkers_and_the_lazy_loader(package):
    """`__all__`, the `if TYPE_CHECKING:` imports (what type checkers and editors read) and the lazy loader's map
    name the same things, each from the module it lives in."""
    module = importlib.import_module(package)
    tree = ast.parse((ROOT / package / "__init__.py").read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING")
    typed = {a.name: n.module for n in block.body if isinstance(n, ast.ImportFrom) for a in n.names}
    assert typed == module._HOME_OF
    assert sorted(module.__all__) == sorted(typed)
    for name, home in typed.items():
        assert getattr(module, name) is getattr(importlib.import_module(home), name)


def _imported_distributions_modules() -> set[str]:
    """Every top-level module the two packages import anywhere (function-level imports too), but their own and the
    standard library's."""
    found: set[str] = set()
    for path in [*(ROOT / "components").rglob("*.py"), *(ROOT / "failover").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"__future__", "components", "failover"}


def test_every_module_and_everything_it_imports_loads_from_the_declared_dependencies(consumer_env):
    modules = sorted(_imported_distributions_modules())
    assert {"pulumi_aws", "pulumi_ovh", "boto3", "aws_lambda_powertools", "passlib", "cryptography"} <= set(modules)
    code = (
        "import importlib, pkgutil, sys, components, failover\n"
        "for package in (components, failover):\n"
        "    for info in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        importlib.import_module(info.name)\n"
        "for name in sys.argv[1:]:\n"
        "    importlib.import_module(name)\n"
        "print(len([m for m in sys.modules if m.startswith(('components.', 'failover.'))]))"
    )
    loaded = int(_run([consumer_env["python"], "-I", "-c", code, *modules], cwd=consumer_env["consumer"]))
    assert loaded == len([*(ROOT / "components").rglob("*.py"), *(ROOT / "failover").rglob("*.py")]) - 2


def test_the_package_is_imported_from_the_venv_and_ships_the_lambda_from_there(consumer_env):
    code = (
        "import json, sys, components, failover, components.config\n"
        "eager = sorted(m for m in sys.modules if m.split('.')[0].startswith(('pulumi', 'boto')))\n"
        "from components.orchestrator import lambda_code_files\n"
        "from components.powertools import pinned_powertools_version\n"
        "print(json.dumps({'eager': eager, 'components': components.__file__, 'failover': failover.__file__,\n"
        "  'archive': {k: str(v) for k, v in lambda_code_files().items()}, 'powertools': pinned_powertools_version(),\n"
        "  'missing': [n for p in (components, failover) for n in p.__all__ if not hasattr(p, n)]}))"
    )
    found = json.loads(_run([consumer_env["python"], "-I", "-c", code], cwd=consumer_env["consumer"]))
    site_packages = consumer_env["site_packages"]
    assert Path(found["components"]) == site_packages / "components" / "__init__.py"
    assert Path(found["failover"]) == site_packages / "failover" / "__init__.py"
    assert sorted(found["archive"]) == sorted(f"failover/{p.name}" for p in (ROOT / "failover").glob("*.py"))
    assert all(Path(p).parent == site_packages / "failover" for p in found["archive"].values())
    assert found["powertools"] == md.version("aws-lambda-powertools")
    assert found["missing"] == []
    assert found["eager"] == []  # the package and its config model load no SDK until a name needs one


def test_consumer_program_declares_the_dr_deployment_through_the_public_api(consumer_env):
    out = _run([consumer_env["python"], "-I", "preview_offline.py", "dev"], cwd=consumer_env["consumer"])
    doc = json.loads(out)
    names = collections.defaultdict(list)
    for r in doc["resources"]:
        names[r["type"]].append(r["name"])
    assert sorted(names["dr:data:GlobalTable"]) == ["shop-active-region-control", "shop-data"]
    assert names["dr:control:ActiveRegion"] == ["shop-active-region"]
    assert sorted(names["dr:compute:RegionalService"]) == [f"shop-{r}" for r in REGIONS]
    assert sorted(names["dr:notify:NotificationTopic"]) == ["shop-alarms"] + [f"shop-notify-{r}" for r in REGIONS]
    assert sorted(names["dr:traffic:EndpointHealth"]) == [f"shop-health-{r}" for r in REGIONS]
    assert names["dr:traffic:FailoverDns"] == ["shop-dns"]
    assert sorted(names["dr:automation:Orchestrator"]) == [f"shop-orchestrator-{r}" for r in REGIONS]
    assert len(names["aws:lambda/function:Function"]) == 3 and len(names["aws:ecs/service:Service"]) == 3
    table = next(
        r for r in doc["resources"] if r["type"] == "aws:dynamodb/table:Table" and r["name"] == "shop-data-table"
    )
    assert table["inputs"]["name"] == "shop-dev"
    assert sorted(x["regionName"] for x in table["inputs"]["replicas"]) == REGIONS[1:]
    records = [r["inputs"] for r in doc["resources"] if r["type"] == "aws:route53/record:Record"]
    failover = sorted(p["type"] for r in records for p in r.get("failoverRoutingPolicies", []))
    assert "PRIMARY" in failover and "SECONDARY" in failover
    assert doc["outputs"]["url"] == "http://api.shop.example.com"
    assert doc["outputs"]["regions"] == REGIONS
    assert doc["outputs"]["tableName"] == "shop-dev"
