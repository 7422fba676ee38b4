"""Store checks follow redirects only within the store's own site (scheme, host and port).

An admin-added store that redirected once sent Lenny to an internal URL, whose body then
showed in the admin. Over real sockets: the replay stores, and a second server as the
"internal" host.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from lenny.replay import ReplayResponse
from stores.checks import check_run
from stores.fetching import url_origin
from stores.models import CheckResult, StoreHealth
from stores.replay import site_fault
from stores.tests.factories import offer

pytestmark = pytest.mark.django_db
SECRET = "internal-metadata-token-0f9c"


@pytest.fixture
def internal(store_site):
    """Another host (same address, another port) that must never be asked."""
    store_site.add_route("GET", "/latest/meta-data", lambda r: ReplayResponse.html(SECRET))
    return store_site


def test_a_redirect_to_another_host_fails_the_check_with_the_reason(
    shops, card, result_of, upstreams, internal, admin_client
):
    target = internal.url("/latest/meta-data")
    site_fault(upstreams, "harlequins", "redirect", to=target, times=None)
    result = result_of(shops["harlequins"], card("Mystic Snake"))

    outcome = check_run(result_id=result.pk)

    assert outcome.status == "failed"
    assert internal.requests() == []  # the internal host was never asked
    result.refresh_from_db()
    assert result.status == CheckResult.Status.FAILED and result.error_kind == "redirect"
    assert result.error == f"Harlequins: redirected to another host: {target}"
    assert upstreams.count(r"^/stores/harlequins/") == 1  # not retried
    health = StoreHealth.objects.get(store=shops["harlequins"])
    assert health.last_failure == result.error and SECRET not in health.last_failure_snippet
    page = admin_client.get("/admin/stores/store/").content.decode()
    assert "redirected to another host" in page and SECRET not in page


@pytest.mark.parametrize(
    "elsewhere",
    [
        "http://localhost:{port}/stores/harlequins/products/search?q=x",  # another host name
        "https://127.0.0.1:{port}/stores/harlequins/products/search?q=x",  # another scheme
        "http://127.0.0.1:1/stores/harlequins/products/search?q=x",  # another port
        "//evil.example/steal",  # scheme-relative
    ],
)
def test_every_other_origin_is_refused(shops, card, result_of, upstreams, elsewhere):
    port = upstreams.base_url.rsplit(":", 1)[1]
    site_fault(upstreams, "harlequins", "redirect", to=elsewhere.format(port=port), times=None)
    result = result_of(shops["harlequins"], card("Mystic Snake"))
    check_run(result_id=result.pk)
    result.refresh_from_db()
    assert result.error_kind == "redirect" and "redirected to another host" in result.error


def test_a_redirect_within_the_store_is_followed(shops, stock, card, result_of, upstreams):
    stock("harlequins", "Mystic Snake", offer(price="0.95", quantity=3))
    moved = "/stores/harlequins/products/search?q=Mystic+Snake&moved=1"
    site_fault(upstreams, "harlequins", "redirect", to=moved, times=1)
    result = result_of(shops["harlequins"], card("Mystic Snake"))

    outcome = check_run(result_id=result.pk)

    assert outcome.status == "ok", outcome
    result.refresh_from_db()
    assert [(x["price"], x["quantity"]) for x in result.listings if x["in_stock"]] == [("0.95", 3)]
    assert upstreams.requests(r"^/stores/harlequins/products/search")[-1].arg("moved") == "1"


def test_a_redirect_loop_within_the_store_fails(shops, card, result_of, upstreams):
    site_fault(
        upstreams, "harlequins", "redirect", to="/stores/harlequins/products/search", times=None
    )
    result = result_of(shops["harlequins"], card("Mystic Snake"))
    check_run(result_id=result.pk)
    result.refresh_from_db()
    assert result.error_kind == "redirect" and "more than 5 redirects" in result.error


def test_probe_store_refuses_a_redirect_to_another_host(store_site, internal):
    # The "store" and the internal host are the same server here: tell them apart by port.
    store = store_site
    target = f"http://localhost:{store.base_url.rsplit(':', 1)[1]}/latest/meta-data"
    store.fault("/products/search", status=301, headers={"Location": target}, times=None)
    with pytest.raises(CommandError) as error:
        call_command(
            "probe_store",
            "--platform", "crystalcommerce", "--url", store.base_url, "--card", "Tarmogoyf",
            stdout=StringIO(),
        )  # fmt: skip
    assert f"redirected to another host: {target}" in str(error.value)
    assert store.requests("/latest/meta-data") == []


@pytest.mark.embedded
def test_origins_compare_scheme_host_and_port_with_default_ports():
    assert url_origin("https://Shop.example/a") == url_origin("https://shop.example:443/b")
    assert url_origin("http://shop.example") != url_origin("https://shop.example")
    assert url_origin("http://shop.example:8080") != url_origin("http://shop.example")
    assert url_origin("http://user@shop.example/") == url_origin("http://shop.example/")
    assert url_origin("http://shop.example:notaport/") == ("", "", None)
