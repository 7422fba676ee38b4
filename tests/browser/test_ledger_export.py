"""A pilot keeps a copy of their ledger in a real browser: download it, lose the database, upload
it back through the form (CSRF token and all), and the ledger is whole again."""

import json

import pytest
from django_q.models import Schedule
from playwright.sync_api import expect

from accounts.models import Character
from market.ledger.models import WalletJournalEntry, WalletTransaction

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_download_lose_everything_and_upload_it_back(page, hand_made, tmp_path):
    blocked = []
    page.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    journal = sorted(WalletJournalEntry.objects.values_list("entry_id", "amount"))
    transactions = WalletTransaction.objects.count()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("correct horse 9")
    page.get_by_role("button", name="Sign In").click()
    page.goto("/ledger/")
    page.get_by_role("navigation", name="Ledger").get_by_role(
        "link", name="Export and import"
    ).click()
    expect(page.get_by_role("heading", name="Export and import")).to_be_visible()
    expect(page.locator('[data-character="2112625428"]')).to_contain_text(
        f"{len(journal)} journal entries, {transactions} transactions"
    )

    with page.expect_download() as download:
        page.get_by_role("button", name="Download my ledger").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name.startswith("lenny-ledger-") and saved.suffix == ".json"
    assert json.loads(saved.read_text())["characters"][0]["name"] == "Lenny Demo Pilot"

    # The database is lost; alice's account is back (say, from an older backup) without data.
    Character.objects.all().delete()
    Schedule.objects.all().delete()
    page.reload()
    page.get_by_label("Ledger file").set_input_files(saved)
    page.get_by_role("button", name="Import").click()

    expect(page.get_by_role("status").first).to_contain_text(
        "Ledger imported. Created Lenny Demo Pilot (log in with EVE to sync it)."
    )
    assert sorted(WalletJournalEntry.objects.values_list("entry_id", "amount")) == journal
    assert WalletTransaction.objects.count() == transactions

    page.get_by_label("Ledger file").set_input_files(saved)
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("status").first).to_contain_text("Nothing new")

    broken = tmp_path / "broken.json"
    broken.write_text(saved.read_text().replace('"ref_type"', '"ref_kind"', 1))
    page.get_by_label("Ledger file").set_input_files(broken)
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-errors")).to_contain_text(
        "Nothing was imported: characters[0].journal[0]"
    )
    assert not blocked, blocked
