"""Object store: the local folder store and S3 (moto) keep one contract."""

from __future__ import annotations

import pytest

from core.errors import InvalidParameter, ResourceNotFound

BUCKET = "facegate-photos"


def test_put_get_overwrite_delete(world):
    store = world.objects
    store.put_object(BUCKET, "image01_20190808181200.jpg", b"\xff\xd8first", "image/jpeg")
    store.put_object(BUCKET, "image01_20190808181200.jpg", b"\xff\xd8second", "image/jpeg")
    assert store.get_object(BUCKET, "image01_20190808181200.jpg") == b"\xff\xd8second"
    assert store.exists(BUCKET, "image01_20190808181200.jpg")
    store.delete_object(BUCKET, "image01_20190808181200.jpg")
    store.delete_object(BUCKET, "image01_20190808181200.jpg")  # absent: not an error
    assert not store.exists(BUCKET, "image01_20190808181200.jpg")
    with pytest.raises(ResourceNotFound):
        store.get_object(BUCKET, "image01_20190808181200.jpg")


def test_every_byte_survives(world):
    data = bytes(range(256)) * 64
    world.objects.put_object(BUCKET, "blob.bin", data)
    world.objects.put_object(BUCKET, "empty.bin", b"")
    assert world.objects.get_object(BUCKET, "blob.bin") == data
    assert world.objects.get_object(BUCKET, "empty.bin") == b""


def test_listing_is_sorted_filtered_by_prefix_and_sized(world):
    for key in ("b/2.json", "a.json", "b/1.json", "bb.json", "日本語/写真.jpg"):
        world.objects.put_object(BUCKET, key, key.encode())
    assert [o.key for o in world.objects.list_objects(BUCKET)] == sorted(
        ["a.json", "b/1.json", "b/2.json", "bb.json", "日本語/写真.jpg"]
    )
    listed = world.objects.list_objects(BUCKET, "b/")
    assert [(o.key, o.size) for o in listed] == [("b/1.json", 8), ("b/2.json", 8)]
    assert all(o.last_modified.tzinfo is not None for o in listed)
    assert [o.key for o in world.objects.list_objects(BUCKET, "b")] == ["b/1.json", "b/2.json", "bb.json"]


@pytest.mark.parametrize("key", ["../escape", "a/../../b", "/abs", "a\\b", "", "a\x00b", "x/./y"])
def test_unsafe_keys_are_refused(world, key):
    with pytest.raises(InvalidParameter):
        world.objects.put_object(BUCKET, key, b"x")


@pytest.mark.parametrize("bucket", ["../etc", "UPPER", "a", ""])
def test_bad_bucket_names_are_refused(world, bucket):
    with pytest.raises(InvalidParameter):
        world.objects.put_object(bucket, "k", b"x")
