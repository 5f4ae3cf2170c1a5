import os
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from blurfocus import images, ingest

from helpers import broken_petimages, photo, photo_folder


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    root = tmp_path_factory.mktemp("broken")
    expected = broken_petimages(root)
    out = root / "out"
    result = ingest.ingest(
        "kaggle_petimages", root, out, classes=None, split={"train": 0.5, "val": 0.25, "test": 0.25},
        seed=3, image_size=64, min_size=32, threads=2, log_fn=lambda m: None,
    )
    return root, out, expected, result


def test_every_broken_file_is_rejected_with_its_reason(broken):
    root, _, expected, result = broken
    rejected = {str(p).split("PetImages/")[1]: r for p, r in zip(result.rejected["path"], result.rejected["reason"])}
    for rel, outcome in expected.items():
        kind, detail = outcome.split(":", 1)
        if kind == "rejected":
            assert rel in rejected, f"{rel} should be rejected"
            assert detail in rejected[rel], (rel, rejected[rel])
    assert result.summary["rejected"] == sum(o.startswith("rejected") for o in expected.values())


def test_grayscale_cmyk_alpha_are_converted_not_rejected(broken):
    _, out, expected, result = broken
    m = result.manifest.set_index("image_id")
    for rel, outcome in expected.items():
        kind, detail = outcome.split(":", 1)
        if kind == "used":
            assert rel in m.index, f"{rel} should be used"
    modes = dict(zip(result.manifest["image_id"], result.manifest["mode"]))
    assert modes["Dog/200.jpg"] == "L" and modes["Dog/201.jpg"] == "CMYK" and modes["Dog/202.png"] == "RGBA"
    assert result.summary["converted_to_rgb"] == {"CMYK": 1, "L": 1, "RGBA": 1}
    assert result.summary["upscaled"] == 1
    # alpha composited onto white: the transparent left half of 202.png is white in the array
    row = result.manifest[result.manifest["image_id"] == "Dog/202.png"].iloc[0]
    arr = np.load(out / f"{row['split']}.npy")[row["split_index"]]
    assert arr.shape == (64, 64, 3)
    assert arr[:, :2].min() >= 250


def test_manifest_columns_labels_and_arrays(broken):
    _, out, _, result = broken
    m = result.manifest
    for col in ["image_id", "path", "label", "split", "sha256", "width", "height"]:
        assert col in m.columns
    assert result.summary["classes"] == ["cat", "dog"]
    assert set(m[m["class_name"] == "cat"]["label"]) == {0}
    for split in ingest.SPLITS:
        arr = np.load(out / f"{split}.npy")
        rows = ingest.load_split(m, split)
        assert arr.shape == (len(rows), 64, 64, 3) and arr.dtype == np.uint8
        assert rows["split_index"].tolist() == list(range(len(rows)))
    # array rows are the decoded files: check one against an independent full-resolution decode
    # (ingest decodes large JPEGs at a reduced DCT scale first, so values differ slightly)
    row = ingest.load_split(m, "train").iloc[0]
    ref = images.square_resize(Image.open(row["path"]).convert("RGB"), 64).astype(float)
    got = np.load(out / "train.npy")[0].astype(float)
    assert np.abs(got - ref).mean() < 3.0
    assert np.corrcoef(got.ravel(), ref.ravel())[0, 1] > 0.98


def test_duplicates_share_a_split(broken):
    m = broken[3].manifest
    dup = m[m["image_id"] == "Dog/204.jpg"].iloc[0]
    orig = m[m["image_id"] == "Dog/0.jpg"].iloc[0]
    assert dup["sha256"] == orig["sha256"] and dup["split"] == orig["split"]
    assert dup["duplicate_of"] == "Dog/0.jpg"


def test_split_is_deterministic_stratified_and_name_independent():
    rng = np.random.default_rng(0)
    sha = [f"{i:064x}" for i in rng.permutation(400)]
    cls = ["cat"] * 200 + ["dog"] * 200
    frac = {"train": 0.7, "val": 0.1, "test": 0.2}
    a = ingest.assign_splits(sha, cls, frac, seed=5)
    assert a == ingest.assign_splits(sha, cls, frac, seed=5)
    # same files in another order -> same split per file
    order = rng.permutation(400)
    b = ingest.assign_splits([sha[i] for i in order], [cls[i] for i in order], frac, seed=5)
    assert [a[i] for i in order] == b
    assert a != ingest.assign_splits(sha, cls, frac, seed=6)
    counts = pd.crosstab(pd.Series(cls), pd.Series(a))
    assert counts.loc["cat"].to_dict() == {"test": 40, "train": 140, "val": 20}
    assert counts.loc["dog"].to_dict() == {"test": 40, "train": 140, "val": 20}


def test_duplicate_groups_never_straddle_splits():
    sha = ["a", "a", "a", "b", "c", "c", "d", "e", "f", "g", "h", "i"] * 3
    sha = [f"{s}{i // 12}" for i, s in enumerate(sha)]
    sha = sha + sha[:10]  # more duplicates
    cls = ["cat" if i % 2 else "dog" for i in range(len(sha))]
    out = ingest.assign_splits(sha, cls, {"train": 0.6, "val": 0.2, "test": 0.2}, seed=0)
    by_sha = {}
    for s, split in zip(sha, out):
        by_sha.setdefault(s, set()).add(split)
    assert all(len(v) == 1 for v in by_sha.values())


def test_limit_per_class_counts_usable_images(tmp_path):
    root = tmp_path / "data"
    broken_petimages(root, good_per_class=8)
    result = ingest.ingest(
        "kaggle_petimages", root, tmp_path / "out", classes=None, split={"train": 0.5, "val": 0.25, "test": 0.25},
        seed=0, image_size=48, min_size=32, limit_per_class=7, threads=2, log_fn=lambda m: None,
    )
    # the broken cat files do not reduce the count
    assert result.manifest["class_name"].value_counts().to_dict() == {"cat": 7, "dog": 7}


def test_kaggle_competition_and_folder_layouts(tmp_path):
    train = tmp_path / "comp" / "train"
    train.mkdir(parents=True)
    for i in range(6):
        photo(i).save(train / f"cat.{i}.jpg")
        photo(100 + i).save(train / f"dog.{i}.jpg")
    (train / "readme.txt").write_text("x")
    found, classes, skipped = ingest.discover("kaggle_competition", tmp_path / "comp")
    assert classes == ["cat", "dog"] and len(found) == 12 and len(skipped) == 1
    assert found[0].image_id == "cat.0.jpg"
    # natural order: cat.2 before cat.10
    assert ingest.natural_key("cat.2.jpg") < ingest.natural_key("cat.10.jpg")
    folder = photo_folder(tmp_path / "folder", {"Tabby": 3, "Beagle": 3, "Siamese": 3})
    found, classes, _ = ingest.discover("folder", folder)
    assert classes == ["Beagle", "Siamese", "Tabby"]
    found, classes, _ = ingest.discover("folder", folder, ["Tabby", "Beagle"])
    assert classes == ["Tabby", "Beagle"] and len(found) == 6


def test_oxford_offline_message_names_files(tmp_path):
    with pytest.raises(ingest.DatasetError, match="images.tar.gz"):
        ingest.discover("oxford_pets", tmp_path)


def test_oxford_layout_from_local_files(tmp_path):
    base = tmp_path / "oxford-iiit-pet"
    (base / "images").mkdir(parents=True)
    (base / "annotations").mkdir()
    lines = []
    for i in range(3):
        photo(i).save(base / "images" / f"Bengal_{i}.jpg")
        photo(100 + i).save(base / "images" / f"beagle_{i}.jpg")
        lines += [f"Bengal_{i} 6 1 2", f"beagle_{i} 11 2 3"]
    (base / "annotations" / "trainval.txt").write_text("\n".join(lines[:4]) + "\n")
    (base / "annotations" / "test.txt").write_text("#comment\n" + "\n".join(lines[4:]) + "\n")
    found, classes, _ = ingest.discover("oxford_pets", tmp_path)
    assert classes == ["cat", "dog"]
    assert {c.class_name for c in found if "Bengal" in c.image_id} == {"cat"}
    assert len(found) == 6


def test_download_code_fetches_and_unpacks_a_local_archive(tmp_path):
    import zipfile

    photos = photo_folder(tmp_path / "photos", {"Cat": 4, "Dog": 4})
    archive = tmp_path / "kagglecatsanddogs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for cls in ("Cat", "Dog"):
            for i in range(4):
                zf.write(photos / cls / f"{i}.jpg", f"PetImages/{cls}/{i}.jpg")
    dest = tmp_path / "data"
    ingest.fetch_archive(archive.as_uri(), dest, log_fn=lambda m: None)
    found, classes, _ = ingest.discover("kaggle_petimages", dest)
    assert classes == ["cat", "dog"] and len(found) == 8
    with pytest.raises(ingest.DatasetError, match="could not download"):
        ingest.fetch_archive((tmp_path / "missing.zip").as_uri(), tmp_path / "x", log_fn=lambda m: None)


@pytest.mark.parametrize(
    "layout, message",
    [
        ("empty_class", "hold no image files"),
        ("one_class", "only one class"),
        ("no_classes", "no class subfolders"),
    ],
)
def test_bad_folders_give_clear_errors(tmp_path, layout, message):
    root = tmp_path / "d"
    root.mkdir()
    if layout in ("empty_class", "one_class"):
        photo_folder(root, {"cat": 3})
    if layout == "empty_class":
        (root / "dog").mkdir()
    with pytest.raises(ingest.DatasetError, match=message):
        ingest.discover("folder", root)


# ---------------------------------------------------------------- no file name or file stops an ingest


def run_ingest(root, tmp_path, log_lines=None):
    """Ingest ``root`` (a folder layout) with outputs written as the workflow writes them."""
    out = tmp_path / "out"
    log = (lambda m: log_lines.append(m)) if log_lines is not None else (lambda m: None)
    result = ingest.ingest("folder", root, out / "clear", classes=None, split={"train": 0.5, "val": 0.25, "test": 0.25},
                           seed=0, image_size=48, min_size=16, threads=2, log_fn=log)
    ingest.write_outputs(result, out / "manifest.parquet", out / "rejected.tsv", out / "ingest.json")
    return result, out


def test_file_names_that_are_not_utf8_are_used_and_recorded_escaped(tmp_path):
    root = photo_folder(tmp_path / "data", {"Cat": 4, "Dog": 4})
    raw = os.fsencode(root / "Cat") + b"/caf\xe9.jpg"  # Latin-1 name, as on old archives
    photo(77, 80, 70).save(os.fsdecode(raw))  # below 2x the input size: decoded in full
    (root / "Dog").joinpath(os.fsdecode(b"note\xff.jpg")).write_text("not an image")
    lines: list[str] = []
    result, out = run_ingest(root, tmp_path, lines)
    (tmp_path / "log.txt").write_text("\n".join(lines), encoding="utf-8")  # a UTF-8 log takes every line
    manifest = pd.read_parquet(out / "manifest.parquet")
    row = manifest[manifest["image_id"] == "Cat/caf\\xe9.jpg"]
    assert len(row) == 1 and row["path"].iloc[0].endswith("Cat/caf\\xe9.jpg")
    # the pixels are those of the real file
    ref = images.square_resize(Image.open(os.fsdecode(raw)).convert("RGB"), 48)
    np.testing.assert_array_equal(np.load(out / "clear" / f"{row['split'].iloc[0]}.npy")[row["split_index"].iloc[0]], ref)
    rejected = pd.read_csv(out / "rejected.tsv", sep="\t")
    bad = rejected[rejected["path"].str.endswith("Dog/note\\xff.jpg")]
    assert len(bad) == 1 and "not an image" in bad["reason"].iloc[0]
    assert result.summary["escaped_names"] == 2


def test_the_same_photo_under_two_classes_is_a_label_conflict(tmp_path):
    root = photo_folder(tmp_path / "data", {"Cat": 5, "Dog": 5})
    shutil.copy(root / "Cat" / "0.jpg", root / "Dog" / "copy_of_cat.jpg")
    shutil.copy(root / "Dog" / "1.jpg", root / "Dog" / "same_class_copy.jpg")  # a plain duplicate
    result, out = run_ingest(root, tmp_path)
    used = set(result.manifest["image_id"])
    assert "Cat/0.jpg" not in used and "Dog/copy_of_cat.jpg" not in used
    rejected = pd.read_csv(out / "rejected.tsv", sep="\t")
    conflicts = rejected[rejected["reason"].str.startswith("label conflict")]
    assert sorted(p.split("data/")[1] for p in conflicts["path"]) == ["Cat/0.jpg", "Dog/copy_of_cat.jpg"]
    assert all("Cat, Dog" in r for r in conflicts["reason"])
    assert result.summary["label_conflicts"] == 2 and result.summary["rejected_by_reason"] == {"label conflict": 2}
    # the same-class copy is still an ordinary duplicate, and no new pair appears
    assert result.summary["duplicates"] == 1
    assert result.manifest.loc[result.manifest["duplicate_of"].notna(), "image_id"].tolist() == ["Dog/same_class_copy.jpg"]


# EXIF orientation -> the same picture by hand (numpy), as a viewer shows it
BY_HAND = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}


def test_exif_orientation_is_applied(tmp_path):
    root = photo_folder(tmp_path / "data", {"Cat": 3, "Dog": 3})
    stored = np.asarray(photo(5, 90, 60)).copy()
    stored[:20, :30] = (255, 0, 0)  # a red top-left corner marks the orientation
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        Image.fromarray(stored).save(root / "Cat" / f"orient{o}.jpg", exif=exif.tobytes(), quality=95)
    result, out = run_ingest(root, tmp_path)
    m = result.manifest.set_index("image_id")
    for o in range(1, 9):
        decoded = np.asarray(Image.open(root / "Cat" / f"orient{o}.jpg").convert("RGB"))  # pixels as stored
        shown = np.ascontiguousarray(BY_HAND[o](decoded))
        row = m.loc[f"Cat/orient{o}.jpg"]
        got = np.load(out / "clear" / f"{row['split']}.npy")[row["split_index"]]
        np.testing.assert_array_equal(got, images.square_resize(Image.fromarray(shown), 48), err_msg=f"orientation {o}")
        assert (row["width"], row["height"]) == (shown.shape[1], shown.shape[0])


def test_broken_symbolic_links_are_listed(tmp_path):
    root = photo_folder(tmp_path / "data", {"Cat": 3, "Dog": 3})
    (root / "Cat" / "moved.jpg").symlink_to(tmp_path / "elsewhere" / "moved.jpg")
    (root / "Dog" / "good_link.jpg").symlink_to(root / "Dog" / "0.jpg")  # a working link is a file
    result, out = run_ingest(root, tmp_path)
    rejected = pd.read_csv(out / "rejected.tsv", sep="\t")
    assert len(rejected) == 1 and rejected["path"].iloc[0].endswith("Cat/moved.jpg")
    assert rejected["reason"].iloc[0].startswith("broken symbolic link") and "elsewhere/moved.jpg" in rejected["reason"].iloc[0]
    assert "Dog/good_link.jpg" in set(result.manifest["image_id"])
    assert result.summary["found"] == 8 and result.summary["rejected_by_reason"] == {"broken symbolic link": 1}
