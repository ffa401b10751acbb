from __future__ import annotations

import pytest

from core.errors import InvalidParameter, ResourceNotFound
from core.objects.local import LocalObjectStore


@pytest.fixture
def store(tmp_path):
    return LocalObjectStore(tmp_path / "objects")


def test_put_get_list_delete(store):
    store.put_object("facegate-photos", "image01_20190808181200.jpg", b"abc")
    store.put_object("facegate-photos", "captures/2026/x.json", b"{}")
    assert store.get_object("facegate-photos", "image01_20190808181200.jpg") == b"abc"
    assert [o.key for o in store.list_objects("facegate-photos")] == [
        "captures/2026/x.json",
        "image01_20190808181200.jpg",
    ]
    assert [o.key for o in store.list_objects("facegate-photos", "captures/")] == ["captures/2026/x.json"]
    assert store.exists("facegate-photos", "captures/2026/x.json")
    store.delete_object("facegate-photos", "captures/2026/x.json")
    store.delete_object("facegate-photos", "captures/2026/x.json")  # absent: not an error, as in S3
    with pytest.raises(ResourceNotFound):
        store.get_object("facegate-photos", "captures/2026/x.json")
    assert store.list_objects("empty-bucket") == []


@pytest.mark.parametrize("key", ["../escape", "a/../../b", "/abs", "a\\b", "", "a\x00b", "x/./y"])
def test_unsafe_keys_are_refused(store, key):
    with pytest.raises(InvalidParameter):
        store.put_object("facegate-photos", key, b"x")


def test_bad_bucket_names(store):
    with pytest.raises(InvalidParameter):
        store.put_object("../etc", "k", b"x")


def test_files_are_owner_only(store, tmp_path):
    store.put_object("facegate-photos", "a.jpg", b"x")
    path = tmp_path / "objects" / "facegate-photos" / "a.jpg"
    assert path.stat().st_mode & 0o077 == 0
