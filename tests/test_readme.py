"""The README: its two commands (CI runs the test command exactly as written), a front page
of at most 100 lines with a figure, and relative links in README.md and docs/*.md that lead
to files and headings that exist."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_command(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- command:{marker} -->\n```bash\n(.+?)\n```", text)
    assert match, f"README has no command block marked {marker}"
    return match.group(1)


def test_both_commands_begin_with_the_same_setup_script():
    for marker in ("main", "test"):
        assert readme_command(marker).startswith("bash scripts/setup.sh && ")
    assert (ROOT / "scripts" / "setup.sh").is_file()


def test_ci_runs_the_readme_test_command_verbatim():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_command("test") in ci_lines


def test_main_command_evaluates_the_embedded_default():
    main_job = "bash scripts/setup.sh && .venv/bin/tracker eval --family ladder"
    assert readme_command("main") == main_job
    assert (ROOT / "configs" / "families" / "ladder.yaml").is_file()


def test_setup_pins_torch_before_the_project():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert 'TORCH_VERSION="${TRACKER_TORCH_VERSION:-2.13.0}"' in setup
    assert setup.index('"torch==${TORCH_VERSION}"') < setup.index('-e ".[dev]"')


# The README as a front page, and links that lead somewhere.

MAX_README_LINES = 100
LINK = re.compile(r"\]\(([^)\s]+)\)")  # [text](target) and ![alt](target); alt may span lines
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
EXTERNAL = ("http://", "https://", "mailto:")


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+\s+(.+?)\s*$", path.read_text(), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def broken_links(path: Path) -> list[str]:
    """Relative links in a markdown file whose file (or heading anchor) does not exist."""
    broken = []
    for target in LINK.findall(path.read_text()):
        if target.startswith(EXTERNAL):
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists() or (anchor and linked.suffix == ".md"
                                   and anchor not in anchors(linked)):
            broken.append(target)
    return broken


def test_readme_is_a_front_page_of_at_most_100_lines():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines"


def test_readme_embeds_a_figure_that_exists():
    images = IMAGE.findall((ROOT / "README.md").read_text())
    assert images, "README.md embeds no figure"
    for image in images:
        assert (ROOT / image).is_file(), f"README.md embeds {image}, which does not exist"


def test_every_relative_link_points_to_an_existing_file():
    broken = {path.name: links for path in documents() if (links := broken_links(path))}
    assert not broken, f"broken links: {broken}"


def test_the_link_check_finds_a_broken_link(tmp_path):
    (tmp_path / "there.md").write_text("# A heading\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](there.md) [ok](there.md#a-heading) [web](https://x.org/y)\n"
                    "![a figure\nover two lines](missing.png) [gone](there.md#no-such)\n"
                    "[nowhere](gone.md#a-heading)\n")
    assert broken_links(page) == ["missing.png", "there.md#no-such", "gone.md#a-heading"]
