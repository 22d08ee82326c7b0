"""The documentation stays true: the generated configuration reference matches the config models, every key the
docs and stack files name is a key of the models, every relative link and anchor resolves, and the README stays a
front door (small, its first section the two set-up commands that CI runs)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel
from ruamel.yaml import YAML

from drctl import reference

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
DOCUMENTS = [README, *PAGES]
STACK_FILES = sorted(ROOT.glob("Pulumi.*.yaml"))
README_LIMIT_BYTES = 20_000


# --- the generated configuration reference ---------------------------------------------------------------------


def test_the_configuration_reference_is_what_the_models_generate():
    committed = reference.PAGE.read_text(encoding="utf-8")
    assert committed == reference.render(), f"docs/configuration.md is stale: run `{reference.COMMAND}`"


def test_check_exits_1_with_one_line_when_the_page_is_stale(tmp_path, monkeypatch, capsys):
    page = tmp_path / "configuration.md"
    monkeypatch.setattr(reference, "PAGE", page)
    monkeypatch.setattr(reference, "ROOT", tmp_path)
    page.write_text(reference.render() + "an edit by hand\n", encoding="utf-8")
    assert reference.main(["--check"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "configuration.md is stale" in err and reference.COMMAND in err
    assert reference.main([]) == 0  # regenerate
    assert reference.main(["--check"]) == 0
    assert capsys.readouterr().err == ""


def test_every_layout_has_a_model_in_the_reference():
    assert list(reference.LAYOUT_MODELS) == ["aws", "digitalocean", "ovh-hybrid"]
    assert all(issubclass(model, reference.CommonConfig) for model in reference.LAYOUT_MODELS.values())


class _Model(BaseModel):
    """Keys spelled as the config models spell them: camelCase in the stack file."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, strict=True)


class _Inner(_Model):
    """An inner object."""

    size: int = Field(3, ge=1, le=9, description="How big.")
    name: str


class _Toy(_Model):
    mode: Literal["a", "b"] = "a"
    limit: int | None = Field(None, ge=2)
    tags: list[str] = Field(default_factory=list, min_length=1, max_length=4)
    inner: _Inner = _Inner(size=5, name="x")


def test_the_generator_reads_aliases_bounds_choices_and_the_defaults_of_a_defaulted_object():
    section = reference.Section("toy", "")
    reference._walk(_Toy, "dr:", section)
    rows = {r.path: r for r in section.rows}
    assert list(rows) == ["dr:mode", "dr:limit", "dr:tags", "dr:inner", "dr:inner.size", "dr:inner.name"]
    assert (rows["dr:mode"].type, rows["dr:mode"].default, rows["dr:mode"].allowed) == (
        "string",
        "`a`",
        "one of `a`, `b`",
    )
    assert (rows["dr:limit"].default, rows["dr:limit"].allowed) == ("unset", "at least 2")
    assert (rows["dr:tags"].type, rows["dr:tags"].allowed) == ("list of strings", "1–4 entries")
    assert rows["dr:inner"].description == "An inner object."
    assert rows["dr:inner.size"].default == "`5` when `dr:inner` is omitted; `3` when it is given"
    assert rows["dr:inner.name"].default == "`x` when `dr:inner` is omitted; required when it is given"
    assert (rows["dr:inner.size"].allowed, rows["dr:inner.size"].description) == ("1–9", "How big.")
    assert rows["dr:mode"].description == ""  # shown as NO_DESCRIPTION on the page


def test_keys_without_a_description_say_so_on_the_page():
    missing = reference.undescribed()
    assert "dr:failover.minDwellSeconds" in missing
    text = reference.render()
    row = next(line for line in text.splitlines() if line.startswith("| `dr:failover.minDwellSeconds` |"))
    assert row.endswith(f"{reference.NO_DESCRIPTION} |")


# --- keys named by stack files and docs ------------------------------------------------------------------------


def _flatten(path: str, value) -> list[str]:
    """Key paths of a stack-file value: objects are descended, list entries indexed; a scalar, a list of scalars
    or a `secure:` value is a leaf."""
    if isinstance(value, dict) and value and set(value) != {"secure"}:
        return [p for k, v in value.items() for p in _flatten(f"{path}.{k}", v)]
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):
        return [p for i, v in enumerate(value) for p in _flatten(f"{path}[{i}]", v)]
    return [path]


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=lambda p: p.name)
def test_every_key_a_stack_file_sets_is_in_the_reference(stack_file):
    config = YAML(typ="safe", pure=True).load(stack_file.read_text(encoding="utf-8"))["config"]
    keys = [p for name, value in config.items() if name.startswith("dr:") for p in _flatten(name, value)]
    assert keys
    assert [k for k in keys if not reference.known_key(k)] == []


def test_known_key_refuses_what_no_model_has():
    assert reference.known_key("dr:sites[0].haproxy.publicIp")
    assert reference.known_key("dr:appSecrets.API_TOKEN")
    assert not reference.known_key("dr:failover.monitorIntervalMinutes")  # replaced by probeIntervalSeconds
    assert not reference.known_key("dr:app.cpuUnits")


_DR_KEY = re.compile(r"(?<![\w:/-])dr:[a-z][A-Za-z0-9]*(?:\.(?:<[A-Za-z]+>|[A-Za-z0-9_*-]+)|\[[a-z0-9]+\])*")


def named_keys(text: str) -> set[str]:
    """`dr:` key paths a page names; component type tokens (`dr:data:GlobalTable`) are not keys."""
    found = set()
    for match in _DR_KEY.finditer(text):
        if re.match(r":[A-Z<]", text[match.end() : match.end() + 2]):
            continue
        found.add(re.sub(r"\.\*$", "", match.group(0)).rstrip(".-"))
    return found


def test_the_key_finder_reads_paths_and_skips_type_tokens():
    assert named_keys(
        "`dr:sites[i].awsRegion`, `dr:data:GlobalTable`, `dr:regions.*`, 'dr:appSecrets.NAME', "
        "`<dr:app.healthPath>/route`, `dr:siteSecrets.<site>.tlsKey`"
    ) == {
        "dr:sites[i].awsRegion",
        "dr:regions",
        "dr:appSecrets.NAME",
        "dr:app.healthPath",
        "dr:siteSecrets.<site>.tlsKey",
    }


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_dr_key_the_docs_name_is_a_key_of_the_models(document):
    unknown = sorted(k for k in named_keys(document.read_text(encoding="utf-8")) if not reference.known_key(k))
    assert unknown == []


# --- links, images and anchors ---------------------------------------------------------------------------------


def without_code(text: str) -> str:
    """The text with fenced code blocks and inline code spans blanked (their brackets are not links)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
    return re.sub(r"`[^`\n]*`", "``", text)


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: markup dropped, lower case, punctuation removed, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.DOTALL | re.MULTILINE)
    seen: dict[str, int] = {}
    found = set()
    for line in text.splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = github_slug(match.group(1))
        count = seen.get(slug, 0)
        found.add(slug if count == 0 else f"{slug}-{count}")
        seen[slug] = count + 1
    return found


def test_github_slugs():
    assert (
        github_slug("`drctl stacks`, `drctl preview --tier`, `drctl deploy`")
        == "drctl-stacks-drctl-preview---tier-drctl-deploy"
    )
    assert github_slug("CI workflows (`.github/workflows/`)") == "ci-workflows-githubworkflows"
    assert github_slug("dynamodb-dr — multi-region") == "dynamodb-dr--multi-region"


def links(path: Path) -> list[str]:
    text = without_code(path.read_text(encoding="utf-8"))
    return re.findall(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", text)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_relative_link_and_image_points_to_a_file_and_heading_that_exist(document):
    broken = []
    found = links(document)
    for target in found:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (document.parent / file_part).resolve() if file_part else document
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.name}")
    assert broken == []
    if document == README:
        assert len(found) >= 10  # the README is the front door: it links into docs/


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in links(README)}
    assert [p.name for p in PAGES if p.resolve() not in linked] == []


# --- the README as a front door -------------------------------------------------------------------------------


def test_the_readme_is_at_most_20_kb():
    size = len(README.read_bytes())
    assert size <= README_LIMIT_BYTES, f"README.md is {size} bytes; move detail into docs/"


def first_section_commands() -> list[str]:
    """The commands in the code blocks of the README's first `##` section, comments removed."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## ", 2)[1]
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", section, flags=re.DOTALL | re.MULTILINE)
    return [line.split("#")[0].strip() for block in blocks for line in block.splitlines() if line.split("#")[0].strip()]


def test_the_readme_first_section_shows_the_two_setup_commands():
    assert first_section_commands() == ["make preview", "make test"]


def test_ci_runs_the_readme_test_command():
    test_command = next(c for c in first_section_commands() if shlex.split(c)[:2] == ["make", "test"])
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line.strip() for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert test_command in commands
