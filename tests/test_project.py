"""Project hygiene: the README's commands, CI, and packaging stay consistent."""

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _ci_test_command() -> str:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    marker = lines.index("# README test command:")
    return lines[marker + 1].strip()


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert _ci_test_command() in readme


def test_every_package_folder_is_packaged():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = meta["package-dir"]
    packaged = set(meta["packages"])
    for name, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            dotted = ".".join((name, *rel.parts)) if rel.parts else name
            assert dotted in packaged, f"{dotted} ({init.parent}) missing from pyproject packages"


def test_entry_points_name_existing_modules():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-dir"]
    targets = [meta["scripts"]["vta"], *meta["entry-points"]["vta.cli"].values()]
    for target in targets:
        module = target.split(":")[0]
        pkg = ".".join(module.split(".")[:2])
        rest = module.split(".")[2:]
        path = ROOT / mapping[pkg] / Path(*rest)
        assert path.with_suffix(".py").exists() or (path / "__init__.py").exists(), target
        assert re.fullmatch(r"[\w.]+:\w+", target)


# Imports only point down the stack: hw <- sim <- driver <- runtime <- compiler; boards uses
# hw, sim and driver (SPEC section 1).
_FORBIDDEN = {
    "hw": ("sim", "driver", "runtime", "compiler", "boards"),
    "sim": ("driver", "runtime", "compiler", "boards"),
    "driver": ("runtime", "compiler", "boards"),
    "runtime": ("compiler", "boards"),
    "boards": ("runtime", "compiler"),
}


def test_imports_only_point_down_the_stack():
    offenders = []
    for layer, above in _FORBIDDEN.items():
        pattern = re.compile(rf"^\s*(from|import)\s+vta\.({'|'.join(above)})\b", re.M)
        for path in (ROOT / layer).rglob("*.py"):
            for m in pattern.finditer(path.read_text()):
                offenders.append(f"{path.relative_to(ROOT)}: {m.group(0).strip()}")
    assert not offenders, "upward imports:\n" + "\n".join(offenders)
