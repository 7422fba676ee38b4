"""The embedded set-up's file cache: live entries are not forgotten at random.

Django's file cache deletes a random third of its entries once it holds 300; the demo's store
checks, politeness state and ESI headers passed that within minutes, and stores were asked
again long before their answers were due.
"""

from __future__ import annotations

import time

import pytest

from lenny.cache import EmbeddedFileCache

pytestmark = pytest.mark.embedded


def file_cache(tmp_path, **options) -> EmbeddedFileCache:
    return EmbeddedFileCache(str(tmp_path), {"OPTIONS": options})


def test_a_thousand_live_entries_are_all_kept(tmp_path):
    cache = file_cache(tmp_path)
    for n in range(1000):
        cache.set(f"check:{n}", {"listings": [n]}, 1800)

    assert all(cache.get(f"check:{n}") == {"listings": [n]} for n in range(1000))


def test_over_the_bound_the_expired_entries_go_first(tmp_path):
    cache = file_cache(tmp_path, MAX_ENTRIES=50)
    for n in range(40):
        cache.set(f"old:{n}", n, 1)
    for n in range(20):
        cache.set(f"live:{n}", n, 1800)
    time.sleep(1.1)
    cache._culled_at = 0.0  # the minute since the last look has passed

    cache.set("new", 1, 1800)

    assert len(cache._list_cache_files()) == 21  # the 40 expired ones removed, no live one
    assert all(cache.get(f"live:{n}") == n for n in range(20))


def test_live_entries_over_the_bound_are_still_culled(tmp_path):
    cache = file_cache(tmp_path, MAX_ENTRIES=30)
    for n in range(60):
        cache.set(f"live:{n}", n, 1800)
        cache._culled_at = 0.0

    assert len(cache._list_cache_files()) < 60


def test_the_directory_is_listed_at_most_once_a_minute(tmp_path, monkeypatch):
    cache = file_cache(tmp_path)
    listed = []
    real = cache._list_cache_files
    monkeypatch.setattr(cache, "_list_cache_files", lambda: listed.append(1) or real())

    for n in range(200):
        cache.set(f"k{n}", n, 60)

    assert len(listed) == 1
