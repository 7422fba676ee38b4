""" "Refresh now": the same sync jobs on a queue of their own, which overtakes a full low-priority
queue; its progress on the ledger page until every job is done."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils.module_loading import import_string
from django_q.brokers import get_broker
from django_q.models import Schedule, Task
from django_q.signing import SignedPackage
from django_q.tasks import async_task

from accounts.tests.factories import ORDERS_SCOPE, character_link_replay
from market.ledger.models import LedgerSync, WalletJournalEntry
from market.ledger.schedules import ledger_refresh_progress
from market.ledger.tests.factories import cluster_env, cluster_start, cluster_stop, wait_until

BACKLOG = 60
BACKLOG_SECONDS = 0.5


@pytest.fixture
def queues():
    """Both brokers' lists, emptied before and after the test."""
    brokers = {"low": get_broker(), "high": get_broker(settings.LEDGER_PRIORITY_CLUSTER)}
    for broker in brokers.values():
        broker.purge_queue()
    yield brokers
    for broker in brokers.values():
        broker.purge_queue()


def queue_run(broker) -> list[str]:
    """Act as the priority cluster's worker: run every queued task here, in order."""
    done = []
    while broker.queue_size():
        for ack_id, payload in broker.dequeue() or []:
            task = SignedPackage.loads(payload)
            done.append(import_string(task["func"])(*task["args"], **task["kwargs"]))
            broker.acknowledge(ack_id)
    return done


@pytest.mark.embedded
@pytest.mark.django_db
def test_refresh_now_queues_every_endpoint_on_the_priority_queue_only(client, user, eve, queues):
    pilot = character_link_replay(eve, user)
    client.force_login(user)

    answer = client.post(reverse("ledger:refresh"), headers={"HX-Request": "true"})

    html = answer.content.decode()
    assert answer.status_code == 200 and "0 of 5 done" in html
    assert 'hx-trigger="every 1s"' in html
    assert queues["high"].queue_size() == 5 and queues["low"].queue_size() == 0
    # Pressing again while it runs shows the same progress and queues nothing more.
    client.post(reverse("ledger:refresh"), headers={"HX-Request": "true"})
    assert queues["high"].queue_size() == 5

    summaries = queue_run(queues["high"])

    assert len(summaries) == 5 and all("updated" in s for s in summaries), summaries
    progress = client.get(
        reverse("ledger:refresh_progress"), {"polling": 1}, headers={"HX-Request": "true"}
    )
    assert progress["HX-Refresh"] == "true"  # done: the page reloads with the new figures
    assert "Refreshed" in progress.content.decode()
    assert WalletJournalEntry.objects.filter(character=pilot).exists()


@pytest.mark.django_db
def test_refresh_skips_characters_that_cannot_sync(client, user, other_user, eve, queues):
    character_link_replay(eve, user, scopes=[ORDERS_SCOPE])
    relogin = character_link_replay(eve, user, character_id=90000002, name="Lapsed Pilot")
    relogin.needs_relogin = True
    relogin.save(update_fields=["needs_relogin"])
    character_link_replay(eve, other_user, character_id=90000003, name="Not Yours")
    client.force_login(user)

    client.post(reverse("ledger:refresh"))

    # Only the orders of the one usable character with the orders scope.
    assert queues["high"].queue_size() == 2
    assert set(LedgerSync.objects.values_list("endpoint", flat=True)) == {"orders", "order_history"}
    assert ledger_refresh_progress(user=other_user).total == 0


@pytest.mark.skipif(
    not settings.USING_POSTGRES or not settings.REDIS_URL,
    reason="its clusters run in other processes: they share PostgreSQL and Redis with the test",
)
@pytest.mark.django_db(transaction=True)
def test_a_refresh_overtakes_a_queue_full_of_low_priority_jobs(client, user, eve, queues):
    Schedule.objects.all().delete()  # nothing but this test's jobs in the clusters
    pilot = character_link_replay(eve, user)
    Schedule.objects.all().delete()
    for _ in range(BACKLOG):
        async_task("time.sleep", BACKLOG_SECONDS, q_options={"group": "backlog"})
    assert queues["low"].queue_size() == BACKLOG
    client.force_login(user)
    client.post(reverse("ledger:refresh"))
    assert queues["high"].queue_size() == 5

    env = cluster_env(eve, Q_WORKERS="1", Q_PRIORITY_WORKERS="1")
    low = cluster_start(env)
    high = cluster_start(env, name=settings.LEDGER_PRIORITY_CLUSTER)
    try:
        finished = wait_until(
            lambda: not ledger_refresh_progress(user=user).pending, timeout=90, interval=0.1
        )
        backlog_left = queues["low"].queue_size()
        backlog_done = Task.objects.filter(group="backlog").count()
    finally:
        errors = cluster_stop(high) + cluster_stop(low)

    assert finished, f"the refresh never finished; clusters said:\n{errors[-3000:]}"
    # Five syncs done while the low-priority queue, worked all along, is still mostly waiting.
    assert backlog_left >= BACKLOG // 2, (backlog_left, backlog_done)
    refresh_tasks = Task.objects.filter(group=f"ledger-refresh-{user.pk}")
    assert refresh_tasks.count() == 5
    assert set(refresh_tasks.values_list("cluster", flat=True)) == {
        settings.LEDGER_PRIORITY_CLUSTER
    }
    assert all(task.success for task in refresh_tasks), [t.result for t in refresh_tasks]
    states = LedgerSync.objects.filter(character=pilot)
    assert states.count() == 5 and {s.status for s in states} == {"updated"}
