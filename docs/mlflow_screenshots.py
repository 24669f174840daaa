"""Screenshots of the MLflow UI for the README, taken in a real browser.

Not a project dependency: it needs Debian's Chromium (`apt-get install chromium`) and
Playwright (`pip install playwright`, which drives that Chromium; no browser download).
With `make ui` running on a store that holds at least two runs:

    python docs/mlflow_screenshots.py            # writes docs/images/mlflow_{runs,compare}.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

IMAGES = Path(__file__).parent / "images"
# What a person comparing trainings looks at first (README, "Looking at the results").
KEY_METRICS = [
    "test_psnr",
    "test_gray_psnr",
    "test_colorfulness_ratio",
    "test_ciede2000",
    "test_discriminator_roc_auc",
    "final_g_l1",
    "final_g_adv",
]
HIDDEN_ATTRIBUTES = ["Source", "Models"]


def open_runs(page: Page, url: str) -> None:
    page.goto(f"{url}/#/experiments/1/runs?workflowType=machine_learning")
    page.wait_for_timeout(5000)
    assistant = page.get_by_role("button", name="Close", exact=True)
    if assistant.count():
        assistant.click()


def runs_table(page: Page, out: Path) -> None:
    """The runs table with the key metrics as columns and the two newest runs ticked."""
    page.get_by_role("button", name="Columns").click()
    page.wait_for_timeout(1000)
    for name in HIDDEN_ATTRIBUTES:
        page.get_by_text(name, exact=True).last.click()  # the menu's entry, not the header
    for metric in KEY_METRICS:
        page.get_by_text(metric, exact=True).first.click()
    page.keyboard.press("Escape")
    boxes = page.locator(".ag-row .ag-selection-checkbox")
    boxes.nth(0).click()
    boxes.nth(1).click()
    page.wait_for_timeout(1000)
    page.screenshot(path=out)


def compare_charts(page: Page, out: Path, search: str) -> None:
    """The chart view: every run's curves of the metrics matching ``search``, overlaid."""
    page.locator("label:has(input[value=CHART])").click()
    page.wait_for_timeout(3000)
    page.get_by_placeholder("Search metric charts").fill(search)
    page.wait_for_timeout(4000)
    page.screenshot(path=out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:5000")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--search", default="^val_", help="metrics shown in the compare view")
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium)
        page = browser.new_page(viewport={"width": 1900, "height": 420})
        open_runs(page, args.url)
        runs_table(page, IMAGES / "mlflow_runs.png")
        page.set_viewport_size({"width": 1600, "height": 860})
        open_runs(page, args.url)
        compare_charts(page, IMAGES / "mlflow_compare.png", args.search)
        browser.close()


if __name__ == "__main__":
    main()
