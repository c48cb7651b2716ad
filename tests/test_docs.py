"""The repository explains itself: links resolve, no private citations, shown commands run.

(a) relative links of tracked Markdown, and Markdown paths named in code and config, resolve
    (anchors to GitHub-slugged headings); (b) no tracked file cites the private notes the project
    was specified from; (c) every shell command in README.md and docs/*.md code blocks is checked:
    snakemake as a dry run in a copy of the repository, dice / python -m through --help (the
    subcommand and each option shown must exist), installers and test runners without running.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".git", ".venv", ".snakemake", "results", "resources", "node_modules"}
LINKED_SUFFIXES = (".py", ".yaml", ".yml", ".smk", ".rst", ".toml", ".sh", ".cfg")
QUICKSTART = (
    "bash scripts/install.sh && . .venv/bin/activate && snakemake --cores 2 all",
    "bash scripts/install.sh && . .venv/bin/activate && pytest",
)


# --- files ---------------------------------------------------------------------------------------
@cache
def tracked_files() -> tuple[Path, ...]:
    """Tracked files (git ls-files), or every file outside build folders without git."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=True, timeout=60).stdout.decode()  # fmt: skip
        names = [n for n in out.split("\0") if n]
    except (OSError, subprocess.SubprocessError):
        names = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
                 if p.is_file() and not SKIP_DIRS & set(p.relative_to(ROOT).parts)]  # fmt: skip
    return tuple(ROOT / n for n in sorted(names) if (ROOT / n).is_file())


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


FENCE = re.compile(r"^(```|~~~)")


def split_fences(text: str) -> tuple[str, list[tuple[str, str]]]:
    """(the text with fenced blocks blanked, [(language, block body)])."""
    prose, blocks, lang, body, inside = [], [], "", [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            if inside:
                blocks.append((lang, "\n".join(body)))
            else:
                lang, body = line.strip()[3:].strip().lower(), []
            inside = not inside
            prose.append("")
        elif inside:
            body.append(line)
            prose.append("")
        else:
            prose.append(line)
    return "\n".join(prose), blocks


# --- (a) links -----------------------------------------------------------------------------------
def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    prose, _ = split_fences(path.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    found = set()
    for match in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", prose, flags=re.M):
        base = slug(match.group(1))
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return frozenset(found)


MD_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
MD_REF = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", flags=re.M)


def markdown_targets(text: str) -> list[str]:
    prose, _ = split_fences(text)
    prose = re.sub(r"`[^`\n]*`", "", prose)  # code spans are not links
    return MD_LINK.findall(prose) + MD_REF.findall(prose)


def check_target(source: Path, target: str, *, base: Path) -> str | None:
    """None if `target` (relative to `base`) resolves, else what is wrong."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, flags=re.I):  # http:, https:, mailto: …
        return None
    path_part, _, anchor = target.partition("#")
    path = source if not path_part else (base / path_part).resolve()
    if not path.exists():
        return f"{source.relative_to(ROOT)}: link to missing {target}"
    if anchor and path.suffix == ".md" and anchor not in anchors(path):
        return f"{source.relative_to(ROOT)}: no heading #{anchor} in {path.relative_to(ROOT)}"
    return None


def top_dirs() -> set[str]:
    return {p.relative_to(ROOT).parts[0] for p in tracked_files()
            if len(p.relative_to(ROOT).parts) > 1} | {"docs"}  # fmt: skip


def repo_md_references(text: str) -> list[str]:
    """Repository paths of Markdown files (with any anchor) named in code or config text."""
    alternatives = "|".join(re.escape(d) for d in sorted(top_dirs()))
    pattern = rf"(?<![\w./-])((?:{alternatives})/[\w./-]*\.md(?:#[\w-]+)?)"
    return re.findall(pattern, text)


def broken_links() -> list[str]:
    problems = []
    for path in tracked_files():
        text = read_text(path)
        if text is None:
            continue
        if path.suffix == ".md":
            targets = [(t, path.parent) for t in markdown_targets(text)]
        elif path.suffix in LINKED_SUFFIXES or path.name == "Snakefile":
            targets = [(t, ROOT) for t in repo_md_references(text)]
        else:
            continue
        problems += [p for t, base in targets if (p := check_target(path, t, base=base))]
    return problems


def test_slug_follows_github() -> None:
    assert slug("Parity mode: the paper's exact splits") == "parity-mode-the-papers-exact-splits"
    assert slug("Fast vs faithful (Recall@20, ± 95 %)") == "fast-vs-faithful-recall20--95-"
    assert slug("`dice` and [links](x.md)") == "dice-and-links"


def test_link_checker_catches_a_broken_link() -> None:
    page = ROOT / "docs" / "protocol.md"
    assert check_target(page, "authors-code.md#split", base=page.parent) is None
    assert check_target(page, "authors-code.md#no-such-heading", base=page.parent)
    assert check_target(page, "missing.md", base=page.parent)
    named = "docs" + "/x.md#a-b"  # spelt in two parts so that this file holds no broken link
    assert repo_md_references(f"see {named} and ../../envs/y.md") == [named]


def test_every_relative_link_resolves() -> None:
    problems = broken_links()
    assert not problems, "\n".join(problems)


# --- (b) private citations -------------------------------------------------------------------------
# The forms are assembled from pieces so that this file itself contains none of them.
_NOTES = ("SP" + "EC", "STY" + "LE\\.md", "\\.\\./sha" + "red", "offi" + "cial-code")
PRIVATE = re.compile(
    rf"\b{_NOTES[0]}\b|{_NOTES[1]}|{_NOTES[2]}|{_NOTES[3]}|\bcode ?§|(?i:\bissue ?#?\d)"
)


def private_citations() -> list[str]:
    found = []
    for path in tracked_files():
        if (text := read_text(path)) is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if match := PRIVATE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)}")
    return found


def test_private_pattern_catches_the_old_forms() -> None:
    olds = [f"{_NOTES[0]} §4", "code " + "§2.1", "offi" + "cial-code.md §6",
            "STY" + "LE.md principle 5", "../sha" + "red/paper", "iss" + "ue #10", "iss" + "ue 8 §6"]  # fmt: skip
    for old in olds:
        assert PRIVATE.search(old), old
    for fine in ("docs/authors-code.md#split", "tsinghua-fib-lab/DICE#10", "inspect", "DICE §4.1"):
        assert not PRIVATE.search(fine), fine


def test_no_private_citations() -> None:
    found = private_citations()
    assert not found, f"{len(found)} citations of notes outside the repository: {found}"


# --- (c) commands shown in the docs ---------------------------------------------------------------
def doc_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


INLINE_DICE = re.compile(r"`((?:python -m )?dice [^`]+)`")


def shown_commands() -> list[tuple[str, list[str]]]:
    """(page, tokens) of every simple command in the shell code blocks, `&&` chains split,
    and of every `dice` command written inline (e.g. in the artefact table)."""
    commands = []
    for page in doc_pages():
        prose, blocks = split_fences(page.read_text(encoding="utf-8"))
        commands += [(page.name, m.split()) for m in INLINE_DICE.findall(prose)]
        for lang, body in blocks:
            if lang not in ("bash", "sh", "shell", "console"):
                continue
            for line in body.replace("\\\n", " ").splitlines():
                tokens = shlex.split(line.removeprefix("$ "), comments=True)
                while tokens:
                    cut = tokens.index("&&") if "&&" in tokens else len(tokens)
                    commands.append((page.name, tokens[:cut]))
                    tokens = tokens[cut + 1 :]
    return [(page, tokens) for page, tokens in commands if tokens]


def test_quickstart_commands_are_unchanged() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for command in QUICKSTART:
        assert f"```bash\n{command}\n```" in readme, command


def test_shown_commands_are_found() -> None:
    kinds = {classify(tokens) for _, tokens in shown_commands()}
    assert {"snakemake", "dice", "install", "activate", "pytest"} <= kinds


def classify(tokens: list[str]) -> str:
    head = tokens[:3]
    if head[:2] == ["bash", "scripts/install.sh"]:
        return "install"
    if head[0] in (".", "source"):
        return "activate"
    if head[0] == "pytest":
        return "pytest"
    if head[0] == "snakemake":
        return "snakemake"
    if head[0] == "dice" or head[:3] == ["python", "-m", "dice"]:
        return "dice"
    if head[:2] == ["python", "-m"]:
        return "module"
    if head[:2] == ["git", "grep"]:
        return "git-grep"
    if head[:2] == ["apt-get", "install"]:
        return "system-packages"
    if head[0].startswith("scripts/") and head[0].endswith(".sh"):
        return "script"
    return "unknown"


def environment(root: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(root))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def run(args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=environment(cwd), capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tracked files in a scratch folder, so dry runs leave the checkout untouched."""
    copy = tmp_path_factory.mktemp("repo")
    for path in tracked_files():
        target = copy / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return copy


def snakemake_dry_run(tokens: list[str]) -> list[str]:
    """The command as a dry run; `--report` plans `all` instead (the report needs its outputs)."""
    args = list(tokens)
    if "--report" in args:
        at = args.index("--report")
        del args[at : at + 2]
        args.append("all")
    uses_slurm = any(a.startswith("profiles/slurm") for a in args)
    if uses_slurm and importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        args += ["--executor", "dryrun"]  # plan without the plugin; the rest of the profile counts
    return [*args, "-n", "--quiet"]


def options_shown(tokens: list[str]) -> list[str]:
    return [t.split("=")[0] for t in tokens if t.startswith("--")]


@functools.cache
def help_of(module: str, sub: str | None, cwd: Path) -> subprocess.CompletedProcess:
    """`python -m module [sub] --help`, run once per subcommand (pages show many commands)."""
    return run([sys.executable, "-m", module, *([sub] if sub else []), "--help"], cwd, timeout=300)


def check_help(module: str, tokens: list[str], cwd: Path) -> str | None:
    sub = next((t for t in tokens if not t.startswith("-")), None)
    args = [sys.executable, "-m", module, *([sub] if sub else []), "--help"]
    done = help_of(module, sub, cwd)
    if done.returncode != 0:
        return f"{' '.join(args[1:])} failed: {done.stderr.strip()[-300:]}"
    missing = [o for o in options_shown(tokens) if o not in done.stdout]
    return f"{module} {sub}: options not in --help: {missing}" if missing else None


def check_command(tokens: list[str], copy: Path) -> str | None:
    kind = classify(tokens)
    if kind == "system-packages":  # never installs here: CI installs the same packages
        named = {t for t in tokens[2:] if not t.startswith("-")}
        ci = (ROOT / ".ci" / "run").read_text()
        return None if named and all(f" {name}" in ci for name in named) else "not what CI installs"
    if kind == "script":  # a repository script: it must exist and parse
        path = ROOT / tokens[0]
        done = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        return (
            None
            if path.is_file() and done.returncode == 0
            else f"bash -n {tokens[0]}: {done.stderr}"
        )
    if kind == "install":  # never installs here: the script must parse
        done = run(["bash", "-n", tokens[1]], ROOT)
        return None if done.returncode == 0 else f"bash -n {tokens[1]}: {done.stderr}"
    if kind == "activate":
        return None if ".venv" in (ROOT / "scripts/install.sh").read_text() else "no .venv made"
    if kind == "pytest":  # the test runner itself: collect only
        done = run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p",
                    "no:cacheprovider", *tokens[1:]], ROOT)  # fmt: skip
        return None if done.returncode == 0 else f"pytest collection failed: {done.stdout[-500:]}"
    if kind == "snakemake":
        done = run(snakemake_dry_run(tokens), copy)
        return None if done.returncode == 0 else f"dry run failed: {done.stderr.strip()[-800:]}"
    if kind == "dice":
        rest = tokens[1:] if tokens[0] == "dice" else tokens[3:]
        return check_help("dice", rest, ROOT)
    if kind == "module":
        return check_help(tokens[2], tokens[3:], ROOT)
    if kind == "git-grep":
        done = run(tokens, ROOT)
        return None if done.returncode in (0, 1) else f"git grep failed: {done.stderr}"
    return "not a command kind this test knows: rephrase it or teach tests/test_docs.py"


@pytest.mark.slow
def test_every_shown_command_runs_dry(repo_copy: Path) -> None:
    problems, seen = [], set()
    for page, tokens in shown_commands():
        key = tuple(tokens)
        if key in seen:
            continue
        seen.add(key)
        if problem := check_command(tokens, repo_copy):
            problems.append(f"{page}: {shlex.join(tokens)}\n    {problem}")
    assert not problems, "\n".join(problems)


def test_command_checks_can_fail() -> None:
    assert check_help("dice", ["verify", "--config", "x.yaml"], ROOT) is None
    assert "--no-such-option" in check_help("dice", ["verify", "--no-such-option"], ROOT)
    assert check_command(["frobnicate", "--all"], ROOT)
    dry = snakemake_dry_run(["snakemake", "--report", "report.html", "--configfile", "c.yaml"])
    assert dry[:4] == ["snakemake", "--configfile", "c.yaml", "all"] and "-n" in dry


# --- (d) the README stays a README ------------------------------------------------------------
README_BUDGET = 10_000  # characters: what it is, the two commands, the main results, next steps
JOB_COUNT = re.compile(r"\b\d[\d,]* jobs\b")


def test_readme_is_short_and_points_to_the_docs() -> None:
    text = (ROOT / "README.md").read_text()
    assert len(text) <= README_BUDGET
    assert "## Quickstart" in text and "(docs/" in text


def test_no_page_prints_a_job_count_the_plan_can_change() -> None:
    # A number of jobs depends on the config and the code; `snakemake -n` gives the true one.
    assert JOB_COUNT.search("the plan has 343 jobs") and not JOB_COUNT.search("jobs at once")
    found = [
        f"{p.name}: {m.group(0)}" for p in doc_pages() for m in JOB_COUNT.finditer(p.read_text())
    ]
    assert not found, found
