"""Ingest: find the images of a source, decode and check each once, split, store uint8 arrays.

Outputs (see :func:`ingest`): a manifest table (one row per used image: ``image_id, path,
label, class_name, split, split_index, sha256, width, height, mode, duplicate_of``), a
rejected table (``path, reason``), and one uint8 array (N, S, S, 3) per split, whose row i is
the manifest row with that split and ``split_index == i``.

Sources (``dataset.source``):

- ``folder``: ``path/<class>/*`` (class names from the folder names).
- ``kaggle_petimages``: Microsoft's ``PetImages/Cat/*.jpg``, ``PetImages/Dog/*.jpg``.
- ``kaggle_competition``: ``train/cat.123.jpg``, ``train/dog.45.jpg``.
- ``oxford_pets``: the Oxford-IIIT Pet images with their cat/dog (species) labels.
- ``synthetic``: the generated known-answer set (a ``folder`` layout).
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from .images import IMAGE_EXTENSIONS, CheckedImage, ImageRejected, check_file
from .seeding import rng_for

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")

OXFORD_URLS = (
    "https://thor.robots.ox.ac.uk/~vgg/data/pets/images.tar.gz",
    "https://thor.robots.ox.ac.uk/~vgg/data/pets/annotations.tar.gz",
)


class DatasetError(RuntimeError):
    """The data set cannot be read as configured; the message names the path and what to do."""


@dataclass(frozen=True)
class Candidate:
    """One file found in the source: absolute ``path``, stable ``image_id``, class name."""

    path: Path
    image_id: str
    class_name: str


def safe_name(path: str | Path) -> str:
    """``path`` as text any UTF-8 file can hold.

    File names are bytes on Linux; Python keeps bytes that are not valid UTF-8 as lone
    surrogates, which cannot be written to Parquet, TSV or a UTF-8 log. Here such bytes appear
    backslash-escaped (``caf\\xe9.jpg``); valid names are unchanged. The file itself is still
    read through its real name.
    """
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def natural_key(text: str) -> list:
    """Sort key where 'cat.2' < 'cat.10'."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text)]


# --------------------------------------------------------------------------- downloads


def fetch_archive(url: str, dest: Path, log_fn: Callable[[str], None] = log.info) -> Path:
    """Download ``url`` (http(s) or file://) and unpack it (zip or tar) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    name = Path(url.split("?")[0]).name or "download"
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        archive = Path(tmp) / name
        log_fn(f"downloading {url} -> {archive}")
        try:
            with urllib.request.urlopen(url) as response, open(archive, "wb") as fh:  # noqa: S310 - explicit dataset download
                shutil.copyfileobj(response, fh, length=1 << 20)
        except (OSError, ValueError) as exc:
            raise DatasetError(
                f"could not download {url}: {exc}. Download it by hand and unpack it into {dest}"
            ) from None
        log_fn(f"unpacking {archive.name} into {dest}")
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    target = (dest / member).resolve()
                    if not str(target).startswith(str(dest.resolve())):
                        raise DatasetError(f"{url}: archive member {member!r} escapes {dest}")
                zf.extractall(dest)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                tf.extractall(dest, filter="data")
        else:
            raise DatasetError(f"{url} is neither a zip nor a tar archive")
    return dest


# --------------------------------------------------------------------------- discovery


def _files_in(folder: Path, skipped: list[tuple[str, str]]) -> list[Path]:
    """Files under ``folder`` (recursively, hidden names left out) in natural order.

    A symbolic link whose target is missing is not a file: it is added to ``skipped`` as
    (safe path, reason) so that it is listed in rejected.tsv like every unreadable file.
    """
    files = []
    for p in folder.rglob("*"):
        if p.name.startswith("."):
            continue
        if p.is_file():
            files.append(p)
        elif p.is_symlink() and not p.exists():
            skipped.append((safe_name(p), f"broken symbolic link (its target {safe_name(os.readlink(p))!r} does not exist)"))
    return sorted(files, key=lambda p: natural_key(str(p.relative_to(folder))))


def _petimages_root(path: Path) -> Path:
    for cand in (path / "PetImages", path):
        if (cand / "Cat").is_dir() or (cand / "Dog").is_dir():
            return cand
    raise DatasetError(
        f"dataset.path {str(path)!r}: no PetImages/Cat or PetImages/Dog folder found "
        "(expected Microsoft's 'Cats and Dogs' layout)"
    )


def _folder_candidates(
    source: str, path: Path, skipped: list[tuple[str, str]]
) -> tuple[list[Candidate], list[str]]:
    """``<root>/<class>/*`` layouts (folder, synthetic, kaggle_petimages): (candidates, class
    folder names, including empty ones)."""
    root = _petimages_root(path) if source == "kaggle_petimages" else path
    folders = sorted((d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")), key=lambda d: natural_key(d.name))
    if source == "kaggle_petimages":
        folders = [d for d in folders if d.name in ("Cat", "Dog")]
    if not folders:
        raise DatasetError(f"dataset.path {str(root)!r} holds no class subfolders (expected {root}/<class>/<images>)")
    found: list[Candidate] = []
    folder_classes: list[str] = []
    for d in folders:
        name = d.name.lower() if source == "kaggle_petimages" else d.name
        folder_classes.append(name)
        for f in _files_in(d, skipped):
            rel = safe_name(f.relative_to(root).as_posix())
            if f.suffix.lower() in IMAGE_EXTENSIONS:
                found.append(Candidate(f, rel, name))
            else:
                skipped.append((safe_name(f), f"not an image file (extension {safe_name(f.suffix) or 'none'!r})"))
    return found, folder_classes


def _competition_candidates(path: Path, skipped: list[tuple[str, str]]) -> list[Candidate]:
    """Kaggle competition layout: ``train/cat.123.jpg`` (class from the file name)."""
    root = path / "train" if (path / "train").is_dir() else path
    pattern = re.compile(r"^([A-Za-z]+)\.\d+\.[A-Za-z]+$")
    found = []
    for f in _files_in(root, skipped):
        m = pattern.match(f.name)
        if m and f.suffix.lower() in IMAGE_EXTENSIONS:
            found.append(Candidate(f, safe_name(f.relative_to(root).as_posix()), m.group(1).lower()))
        else:
            skipped.append((safe_name(f), "name is not <class>.<number>.<ext> (Kaggle competition layout)"))
    if not found:
        raise DatasetError(f"dataset.path {str(root)!r} holds no files named like cat.1.jpg / dog.1.jpg")
    return found


def _select_classes(
    found: list[Candidate], present: list[str], classes: Sequence[str] | None, path: Path
) -> tuple[list[Candidate], list[str]]:
    """Keep the wanted classes (all present ones when ``classes`` is None) and check that each
    has files and that there are at least two."""
    if classes is None:
        classes = present
    else:
        wanted = set(classes)
        missing = [c for c in classes if c not in present]
        if missing:
            raise DatasetError(
                f"dataset.classes: no images found for {', '.join(missing)} under {str(path)!r}; "
                f"classes present: {', '.join(present) or 'none'}"
            )
        found = [c for c in found if c.class_name in wanted]
    counts = Counter(c.class_name for c in found)
    empty = [c for c in classes if counts[c] == 0]
    if empty:
        raise DatasetError(f"class folder(s) {', '.join(empty)} under {str(path)!r} hold no image files")
    if len(classes) < 2:
        raise DatasetError(
            f"only one class ({', '.join(classes) or 'none'}) found under {str(path)!r}; "
            "a classifier needs at least two class folders"
        )
    return found, list(classes)


def discover(
    source: str, path: str | Path, classes: Sequence[str] | None = None
) -> tuple[list[Candidate], list[str], list[tuple[str, str]]]:
    """Candidate image files of a source.

    Returns (candidates, class names in label order, skipped) where skipped lists
    (safe path, reason) for files that are not images by their extension or name, and for
    broken symbolic links.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"dataset.path {str(path)!r} does not exist")
    skipped: list[tuple[str, str]] = []
    folder_classes: list[str] = []
    if source in ("folder", "synthetic", "kaggle_petimages"):
        found, folder_classes = _folder_candidates(source, path, skipped)
    elif source == "kaggle_competition":
        found = _competition_candidates(path, skipped)
    elif source == "oxford_pets":
        found = _oxford_candidates(path)
    else:
        raise DatasetError(f"dataset.source {source!r} has no file discovery")
    present = sorted({c.class_name for c in found} | set(folder_classes), key=natural_key)
    found, classes = _select_classes(found, present, classes, path)
    return found, classes, skipped


def _oxford_candidates(root: Path) -> list[Candidate]:
    base = root / "oxford-iiit-pet"
    images, annotations = base / "images", base / "annotations"
    if not images.is_dir() or not annotations.is_dir():
        raise DatasetError(
            f"Oxford-IIIT Pet not found under {str(base)!r}. Offline? Download "
            f"{' and '.join(OXFORD_URLS)} and unpack both into {base}/ "
            "(giving images/ and annotations/), then rerun."
        )
    found = []
    for listing in ("trainval.txt", "test.txt"):
        f = annotations / listing
        if not f.is_file():
            raise DatasetError(f"{f} is missing; unpack annotations.tar.gz into {base}")
        for line in f.read_text().splitlines():
            parts = line.split()
            if len(parts) < 3 or line.startswith("#"):
                continue
            species = int(parts[2])  # 1 = cat, 2 = dog
            img = images / f"{parts[0]}.jpg"
            found.append(Candidate(img, f"images/{parts[0]}.jpg", "cat" if species == 1 else "dog"))
    return sorted(found, key=lambda c: natural_key(c.image_id))


def download_oxford(root: Path, log_fn: Callable[[str], None] = log.info) -> None:
    """Download the Oxford-IIIT Pet data set with torchvision (needs internet)."""
    base = root / "oxford-iiit-pet"
    if (base / "images").is_dir() and (base / "annotations").is_dir():
        return
    try:
        from torchvision.datasets import OxfordIIITPet

        log_fn(f"downloading Oxford-IIIT Pet into {root}")
        OxfordIIITPet(str(root), split="trainval", target_types="binary-category", download=True)
    except Exception as exc:  # noqa: BLE001 - offline or partial download
        raise DatasetError(
            f"could not download Oxford-IIIT Pet into {str(root)!r} ({type(exc).__name__}: {exc}). "
            f"Offline? Download {' and '.join(OXFORD_URLS)} and unpack both into {base}/."
        ) from None


# --------------------------------------------------------------------------- checking


def check_candidates(
    candidates: Sequence[Candidate],
    size: int,
    min_size: int,
    threads: int,
    limit_per_class: int | None,
    sink: Callable[[int, CheckedImage], None],
    classes: Sequence[str],
    log_fn: Callable[[str], None] = log.info,
) -> tuple[dict[int, CheckedImage], list[tuple[str, str]]]:
    """Decode every candidate (in parallel); returns accepted {index: meta} and rejected rows.

    ``sink(i, checked)`` receives each accepted image (to store its pixels); the returned
    metadata drops the pixels. With ``limit_per_class``, candidates are taken in order until
    that many per class decode, so broken files do not reduce the count.
    """
    accepted: dict[int, CheckedImage] = {}
    rejected: list[tuple[str, str]] = []
    by_class: dict[str, list[int]] = {c: [] for c in classes}
    for i, c in enumerate(candidates):
        by_class[c.class_name].append(i)
    todo = [(c, idx) for c, idx in by_class.items()]

    def work(i: int):
        try:
            return i, check_file(candidates[i].path, size, min_size), None
        except ImageRejected as exc:
            return i, None, str(exc)

    done = 0
    total = sum(len(v) if limit_per_class is None else min(len(v), limit_per_class) for _, v in todo)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for cls, indices in todo:
            pos, ok = 0, 0
            while pos < len(indices) and (limit_per_class is None or ok < limit_per_class):
                want = len(indices) - pos if limit_per_class is None else limit_per_class - ok
                batch = indices[pos : pos + max(want, 1)]
                pos += len(batch)
                for i, checked, reason in pool.map(work, batch):
                    done += 1
                    if checked is None:
                        rejected.append((safe_name(candidates[i].path), reason))
                        log_fn(f"rejected {safe_name(candidates[i].path)}: {reason}")
                        continue
                    if limit_per_class is not None and ok >= limit_per_class:
                        continue
                    sink(i, checked)
                    accepted[i] = CheckedImage(np.empty(0, np.uint8), checked.sha256, checked.width, checked.height, checked.mode)
                    ok += 1
                    if done % 2000 == 0:
                        log_fn(f"checked {done}/{total} files")
    return accepted, rejected


# --------------------------------------------------------------------------- split


def _largest_remainder(n: int, fractions: Sequence[float]) -> list[int]:
    raw = [n * f for f in fractions]
    counts = [math.floor(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda k: (raw[k] - counts[k], -k), reverse=True)
    for k in order[: n - sum(counts)]:
        counts[k] += 1
    return counts


def assign_splits(
    sha256: Sequence[str],
    class_names: Sequence[str],
    fractions: dict[str, float],
    seed: int,
) -> list[str]:
    """Stratified train/val/test split; exact duplicates (same sha256) share one split.

    Groups of identical files are split as units, within the class of their first member.
    The result depends only on the seed and the set of (sha256, class) pairs, not on file
    names or order.
    """
    first_class: dict[str, str] = {}
    for sha, cls in zip(sha256, class_names):
        first_class.setdefault(sha, cls)
    split_of: dict[str, str] = {}
    for cls in sorted(set(first_class.values())):
        groups = sorted(s for s, c in first_class.items() if c == cls)
        order = rng_for(seed, "split", cls).permutation(len(groups))
        counts = _largest_remainder(len(groups), [fractions[s] for s in SPLITS])
        bounds = np.cumsum([0, *counts])
        for k, split in enumerate(SPLITS):
            for j in order[bounds[k] : bounds[k + 1]]:
                split_of[groups[j]] = split
    return [split_of[s] for s in sha256]


# --------------------------------------------------------------------------- driver


def drop_label_conflicts(
    candidates: Sequence[Candidate], accepted: dict[int, CheckedImage]
) -> tuple[dict[int, CheckedImage], list[tuple[str, str]]]:
    """Leave out every copy of an image found under more than one class.

    The same file (same sha256) in two class folders has contradictory labels; all its copies
    are removed from ``accepted`` and returned as rejected rows (safe path, reason). Copies
    within one class stay (exact duplicates, kept in one split).
    """
    by_sha: dict[str, list[int]] = {}
    for i in sorted(accepted):
        by_sha.setdefault(accepted[i].sha256, []).append(i)
    kept = dict(accepted)
    rejected: list[tuple[str, str]] = []
    for sha, idx in by_sha.items():
        classes = sorted({candidates[i].class_name for i in idx}, key=natural_key)
        if len(classes) < 2:
            continue
        for i in idx:
            others = ", ".join(candidates[j].image_id for j in idx if j != i)
            rejected.append((
                safe_name(candidates[i].path),
                f"label conflict: the same image (sha256 {sha[:12]}) is under classes {', '.join(classes)} "
                f"(also {others}); every copy left out",
            ))
            del kept[i]
    return kept, rejected


def _manifest_rows(
    candidates: Sequence[Candidate], accepted: dict[int, CheckedImage], classes: Sequence[str]
) -> pd.DataFrame:
    """One row per accepted candidate, in candidate order; ``source_index`` is its row in the
    pixel store."""
    order = sorted(accepted)
    rows = pd.DataFrame(
        {
            "image_id": [candidates[i].image_id for i in order],
            "path": [safe_name(candidates[i].path) for i in order],
            "label": np.array([classes.index(candidates[i].class_name) for i in order], dtype=np.int32),
            "class_name": [candidates[i].class_name for i in order],
            "sha256": [accepted[i].sha256 for i in order],
            "width": np.array([accepted[i].width for i in order], dtype=np.int32),
            "height": np.array([accepted[i].height for i in order], dtype=np.int32),
            "mode": [accepted[i].mode for i in order],
        }
    )
    rows["source_index"] = np.array(order, dtype=np.int64)
    return rows


def _require_three_per_class(rows: pd.DataFrame, classes: Sequence[str], path: str | Path) -> None:
    counts = rows["class_name"].value_counts()
    too_few = [c for c in classes if counts.get(c, 0) < 3]
    if too_few:
        raise DatasetError(
            f"class(es) {', '.join(too_few)} have fewer than 3 usable images under {safe_name(path)!r} "
            "(need at least one each for train, val and test); see the rejected list"
        )


def _add_split_columns(rows: pd.DataFrame, split: dict[str, float], seed: int) -> None:
    """Add ``split``, ``duplicate_of`` (image_id of the first identical file, else None) and
    ``split_index`` (row in that split's array) in place."""
    rows["split"] = assign_splits(rows["sha256"].tolist(), rows["class_name"].tolist(), split, seed)
    first = rows.groupby("sha256")["image_id"].transform("first")
    rows["duplicate_of"] = np.where(first != rows["image_id"], first, None)
    rows["split_index"] = rows.groupby("split").cumcount().astype(np.int32)


def _write_split_arrays(rows: pd.DataFrame, store: np.ndarray, out_dir: Path, split: dict[str, float]) -> None:
    """``out_dir/<split>.npy``: uint8 (N, S, S, 3), row i = the rows of that split in order,
    copied from ``store`` (indexed by ``source_index``); each file appears complete or not at all."""
    size = store.shape[1]
    for name in SPLITS:
        sel = (rows["split"] == name).to_numpy()
        if not sel.any():
            raise DatasetError(
                f"the {name} split is empty ({len(rows)} usable images, dataset.split={split}); "
                "add images or change the split fractions"
            )
        idx = rows["source_index"].to_numpy()[sel]
        tmp = out_dir / f"{name}.npy.tmp"
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(idx), size, size, 3))
        for start in range(0, len(idx), 1024):
            arr[start : start + 1024] = store[idx[start : start + 1024]]
        arr.flush()
        del arr
        tmp.replace(out_dir / f"{name}.npy")


def _summary(source: str, classes: Sequence[str], found: int, rows: pd.DataFrame,
             rejected: list[tuple[str, str]], image_size: int, escaped_names: int) -> dict:
    """Counts for ingest.json and the report (files found/used/rejected by reason, ...)."""
    reasons = Counter(r.split(":")[0].split(" (")[0] for _, r in rejected)
    return {
        "source": source,
        "classes": list(classes),
        "found": found,
        "used": int(len(rows)),
        "rejected": len(rejected),
        "rejected_by_reason": dict(sorted(reasons.items())),
        "converted_to_rgb": {m: int(n) for m, n in rows["mode"].value_counts().items() if m != "RGB"},
        "upscaled": int(((rows[["width", "height"]].min(axis=1)) < image_size).sum()),
        "duplicates": int(rows["duplicate_of"].notna().sum()),
        "label_conflicts": int(sum(r.startswith("label conflict") for _, r in rejected)),
        "escaped_names": escaped_names,
        "per_split": {s: {c: int(n) for c, n in rows.loc[rows["split"] == s, "class_name"].value_counts().sort_index().items()} for s in SPLITS},
        "image_size": image_size,
    }


MANIFEST_COLUMNS = ["image_id", "path", "label", "class_name", "split", "split_index", "sha256", "width",
                    "height", "mode", "duplicate_of"]


@dataclass
class IngestResult:
    manifest: pd.DataFrame
    rejected: pd.DataFrame
    summary: dict


def ingest(
    source: str,
    path: str | Path,
    out_dir: str | Path,
    *,
    classes: Sequence[str] | None,
    split: dict[str, float],
    seed: int,
    image_size: int,
    min_size: int = 1,
    limit_per_class: int | None = None,
    threads: int = 1,
    log_fn: Callable[[str], None] = log.info,
) -> IngestResult:
    """Run the whole ingest and write ``out_dir/{train,val,test}.npy``.

    Steps: discover the files, decode and check each (:func:`check_candidates`), leave out label
    conflicts, split, write the arrays. Returns the manifest (``path`` and ``image_id`` as safe
    names, see :func:`safe_name`), rejected rows and a summary (counts found/used/rejected by
    reason/converted/upscaled/duplicates/label conflicts). ``limit_per_class`` counts images
    that decode; label conflicts are left out after that count.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    candidates, classes, skipped = discover(source, path, classes)
    log_fn(f"found {len(candidates)} image files in {len(classes)} classes: {', '.join(classes)}")
    tmp_path = out_dir / ".ingest-all.npy.tmp"
    store = np.lib.format.open_memmap(
        tmp_path, mode="w+", dtype=np.uint8, shape=(max(len(candidates), 1), image_size, image_size, 3)
    )

    def sink(i: int, checked: CheckedImage) -> None:
        store[i] = checked.pixels

    try:
        accepted, rejected = check_candidates(
            candidates, image_size, min_size, threads, limit_per_class, sink, classes, log_fn
        )
        accepted, conflicts = drop_label_conflicts(candidates, accepted)
        for p, reason in conflicts:
            log_fn(f"rejected {p}: {reason}")
        rows = _manifest_rows(candidates, accepted, classes)
        _require_three_per_class(rows, classes, path)
        _add_split_columns(rows, split, seed)
        _write_split_arrays(rows, store, out_dir, split)
    finally:
        del store
        tmp_path.unlink(missing_ok=True)

    rejected_all = skipped + rejected + conflicts
    rejected_df = pd.DataFrame(rejected_all, columns=["path", "reason"]).sort_values("path", kind="stable")
    escaped = sum(safe_name(c.path) != str(c.path) for c in candidates)  # names not valid UTF-8
    summary = _summary(source, classes, len(candidates) + len(skipped), rows, rejected_all, image_size, escaped)
    return IngestResult(rows[MANIFEST_COLUMNS], rejected_df, summary)


def write_outputs(result: IngestResult, manifest_path: str | Path, rejected_path: str | Path, summary_path: str | Path,
                  seeds: dict | None = None) -> None:
    """Write manifest (Parquet, with provenance metadata), rejected (TSV) and summary (JSON)."""
    from .runtime import write_parquet

    write_parquet(result.manifest, str(manifest_path), seeds or {})
    result.rejected.to_csv(rejected_path, sep="\t", index=False)
    Path(summary_path).write_text(json.dumps(result.summary, indent=2, sort_keys=True) + "\n")


def load_split(manifest: pd.DataFrame | str | Path, split: str) -> pd.DataFrame:
    """Manifest rows of ``split`` in array order (row i <-> array row i)."""
    if not isinstance(manifest, pd.DataFrame):
        manifest = pd.read_parquet(manifest)
    rows = manifest[manifest["split"] == split].sort_values("split_index", kind="stable")
    return rows.reset_index(drop=True)
