"""What every browser test shares: Chromium present (a failure under CI, a skip elsewhere), one browser per
module, logging in through the real form, full-page screenshots kept in ``test-artifacts/`` (git-ignored)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from condivisa.outputs.report import CHROMIUM, CHROMIUM_ARGS, chromium_available
from conftest import ROOT
from web_helpers import PASSWORD

ARTIFACTS = ROOT / "test-artifacts"


def require_chromium() -> None:
    """Skip the test without Debian's Chromium; under CI (``CI`` set) its absence is a failure."""
    if not chromium_available():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is missing at {CHROMIUM} under CI")
        pytest.skip(f"Chromium is not installed at {CHROMIUM}")


@contextmanager
def launched() -> Iterator:
    """A Playwright Chromium browser (Debian's binary), closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def login(
    browser, url: str, user: str, width: int = 1100, locale: str = "it-IT", height: int = 900, **ctx_args
):
    """A new browser context logged in as ``user`` through the login form: ``(context, page)``."""
    ctx = browser.new_context(viewport={"width": width, "height": height}, locale=locale, **ctx_args)
    page = ctx.new_page()
    page.goto(url + "/login")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")
    return ctx, page


def shot(page, name: str, tmp_path: Path | None = None) -> Path:
    """A full-page screenshot ``test-artifacts/<name>.png`` (and a copy in ``tmp_path`` when given)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5_000
    if tmp_path is not None:
        shutil.copy(path, tmp_path / path.name)
    return path
