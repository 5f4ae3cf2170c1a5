"""Only modules that run a model import torch; the rest, and every script of a rule in the
torch-free environment (envs/analysis.yaml), import with torch made unimportable."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "blurfocus"
# modules that run a model (forward/backward passes) and are only used where one runs: only they may
# import torch at import time (sanity runs models too, but the report reads its verdict without torch)
MODEL_MODULES = {"activations", "models", "smoothgrad", "train"}


def library_modules() -> list[str]:
    return sorted(p.stem for p in PACKAGE.glob("*.py"))


def top_level_imports(path: Path) -> set[str]:
    """Modules imported when ``path`` is imported: module-level imports, outside ``if TYPE_CHECKING``
    (imports inside functions run only when called)."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()

    def visit(nodes):
        for node in nodes:
            if isinstance(node, ast.If):
                test = ast.unparse(node.test)
                if "TYPE_CHECKING" not in test:
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for h in node.handlers:
                    visit(h.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:  # relative: from . import x / from .x import y
                    base = node.module or ""
                    if base:
                        names.add(f"blurfocus.{base}")
                    else:
                        names.update(f"blurfocus.{a.name}" for a in node.names)
                else:
                    mod = node.module or ""
                    names.add(mod)
                    if mod == "blurfocus":
                        names.update(f"blurfocus.{a.name}" for a in node.names)

    visit(tree.body)
    return names


def imports_torch(names: set[str]) -> bool:
    return any(n == "torch" or n.startswith(("torch.", "torchvision", "timm", "captum")) for n in names)


def torch_free_modules() -> list[str]:
    return [m for m in library_modules() if m not in MODEL_MODULES]


def import_without_torch(modules: list[str]) -> subprocess.CompletedProcess:
    # a meta-path finder refusing torch & co. (sys.modules['torch'] = None would also do, but
    # scipy's array-API helpers then look inside that None)
    code = (
        "import importlib, sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'torchvision', 'timm', 'captum'):\n"
        "            raise ModuleNotFoundError(f'{name} is blocked in this test', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for m in {modules!r}:\n    importlib.import_module(m)\n"
        "assert not any(k.split('.')[0] == 'torch' for k in sys.modules)\n"
        "print('ok')\n"
    )
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)


def test_only_model_modules_import_torch():
    offenders = [m for m in torch_free_modules() if imports_torch(top_level_imports(PACKAGE / f"{m}.py"))]
    assert not offenders, f"these modules import torch but run no model: {offenders}"
    # and the list of model modules is honest: each of them does use torch
    assert all(imports_torch(top_level_imports(PACKAGE / f"{m}.py")) for m in MODEL_MODULES)


def test_torch_free_modules_import_with_torch_blocked():
    modules = [f"blurfocus.{m}" for m in torch_free_modules()]
    assert "blurfocus.mapstore" in modules and "blurfocus.topk" in modules and "blurfocus.smoothgrad_settings" in modules
    res = import_without_torch(modules)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-3000:]


def test_the_blocking_works():
    """The subprocess really cannot import torch: a model module fails there."""
    res = import_without_torch(["blurfocus.smoothgrad"])
    assert res.returncode != 0 and "torch" in res.stderr


def analysis_env_scripts() -> dict[str, Path]:
    """{rule: script} of every rule whose conda environment is envs/analysis.yaml."""
    out = {}
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        for block in re.split(r"^rule ", smk.read_text(), flags=re.M)[1:]:
            name = block.split(":", 1)[0].strip()
            if "envs/analysis.yaml" in block:
                m = re.search(r'script:\s*\n\s*"([^"]+)"', block)
                if m:
                    out[name] = (smk.parent / m.group(1)).resolve()
    return out


def test_analysis_environment_scripts_need_no_torch():
    scripts = analysis_env_scripts()
    assert {"distances", "focus_figure", "report"} <= set(scripts)
    text = (ROOT / "envs" / "analysis.yaml").read_text()
    assert not re.search(r"^\s*-\s*(torch|torchvision|timm|captum)\b", text, re.M), "envs/analysis.yaml lists torch"
    modules = set()
    for rule, script in scripts.items():
        names = top_level_imports(script)
        assert not imports_torch(names), f"rule {rule}: {script.name} imports torch"
        modules |= {n for n in names if n.startswith("blurfocus.")}
    modules -= {"blurfocus"}
    bad = sorted(m for m in modules if m.split(".")[1] in MODEL_MODULES)
    assert not bad, f"scripts of torch-free rules import model modules: {bad}"
    res = import_without_torch(sorted(modules))
    assert res.returncode == 0, res.stderr[-3000:]


@pytest.mark.parametrize("module", ["mapstore", "topk", "selection", "smoothgrad_settings", "train_settings", "jobsettings"])
def test_split_modules_are_torch_free(module):
    assert module in torch_free_modules()
