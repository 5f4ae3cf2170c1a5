"""Code versions follow the imports a job's script really makes (blurfocus.codeversion)."""

import re
from pathlib import Path

import pytest

from blurfocus.codeversion import code_files, code_version, direct_imports, imported_modules

REPO = Path(__file__).resolve().parents[1]


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)


@pytest.fixture()
def pkg(tmp_path):
    """A made-up ``blurfocus`` package using every import form, and scripts outside it."""
    write(tmp_path, {
        "src/blurfocus/__init__.py": '"""pkg"""\n',
        "src/blurfocus/a.py": "from . import b\nfrom .c import thing\n",
        "src/blurfocus/b.py": "import json\n",
        "src/blurfocus/c.py": "thing = 1\n\ndef late():\n    from .d import x  # inside a function\n    return x\n",
        "src/blurfocus/d.py": "x = 2\n",
        "src/blurfocus/e.py": "import blurfocus.sub.f\n",
        "src/blurfocus/unused.py": "import numpy\n",
        "src/blurfocus/sub/__init__.py": "",
        "src/blurfocus/sub/f.py": "from .. import b\nfrom ..sub import g\n",
        "src/blurfocus/sub/g.py": "from . import f  # a cycle\n",
        "scripts/one.py": "import os\nfrom blurfocus import a\nfrom blurfocus.c import thing\n",
        "scripts/two.py": "import blurfocus.e\n",
        "scripts/three.py": "from blurfocus import CONSTANT_FROM_INIT\nimport blurfocusish\n",
    })
    return tmp_path / "src" / "blurfocus", tmp_path / "scripts"


def test_every_import_form_is_followed(pkg):
    package, scripts = pkg
    assert direct_imports(package / "a.py", package) == {"", "b", "c"}
    assert direct_imports(package / "c.py", package) == {"", "d"}
    assert direct_imports(package / "sub" / "f.py", package) == {"", "b", "sub", "sub.g"}
    assert imported_modules(scripts / "one.py", package) == ["", "a", "b", "c", "d"]
    assert imported_modules(scripts / "two.py", package) == ["", "b", "e", "sub", "sub.f", "sub.g"]
    # a name defined in __init__ and a package whose name only starts like ours
    assert imported_modules(scripts / "three.py", package) == [""]


def test_hash_changes_exactly_with_the_imported_files(pkg):
    package, scripts = pkg
    before = {s: code_version(scripts / f"{s}.py", package) for s in ("one", "two", "three")}
    assert len(set(before.values())) == 3

    def after_editing(rel):
        f = package / rel
        f.write_text(f.read_text() + "# an edit\n")
        return {s: code_version(scripts / f"{s}.py", package) != before[s] for s in before}

    assert after_editing("unused.py") == {"one": False, "two": False, "three": False}
    assert after_editing("d.py") == {"one": True, "two": False, "three": False}  # via a function-level import
    before = {s: code_version(scripts / f"{s}.py", package) for s in before}
    assert after_editing("sub/g.py") == {"one": False, "two": True, "three": False}
    before = {s: code_version(scripts / f"{s}.py", package) for s in before}
    assert after_editing("__init__.py") == {"one": True, "two": True, "three": True}


def test_missing_script_is_named(pkg):
    package, scripts = pkg
    with pytest.raises(FileNotFoundError, match="nope.py"):
        code_version(scripts / "nope.py", package)


def test_every_rule_hashes_its_own_script():
    """Each rule's ``code=code_version("X.py")`` names the script of its ``script:`` directive."""
    seen = 0
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for block in re.split(r"^rule ", smk.read_text(), flags=re.M)[1:]:
            name = block.split(":", 1)[0]
            script = re.search(r'script:\s*\n\s*"\.\./workflow/scripts/(\w+\.py)"', block)
            code = re.findall(r'code=code_version\("([^"]+)"\)', block)
            if script is None:
                assert not code, name
                continue
            assert code == [script.group(1)], f"rule {name}: code={code}, script {script.group(1)}"
            seen += 1
    assert seen >= 15


def test_data_folders_named_by_a_module_are_hashed_with_it(pkg):
    package, scripts = pkg
    write(package.parent.parent, {
        "src/blurfocus/assets/page.js": "let x = 1;\n",
        "src/blurfocus/assets/deep/style.css": "p {}\n",
        "src/blurfocus/schemas/s.yaml": "a: 1\n",
        "src/blurfocus/page.py": 'from pathlib import Path\nASSETS = Path(__file__).parent / "assets"\n',
        "src/blurfocus/cfg.py": 'SCHEMA = "schemas/s.yaml"\nNOTE = "assets are described elsewhere"\n',
        "scripts/four.py": "from blurfocus import page\n",
        "scripts/five.py": "from blurfocus import cfg\n",
    })
    rel = lambda s: sorted(f.relative_to(package).as_posix() for f in code_files(scripts / s, package))  # noqa: E731
    assert rel("four.py") == ["__init__.py", "assets/deep/style.css", "assets/page.js", "page.py"]
    assert rel("five.py") == ["__init__.py", "cfg.py", "schemas/s.yaml"]  # prose naming "assets" does not count
    assert rel("one.py") == ["__init__.py", "a.py", "b.py", "c.py", "d.py"]
    before = {s: code_version(scripts / s, package) for s in ("four.py", "five.py", "one.py")}
    (package / "assets" / "deep" / "style.css").write_text("p { color: red }\n")
    after = {s: code_version(scripts / s, package) for s in before}
    assert [s for s in before if before[s] != after[s]] == ["four.py"]
