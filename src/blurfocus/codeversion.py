"""Code versions of jobs: which library modules a job's script really imports.

A rule's ``code`` param is the hash of every ``blurfocus`` module its script imports, followed
transitively through the package with :mod:`ast` (``import blurfocus.x``, ``from blurfocus
import x``, ``from blurfocus.x import y``, and inside the package ``from . import x``,
``from .x import y``, ``from .. import x``), plus the package ``__init__`` (and the
``__init__`` of every subpackage on the way). Imports inside functions count too. Package data
folders (a folder in the package without ``__init__.py``, e.g. ``assets/``) count for a module
whose code names them in a string literal (``Path(__file__).parent / "assets"``,
``"schemas/config.schema.yaml"``): every file in such a folder is hashed with the module.
Editing any of those files changes the param, and Snakemake's default ``params`` rerun trigger
reruns the job; no hand-written list can drift. Standard library only (imported while Snakemake
parses).
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

PACKAGE = "blurfocus"


def module_file(package_dir: Path, module: str) -> Path | None:
    """The file of ``module`` (dotted name inside the package, '' = the package itself), or None.

    ``package_dir`` is the folder of the package (``src/blurfocus``).
    """
    base = Path(package_dir).joinpath(*module.split(".")) if module else Path(package_dir)
    if base.with_suffix(".py").is_file() and module:
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _module_name(package_dir: Path, path: Path) -> str:
    """Dotted name inside the package of a package file ('' for the package ``__init__``)."""
    rel = Path(path).resolve().relative_to(Path(package_dir).resolve()).with_suffix("")
    parts = list(rel.parts)
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _with_parents(module: str) -> set[str]:
    """``a.b.c`` -> {'', 'a', 'a.b', 'a.b.c'}: importing a module runs its packages' __init__."""
    parts = module.split(".") if module else []
    return {".".join(parts[:k]) for k in range(len(parts) + 1)}


def direct_imports(path: Path, package_dir: Path, package: str = PACKAGE) -> set[str]:
    """Package modules (dotted names inside the package, '' = ``__init__``) imported by ``path``.

    ``path`` is a package file (relative imports resolved against it) or a script outside the
    package (absolute imports only). Names imported from a module (``from .x import f``) count as
    that module; ``from pkg import name`` counts ``name`` only when it is a module file.
    """
    path = Path(path)
    tree = ast.parse(path.read_bytes(), filename=str(path))
    inside = Path(path).resolve().is_relative_to(Path(package_dir).resolve())
    here = _module_name(package_dir, path) if inside else None
    # the package a relative import of level 1 is relative to
    current_pkg = None
    if here is not None:
        current_pkg = here if path.name == "__init__.py" else ".".join(here.split(".")[:-1])

    found: set[str] = set()

    def add(module: str) -> None:
        if module_file(package_dir, module) is not None:
            found.update(_with_parents(module))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == package:
                    add(".".join(parts[1:]))
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] != package:
                    continue
                base = ".".join(parts[1:])
            else:
                if current_pkg is None:
                    continue  # a relative import in a script: not our package
                up = current_pkg.split(".") if current_pkg else []
                if node.level - 1 > len(up):
                    continue
                up = up[: len(up) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            add(base)
            for alias in node.names:
                sub = f"{base}.{alias.name}" if base else alias.name
                if module_file(package_dir, sub) is not None:
                    add(sub)
    return found


def data_folders(package_dir: Path) -> list[str]:
    """Names of the package's data folders: subfolders that are not Python packages."""
    return sorted(
        d.name for d in Path(package_dir).iterdir()
        if d.is_dir() and not (d / "__init__.py").exists() and not d.name.startswith((".", "__"))
    )


def named_data_files(path: Path, package_dir: Path) -> list[Path]:
    """Files of the data folders that the code in ``path`` names in a string literal
    (the folder name itself, or a path starting with ``<folder>/``)."""
    folders = data_folders(package_dir)
    if not folders:
        return []
    named = set()
    for node in ast.walk(ast.parse(Path(path).read_bytes(), filename=str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            head = node.value.split("/", 1)[0]
            if head in folders:
                named.add(head)
    return sorted(f for d in named for f in (Path(package_dir) / d).rglob("*")
                  if f.is_file() and "__pycache__" not in f.parts)


def imported_modules(script: Path, package_dir: Path, package: str = PACKAGE) -> list[str]:
    """Every package module ``script`` imports, directly or through other package modules.

    Returns sorted dotted names inside the package; '' (the package ``__init__``) is always in.
    """
    todo = direct_imports(script, package_dir, package) | {""}
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo |= direct_imports(module_file(package_dir, module), package_dir, package) - seen
    return sorted(seen)


def code_files(script: Path, package_dir: Path, package: str = PACKAGE) -> list[Path]:
    """Every package file behind ``script``: the modules it imports (directly or not) and the
    data files those modules name (see :func:`named_data_files`), sorted."""
    files = set()
    for module in imported_modules(script, package_dir, package):
        f = module_file(package_dir, module)
        files.add(f)
        files.update(named_data_files(f, package_dir))
    return sorted(files)


def code_version(script: Path, package_dir: Path, package: str = PACKAGE) -> str:
    """16 hex digits of SHA-256 over the names and bytes of :func:`code_files` of ``script``."""
    script = Path(script)
    if not script.is_file():
        raise FileNotFoundError(f"code_version: the job script {script} does not exist")
    h = hashlib.sha256()
    for f in code_files(script, package_dir, package):
        h.update(f.relative_to(package_dir).as_posix().encode() + b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()[:16]
