import pytest

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_a_visitor_follows_the_navigation(page):
    page.goto("/")
    assert page.locator("h1").inner_text() == "Lenny"
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Market").click()
    page.wait_for_url("**/market/")
    assert page.locator("h1").first.inner_text() == "Market"
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Stores").click()
    page.wait_for_url("**/accounts/login/**")  # the stock checker is personal
    page.get_by_role("link", name="Lenny").first.click()
    page.wait_for_url("**/")
