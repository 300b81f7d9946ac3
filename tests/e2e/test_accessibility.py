"""Every page against axe-core's WCAG 2 A/AA rules in Chromium: no serious or critical violation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.diagnosis.factories import completed_study, film_study
from tests.e2e.conftest import PASSWORD, shot
from tests.fixtures.viewer_dicoms import PRIOR

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.services]

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
RULES = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def axe_violations(tab: Any) -> list[str]:
    """Serious and critical violations on the current page, one line each."""
    tab.add_script_tag(path=str(AXE))
    result = tab.evaluate("(rules) => axe.run(document, rules)", RULES)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture
def audited_tab(services: None, page: Any, live_server: Any) -> Any:
    """A tab in a context that lets axe's script in (the site's CSP would refuse it, as it should)."""
    context = page.context.browser.new_context(base_url=live_server.url, bypass_csp=True)
    tab = context.new_page()
    yield tab
    context.close()


def sign_in(tab: Any, username: str) -> None:
    tab.goto("/")
    tab.get_by_label("Username").fill(username)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_load_state("domcontentloaded")


@pytest.mark.parametrize(
    ("who", "paths"),
    [
        ("alice", ["/studies/", "/studies/new/", "/studies/{study}/", "/model/"]),
        (
            "carol",
            [
                "/worklist/",
                "/studies/{study}/",
                "/studies/{study}/?compare={prior}",
                "/patients/?q=MRN",
                "/patients/{patient}/",
            ],
        ),
        ("root-admin", ["/audit/"]),
    ],
)
def test_pages_have_no_serious_accessibility_violations(
    audited_tab: Any, alice: Any, carol: Any, admin_user: Any, who: str, paths: list[str]
) -> None:
    study = completed_study(created_by=alice, probability=0.83, indeterminate=True)
    prior = film_study(created_by=alice, data=PRIOR.read_bytes(), patient=study.patient)
    audited_tab.goto("/login/")
    problems = {"/login/": axe_violations(audited_tab)}
    sign_in(audited_tab, who)
    for path in paths:
        audited_tab.goto(path.format(study=study.id, prior=prior.id, patient=study.patient_id))
        problems[path] = axe_violations(audited_tab)
    found = {path: issues for path, issues in problems.items() if issues}
    if found:
        shot(audited_tab, f"a11y-failure-{who}")
    assert not found, found


def test_signed_study_and_indeterminate_summary_have_no_serious_violations(
    audited_tab: Any, alice: Any, carol: Any
) -> None:
    """#16's new states: the final read with the superseded AI result (expanded), and the summary step."""
    from reading.services.reviews import review_submit

    signed = completed_study(created_by=alice, probability=0.93)
    review_submit(
        user=carol, study=signed, decision="override", final_label="NON_DIAGNOSTIC", reason="wrong_input"
    )
    uncertain = completed_study(created_by=alice, probability=0.45, indeterminate=True)
    sign_in(audited_tab, "alice")
    audited_tab.goto(f"/studies/{signed.id}/")
    audited_tab.locator("details#ai-result > summary").click()
    problems = {"signed": axe_violations(audited_tab)}
    audited_tab.context.clear_cookies()
    sign_in(audited_tab, "carol")
    audited_tab.goto(f"/studies/{uncertain.id}/")
    audited_tab.locator("body").press("a")
    audited_tab.keyboard.press("Enter")
    audited_tab.wait_for_url(f"**/studies/{uncertain.id}/review/")
    problems["summary"] = axe_violations(audited_tab)
    found = {name: issues for name, issues in problems.items() if issues}
    if found:
        shot(audited_tab, "a11y-failure-safety")
    assert not found, found
