"""A keyboard user: the skip link, focus on the first error after a failed submit, and a focus
ring that can be seen (at least 3:1 against the background), at a phone width."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def _luminance(rgb):
    def channel(c):
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(int(x)) for x in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a, b):
    hi, lo = sorted([_luminance(a), _luminance(b)], reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _rgb(css):
    return re.findall(r"\d+", css)[:3]


def test_skip_link_first_error_and_visible_focus_ring(page, login, snap, agent):
    page.set_viewport_size(PHONE)
    login(agent)
    page.goto("/tickets/new/?kind=driver-penalty-request")

    # The first Tab reaches the skip link, which is shown when focused and jumps into the page.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="본문으로 건너뛰기")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box and box["y"] >= 0, "the focused skip link must be on screen"
    snap("skip-link")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    # Submitting with nothing filled in: focus lands on the first field in error.
    page.get_by_role("button", name="접수하기").click()
    page.wait_for_load_state()
    focused = page.evaluate(
        "({id: document.activeElement.id, invalid: document.activeElement.getAttribute('aria-invalid'),"
        " described: document.activeElement.getAttribute('aria-describedby')})"
    )
    first_invalid = page.locator('[aria-invalid="true"]').first
    assert focused["invalid"] == "true"
    assert focused["id"] == first_invalid.get_attribute("id")
    # The message next to it is what a screen reader hears with the field.
    described = page.locator(f"#{focused['described']}")
    expect(described).to_be_visible()
    assert described.inner_text().strip()
    snap("first-error-focused")

    # The ring around a focused field: at least 3:1 against the card's white.
    page.keyboard.press("Tab")
    ring = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return {color: s.outlineColor, width: parseFloat(s.outlineWidth), style: s.outlineStyle}; })()"
    )
    assert ring["style"] != "none" and ring["width"] >= 2
    assert _contrast(_rgb(ring["color"]), ("255", "255", "255")) >= 3


def test_header_focus_ring_is_visible_on_the_dark_bar(page, login, agent):
    login(agent)
    page.keyboard.press("Tab")  # skip link
    page.keyboard.press("Tab")  # brand, on the dark header
    colors = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " const bar = getComputedStyle(document.querySelector('header.top'));"
        " return {ring: s.outlineColor, bar: bar.backgroundColor}; })()"
    )
    assert _contrast(_rgb(colors["ring"]), _rgb(colors["bar"])) >= 3
