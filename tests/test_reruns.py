"""Incremental reruns: after a complete run, a config change reruns exactly the affected jobs
(checked with Snakemake's own dry-run job list)."""

import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from helpers import REPO, SNAKEMAKE, job_blocks, snakemake

pytestmark = pytest.mark.e2e


def jobs(workdir, cfg, snakefile=None):
    """[(rule, wildcards-string)] that a dry run would execute."""
    args = ["-n"]
    if snakefile is not None:
        proc = __import__("subprocess").run(
            [SNAKEMAKE, "-s", str(snakefile), "--directory", str(workdir), "--configfile", str(cfg), "-n"],
            capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
        text = proc.stdout + proc.stderr
    else:
        text = snakemake(workdir, *args, configfile=cfg).stdout
    out, rule = [], None
    for line in text.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):$", line.strip())
        if m:
            rule = m.group(1)
            out.append([rule, ""])
        elif line.strip().startswith("wildcards:") and out:
            out[-1][1] = line.strip()[len("wildcards: "):]
    return [tuple(j) for j in out if j[0] != "all"]


@pytest.fixture()
def done(tiny_run, tmp_path):
    """A private copy of the finished tiny run (results and Snakemake's metadata)."""
    work = tmp_path / "work"
    shutil.copytree(tiny_run, work, symlinks=True)
    return work


def edit(cfg_path, section, key, value):
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg.setdefault(section, {})[key] = value
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def rules_of(job_list):
    return {r for r, _ in job_list}


def test_nothing_reruns_when_nothing_changed(done):
    assert jobs(done, done / "tiny.yaml") == []


def test_blur_sigma_reruns_blur_expert_and_downstream_only(done):
    cfg = done / "tiny.yaml"
    data = yaml.safe_load(cfg.read_text())
    data["blur"]["variants"]["blur"][0]["sigma"] = 2.5
    cfg.write_text(yaml.safe_dump(data, sort_keys=False))
    todo = jobs(done, cfg)
    names = rules_of(todo)
    assert {"blur_copies", "train", "saliency", "distances", "ttests", "null_tests", "claims", "report"} <= names
    assert not names & {"synthetic_data", "ingest"}  # ingest writes the clear copies
    trained = sorted(w for r, w in todo if r == "train")
    seeds = data["training"]["seeds"]
    assert trained == sorted(f"role=expert, seed={s}" for s in seeds), trained  # the naive models are kept
    sal = {w for r, w in todo if r == "saliency"}
    assert not any("role=naive" in w and "variant=clear" in w for w in sal)  # naive clear maps kept
    assert any("role=naive" in w and "variant=blur" in w for w in sal)
    assert any("role=expert" in w and "variant=clear" in w for w in sal)


def test_smoothgrad_samples_rerun_saliency_and_after_but_no_training(done):
    cfg = done / "tiny.yaml"
    edit(cfg, "saliency", "n_samples", 5)
    names = rules_of(jobs(done, cfg))
    assert {"saliency", "distances", "ttests", "focus_figure", "report"} <= names
    assert not names & {"synthetic_data", "ingest", "blur_copies", "train", "evaluate", "accuracy_table"}


def test_figure_option_reruns_only_figures_and_report(done):
    cfg = done / "tiny.yaml"
    edit(cfg, "figures", "clip_percentile", 97.5)
    assert rules_of(jobs(done, cfg)) == {"focus_figure", "sanity_figure", "report"}
    edit(cfg, "report", "title", "another title")
    assert rules_of(jobs(done, cfg)) == {"focus_figure", "sanity_figure", "report"}  # the percentile edit is still pending


# ---------------------------------------------------------------- code edits rerun exactly the importers

PACKAGE = REPO / "src" / "blurfocus"
IMPORT = re.compile(r"^[ \t]*from[ \t]+(\.+\w*|blurfocus(?:\.\w+)?)[ \t]+import[ \t]+(\([^)]*\)|[^\n]+)"
                    r"|^[ \t]*import[ \t]+blurfocus\.(\w+)", re.M)


def imports_by_grep(text: str) -> set[str]:
    """Library module names (file stems) a file's text imports: an independent, regex-based
    reading of the import lines (the package is flat: one level of modules)."""
    found = set()
    for base, names, plain in IMPORT.findall(text):
        if plain:
            found.add(plain)
            continue
        module = base.lstrip(".").removeprefix("blurfocus").lstrip(".")
        if module:
            found.add(module)
        for name in re.sub(r"#[^\n]*", "", names).strip("()").split(","):
            name = name.split(" as ")[0].strip()
            if name and (PACKAGE / f"{name}.py").is_file():
                found.add(name)
    return found


def modules_behind(script: Path) -> set[str]:
    todo, seen = imports_by_grep(script.read_text()) | {"__init__"}, set()
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo |= imports_by_grep((PACKAGE / f"{m}.py").read_text())
    return seen


def rule_scripts() -> dict[str, str]:
    """{rule: script file name} from the rules' ``script:`` directives."""
    out = {}
    for smk in (REPO / "rules").glob("*.smk"):
        for block in re.split(r"^rule ", smk.read_text(), flags=re.M)[1:]:
            script = re.search(r'script:\s*"[./]*workflow/scripts/(\w+\.py)"', block)
            if script:
                out[block.split(":", 1)[0]] = script.group(1)
    return out


@pytest.fixture(scope="module")
def scratch(tiny_run, tmp_path_factory):
    """A copy of the workflow code (to edit) and a copy of the finished tiny run."""
    base = tmp_path_factory.mktemp("scratch")
    code = base / "code"
    code.mkdir()
    for part in ("Snakefile", "config.yaml", "rules", "workflow", "src", "profiles"):
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, code / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, code / part)
    work = base / "work"
    shutil.copytree(tiny_run, work, symlinks=True)
    return code, work


# `snakemake --list-changes params` in Snakemake 9 lists every output file: an unchanged
# ParamsChange still iterates over its files. This runs the same command with that fixed, so that
# it lists only the files whose recorded params differ (no DAG propagation, unlike a dry run).
LIST_PARAMS_CHANGES = """
import sys
import snakemake.persistence as persistence
persistence.ParamsChange.__iter__ = lambda self: iter(self.files if self else ())
from snakemake.cli import main
sys.argv = ["snakemake", *sys.argv[1:], "--list-changes", "params"]
main()
"""


def run_in(code: Path, work: Path, *args: str, params_changes: bool = False) -> str:
    cmd = [sys.executable, "-c", LIST_PARAMS_CHANGES] if params_changes else [SNAKEMAKE]
    proc = subprocess.run(
        [*cmd, "-s", str(code / "Snakefile"), "--directory", str(work), "--configfile",
         str(work / "tiny.yaml"), *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_editing_each_library_module_reruns_exactly_the_rules_that_import_it(scratch):
    """For every module of the package (and every file of its data folders): append a line,
    then (1) the rules whose code param changed (``--list-changes params``) are exactly the rules
    whose scripts import the module, directly or through other modules (for a data file: a
    module that names its folder), and (2) a dry run schedules exactly those rules' jobs and the
    jobs downstream of them (job graph of a forced dry run)."""
    code, work = scratch
    assert job_blocks(run_in(code, work, "-n")) == []  # same code, nothing to do
    assert run_in(code, work, params_changes=True).count("results/") == 0
    jobs = job_blocks(run_in(code, work, "-n", "-F"))
    rule_of_output = {f: j["rule"] for j in jobs for f in j["output"]}
    key = lambda j: (j["rule"], j["wildcards"])  # noqa: E731
    consumers = {key(j): [key(k) for k in jobs if set(k["input"]) & set(j["output"])] for j in jobs}
    in_dag = {j["rule"] for j in jobs}
    scripts = {rule: script for rule, script in rule_scripts().items() if rule in in_dag}
    assert set(scripts) == in_dag, "every job of the tiny run runs a script"
    assert len(in_dag) >= 15
    importers_of: dict[str, set[str]] = {}
    for rule, script in scripts.items():
        for m in modules_behind(REPO / "workflow" / "scripts" / script):
            importers_of.setdefault(m, set()).add(rule)

    modules = sorted(p.stem for p in (code / "src" / "blurfocus").glob("*.py"))
    assert not list(PACKAGE.glob("*/__init__.py")), "subpackages: extend imports_by_grep and this list"
    assert {"__init__", "ingest", "runtime", "stats"} <= set(modules)
    # {file relative to the package: rules expected to rerun}: every module, and every file of
    # a data folder (assets/, schemas/), expected for the importers of the modules naming it
    targets = {f"{m}.py": importers_of.get(m, set()) for m in modules}
    for folder in sorted(d for d in PACKAGE.iterdir() if d.is_dir() and not d.name.startswith(("_", "."))):
        naming = [m for m in modules if re.search(rf"[\"']{folder.name}[/\"']", (PACKAGE / f"{m}.py").read_text())]
        for data in sorted(folder.rglob("*")):
            if data.is_file():
                targets[data.relative_to(PACKAGE).as_posix()] = set().union(*(importers_of.get(m, set()) for m in naming))
    problems = []
    for target, expected in targets.items():
        f = code / "src" / "blurfocus" / target
        original = f.read_bytes()
        f.write_bytes(original + b"\n")
        try:
            with ThreadPoolExecutor(2) as pool:  # both only read: run them side by side
                listed = pool.submit(run_in, code, work, "--nolock", params_changes=True)
                dry = pool.submit(run_in, code, work, "-n", "--nolock")
                changed = {rule_of_output[line.strip()] for line in listed.result().splitlines()
                           if line.strip() in rule_of_output}
                scheduled = {key(j) for j in job_blocks(dry.result())}
        finally:
            f.write_bytes(original)
        todo = [key(j) for j in jobs if j["rule"] in expected]
        downstream = set()
        while todo:
            k = todo.pop()
            if k not in downstream:
                downstream.add(k)
                todo += consumers[k]
        if changed != expected:
            problems.append(f"{target}: code param changed for {sorted(changed)}, expected {sorted(expected)}")
        if scheduled != downstream:
            problems.append(f"{target}: scheduled {sorted(scheduled ^ downstream)} differ from the expected jobs")
    assert not problems, "\n".join(problems)
