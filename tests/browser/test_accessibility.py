"""axe-core on every page of the console: each tab's list, a detail page, exports,
retention and the sign-in page report no serious or critical violation, at a laptop's
width and a phone's. axe is vendored (tests/browser/vendor/axe.min.js, MPL-2.0)."""

from pathlib import Path

import pytest

from tests.browser.test_console import sign_in
from tests.factories import FACTORIES, StaffFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True),
              pytest.mark.xdist_group("browser")]

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PASSWORD = "correct-horse-battery"
GRAVE = ("serious", "critical")


def violations(page):
    """axe's serious and critical findings on the page as it stands: [(rule, [targets])]."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    found = page.evaluate("""async () => {
        const result = await axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                            'best-practice']}});
        return result.violations.map(v => [v.id, v.impact,
                                           v.nodes.slice(0, 5).map(n => n.target.join(' '))]);
    }""")
    return [(rule, targets) for rule, impact, targets in found if impact in GRAVE]


def settled(page):
    page.wait_for_load_state("networkidle")


@pytest.mark.parametrize("width,height", [(1280, 800), (390, 844)])
def test_every_page_is_clean_for_axe(page, live_server, width, height):
    StaffFactory(username=f"axe-{width}")
    rows = {slug: factory.create_batch(2) for slug, factory in FACTORIES.items()
            if slug in ("audit", "usage", "auth", "system")}
    page.set_viewport_size({"width": width, "height": height})

    page.goto(f"{live_server.url}/accounts/login/")
    problems = {"login": violations(page)}
    sign_in(page, live_server, f"axe-{width}", PASSWORD)
    pages = [f"/logs/{slug}/" for slug in rows]
    pages += [rows["usage"][0].get_absolute_url(), rows["audit"][0].get_absolute_url(),
              "/exports/", "/retention/"]
    for path in pages:
        page.goto(f"{live_server.url}{path}")
        settled(page)
        problems[path] = violations(page)
    # With the phone's menu open, and with "More filters" open.
    if width < 700:
        page.click("#menu-toggle")
        problems["menu open"] = violations(page)
    page.goto(f"{live_server.url}/logs/usage/?status=error")
    settled(page)
    problems["more filters open"] = violations(page)
    grave = {where: found for where, found in problems.items() if found}
    assert not grave, "\n".join(f"{where}: {rule} {targets}" for where, found in grave.items()
                                 for rule, targets in found)
