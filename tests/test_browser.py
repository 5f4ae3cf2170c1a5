"""The report in a real browser: headless Chromium (Debian's, driven by Playwright for Python)
opens results/report.html of the tiny run from file://, and the map explorer's controls (sort,
filter, overlay opacity, pane switch, deep link) change what is shown as they should; the values
shown are checked against the Parquet files, computed here independently.

Needs `pip install playwright` (test extra) and `apt-get install chromium` (.ci/run does both);
without them the module is SKIPPED with a WARNING, never passed. Screenshots go to tests/out/;
with BLURFOCUS_DOCS_SCREENSHOT=1 the explorer's screenshot also goes to docs/explorer.png.
BLURFOCUS_REPORT=path/to/results/report.html runs the same checks on another finished run.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest

from helpers import loud_skip

from blurfocus import browser

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "out"
pytestmark = pytest.mark.e2e


def skip_loudly(pytestconfig, reason: str) -> None:
    loud_skip(pytestconfig, f"WARNING: the browser test is SKIPPED, the report was not opened in a browser: {reason}")


@pytest.fixture(scope="module")
def results(request, pytestconfig) -> Path:
    reason = browser.missing()
    if reason:
        skip_loudly(pytestconfig, reason)
    if os.environ.get("BLURFOCUS_REPORT"):
        return Path(os.environ["BLURFOCUS_REPORT"]).resolve().parent
    return request.getfixturevalue("tiny_run") / "results"


@pytest.fixture(scope="module")
def page(results):
    from playwright.sync_api import sync_playwright

    OUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = browser.launch(p)
        pg = b.new_page(viewport={"width": 1280, "height": 900})
        pg.errors = []
        pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
        pg.on("pageerror", lambda e: pg.errors.append(str(e)))
        pg.goto((results / "report.html").as_uri(), wait_until="load")
        wait_ready(pg)
        yield pg
        b.close()


@pytest.fixture(scope="module")
def maps(results) -> pd.DataFrame:
    cols = ["image_id", "label", "model", "variant", "draw", "pred"]
    return ds.dataset(results / "saliency", format="parquet").to_table(columns=cols).to_pandas()


@pytest.fixture(scope="module")
def mean_distance(results) -> pd.Series:
    """Per (comparison, image): the mean focus distance over ranks, from distances.parquet."""
    d = pd.read_parquet(results / "stats" / "distances.parquet")
    return d.groupby(["comparison", "image_id"])["distance"].mean()


def wait_ready(pg) -> None:
    pg.wait_for_selector('#bx[data-ready="1"]', timeout=20_000)


def shown(pg) -> list[dict]:
    return pg.eval_on_selector_all(
        "#bx-table tbody tr", "rs => rs.map(r => ({id: r.dataset.id, cls: r.dataset.cls, shift: +r.dataset.shift,"
        " sel: r.classList.contains('bx-sel')}))")


def select(pg, selector: str, value: str) -> None:
    pg.select_option(selector, value)
    wait_ready(pg)


def set_range(pg, selector: str, value: float) -> None:
    pg.eval_on_selector(selector, "(e, v) => { e.value = v; e.dispatchEvent(new Event('input', {bubbles: true})); }",
                        str(value))
    wait_ready(pg)


def pane_pixels(pg, pane: str) -> np.ndarray:
    """The pane's canvas as uint8 (H, W, 4), read back as a PNG."""
    import base64
    import io

    from PIL import Image

    url = pg.eval_on_selector(f"#bx-pane-{pane} canvas", "c => c.toDataURL('image/png')")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGBA"))


def selected(pg) -> str:
    return pg.evaluate("window.blurfocusExplorer.state.img")


def test_report_opens_without_errors(page, results, maps):
    assert page.errors == []
    assert page.locator("h2", has_text="Map explorer").count() == 1
    ids = set(maps["image_id"])
    rows = shown(page)
    assert {r["id"] for r in rows} == ids  # every mapped image listed
    assert page.locator("#bx-included").inner_text().startswith(f"Embedded: {len(ids)} test images")
    assert "src=\"http" not in (results / "report.html").read_text()  # self-contained
    page.screenshot(path=str(OUT / "report.png"), full_page=True)


def test_sort_by_focus_shift(page, results, mean_distance):
    # default panes: the first naive replicate on clear vs blurred images = naive:clear-vs-blur
    assert page.input_value("#bx-a-model") == page.input_value("#bx-b-model") == "naive-s0"
    select(page, "#bx-sort", "shift")
    if not page.is_checked("#bx-desc"):
        page.check("#bx-desc")
        wait_ready(page)
    rows = shown(page)
    shifts = [r["shift"] for r in rows]
    assert shifts == sorted(shifts, reverse=True) and shifts[0] > shifts[-1]
    expected = mean_distance.loc["naive:clear-vs-blur"]
    for r in rows:
        assert r["shift"] == pytest.approx(expected[r["id"]], abs=1e-9)
    # IoU and center-of-mass shift computed in the page equal the pipeline's pair metrics
    pairs = pd.read_parquet(results / "stats" / "pair_metrics.parquet")
    pairs = pairs[pairs["comparison"] == "naive:clear-vs-blur"].set_index("image_id")
    page_metrics = page.evaluate(
        "(() => { const X = window.blurfocusExplorer; const D = JSON.parse(document.getElementById('bx-data').textContent);"
        " return D.images.map((im, i) => [im.id, X.pairMetrics(X.state.a, X.state.b, i)]); })()")
    assert {i for i, _ in page_metrics} == set(pairs.index)
    for image_id, m in page_metrics:
        assert m["iou"] == pytest.approx(pairs.loc[image_id, "topk_iou"], abs=1e-9)
        assert m["com"] == pytest.approx(pairs.loc[image_id, "com_shift"], abs=0.01)
    page.uncheck("#bx-desc")
    wait_ready(page)
    up = shown(page)
    assert [r["shift"] for r in up] == sorted(shifts) and up[0]["id"] != rows[0]["id"]
    select(page, "#bx-sort", "id")
    assert [r["id"] for r in shown(page)] == sorted(r["id"] for r in rows)


def test_filter_by_class_and_correctness(page, maps):
    classes = sorted(set(page.eval_on_selector_all("#bx-class option", "os => os.map(o => o.value)")) - {"all"})
    cls = classes[-1]
    select(page, "#bx-class", cls)
    rows = shown(page)
    assert rows and all(r["cls"] == cls for r in rows)
    assert len(rows) < maps["image_id"].nunique()
    assert selected(page) in {r["id"] for r in rows}  # the shown image follows the filter
    select(page, "#bx-class", "all")
    a = maps[(maps["model"] == "naive-s0") & (maps["variant"] == "clear") & (maps["draw"] == 0)]
    wrong = set(a.loc[a["pred"] != a["label"], "image_id"])
    select(page, "#bx-correct-a", "wrong")
    assert {r["id"] for r in shown(page)} == wrong
    select(page, "#bx-correct-a", "right")
    assert {r["id"] for r in shown(page)} == set(a["image_id"]) - wrong
    select(page, "#bx-correct-a", "any")


def test_overlay_opacity(page, results):
    page.uncheck("#bx-topk")
    wait_ready(page)
    set_range(page, "#bx-opacity", 0.8)
    with_map = pane_pixels(page, "a")
    set_range(page, "#bx-opacity", 0)
    bare = pane_pixels(page, "a")
    assert np.abs(with_map.astype(int) - bare.astype(int)).mean() > 1
    # at opacity 0 pane A shows the clear test image itself, scaled up (nearest neighbour)
    image_id = selected(page)
    manifest = pd.read_parquet(results / "data" / "manifest.parquet")
    row = manifest[(manifest["split"] == "test") & (manifest["image_id"] == image_id)].iloc[0]
    image = np.load(results / "data" / "clear" / "test.npy")[int(row["split_index"])]
    scale = bare.shape[0] // image.shape[0]
    assert np.array_equal(bare[scale // 2::scale, scale // 2::scale, :3], image)
    set_range(page, "#bx-opacity", 0.6)
    page.check("#bx-topk")
    wait_ready(page)


def test_pane_switch(page, mean_distance):
    page.click("#bx-layout-models")
    wait_ready(page)
    assert page.input_value("#bx-a-model") == "naive-s0" and page.input_value("#bx-b-model") == "expert-s0"
    assert "expert-s0" in page.inner_text("#bx-pane-b figcaption")
    variant = page.input_value("#bx-a-variant")
    shift = float(page.inner_text("#bx-m-shift"))
    assert shift == pytest.approx(mean_distance.loc[(f"{variant}:naive-vs-expert", selected(page))], abs=1e-3)
    page.click("#bx-layout-blur")
    wait_ready(page)
    assert page.input_value("#bx-a-variant") == "clear" and page.input_value("#bx-b-variant") != "clear"
    assert page.input_value("#bx-a-model") == page.input_value("#bx-b-model")
    before = pane_pixels(page, "b")
    select(page, "#bx-b-model", "expert-s0")
    assert "expert-s0" in page.inner_text("#bx-pane-b figcaption")
    assert not np.array_equal(before, pane_pixels(page, "b"))


def test_deep_link(page, results, mean_distance):
    # a row click puts the view into the address
    rows = shown(page)
    target = rows[len(rows) // 2]["id"]
    page.click(f'#bx-table tbody tr[data-id="{target}"]')
    wait_ready(page)
    assert selected(page) == target
    assert "img=" + target.replace("/", "%2F") in page.evaluate("location.hash")
    # arrow keys step through the list
    ids = [r["id"] for r in shown(page)]
    page.focus(".bx-list")
    page.keyboard.press("ArrowDown")
    wait_ready(page)
    assert selected(page) == ids[ids.index(target) + 1]
    # a link opens a given image and pane layout
    blur = page.eval_on_selector_all("#bx-b-variant option", "os => os.map(o => o.value)")[-1]
    other = rows[0]["id"] if rows[0]["id"] != target else rows[1]["id"]
    link = (f"#explore:img={other.replace('/', '%2F')}&a=expert-s0,{blur},0&b=naive-s0,{blur},0"
            f"&op=0.3&sort=iou&desc=0")
    page.goto((results / "report.html").as_uri() + link)
    page.reload()
    wait_ready(page)
    assert page.errors == []
    assert selected(page) == other
    assert page.locator("#bx-table tr.bx-sel").get_attribute("data-id") == other
    assert (page.input_value("#bx-a-model"), page.input_value("#bx-a-variant")) == ("expert-s0", blur)
    assert (page.input_value("#bx-b-model"), page.input_value("#bx-b-variant")) == ("naive-s0", blur)
    assert float(page.input_value("#bx-opacity")) == pytest.approx(0.3)
    assert page.input_value("#bx-sort") == "iou" and not page.is_checked("#bx-desc")
    shift = float(page.inner_text("#bx-m-shift"))
    assert shift == pytest.approx(mean_distance.loc[(f"{blur}:naive-vs-expert", other)], abs=1e-3)
    # the report's links to telling examples open the explorer on that image
    example = page.locator('a[href^="#explore:"]').first
    href = example.get_attribute("href")
    example.click()
    wait_ready(page)
    from urllib.parse import parse_qs

    assert selected(page) == parse_qs(href[len("#explore:"):])["img"][0]
    shot = OUT / "explorer.png"
    page.locator("#bx").screenshot(path=str(shot))
    if os.environ.get("BLURFOCUS_DOCS_SCREENSHOT"):  # the README's picture: 256 colours keep it small
        from PIL import Image

        Image.open(shot).convert("RGB").quantize(256).save(REPO / "docs" / "explorer.png", optimize=True)


def test_report_tables_sort(page):
    table = page.locator("table.sortable").first
    header = table.locator("thead th").nth(0)
    col = table.locator("tbody tr td:first-child")
    before = col.all_inner_texts()
    header.click()
    asc = col.all_inner_texts()
    header.click()
    desc = col.all_inner_texts()
    assert asc == sorted(before) and desc == asc[::-1]
    assert page.errors == []
