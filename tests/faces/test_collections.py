"""Every Rekognition operation of the local engine, on real photos."""

from __future__ import annotations

import pytest

from core.errors import CollectionNotFound, InvalidParameter, NoFaceInImage, ResourceAlreadyExists
from tests.faces.conftest import img_bytes


def test_collection_lifecycle(faces):
    out = faces.create_collection(CollectionId="office")
    assert out["StatusCode"] == 200 and out["CollectionArn"].endswith("collection/office")
    with pytest.raises(ResourceAlreadyExists):
        faces.create_collection(CollectionId="office")
    faces.create_collection(CollectionId="lab")
    assert faces.list_collections()["CollectionIds"] == ["lab", "office"]
    page = faces.list_collections(MaxResults=1)
    assert page["CollectionIds"] == ["lab"]
    assert faces.list_collections(MaxResults=1, NextToken=page["NextToken"])["CollectionIds"] == ["office"]
    assert faces.describe_collection(CollectionId="office")["FaceCount"] == 0
    faces.delete_collection(CollectionId="office")
    with pytest.raises(CollectionNotFound):
        faces.describe_collection(CollectionId="office")
    with pytest.raises(CollectionNotFound):
        faces.delete_collection(CollectionId="office")


@pytest.mark.parametrize("bad", ["", "a/b", "../x", "名前", "x" * 256, None])
def test_bad_collection_ids_are_refused(faces, bad):
    with pytest.raises(InvalidParameter):
        faces.create_collection(CollectionId=bad)


def test_index_search_delete_round_trip(faces, labelled):
    faces.create_collection(CollectionId="c")
    out = faces.index_faces(
        CollectionId="c",
        Image=img_bytes(labelled["amy"][0]),
        ExternalImageId="Amy_Farrah",
        MaxFaces=1,
        QualityFilter="AUTO",
        DetectionAttributes=["ALL"],
    )
    assert len(out["FaceRecords"]) == 1 and out["UnindexedFaces"] == []
    face = out["FaceRecords"][0]["Face"]
    assert face["ExternalImageId"] == "Amy_Farrah"
    box = face["BoundingBox"]
    assert 0 < box["Width"] <= 1 and 0 <= box["Left"] < 1

    hit = faces.search_faces_by_image(CollectionId="c", Image=img_bytes(labelled["amy"][2]), FaceMatchThreshold=80)
    assert hit["FaceMatches"][0]["Face"]["FaceId"] == face["FaceId"]
    assert hit["FaceMatches"][0]["Similarity"] >= 80
    assert 0 < hit["SearchedFaceConfidence"] <= 100

    miss = faces.search_faces_by_image(CollectionId="c", Image=img_bytes(labelled["penny"][0]))
    assert miss["FaceMatches"] == []

    assert faces.describe_collection(CollectionId="c")["FaceCount"] == 1
    deleted = faces.delete_faces(CollectionId="c", FaceIds=[face["FaceId"], "00000000-0000-0000-0000-000000000000"])
    assert deleted["DeletedFaces"] == [face["FaceId"]]
    assert deleted["UnsuccessfulFaceDeletions"][0]["Reasons"] == ["FACE_NOT_FOUND"]
    after = faces.search_faces_by_image(CollectionId="c", Image=img_bytes(labelled["amy"][2]))
    assert after["FaceMatches"] == []


def test_open_set_identification_on_shared_faces(faces, labelled):
    """Enrol one photo each of four people; the fifth person is unknown. Every other photo of
    an enrolled person must come back as that person at the default threshold, and no photo
    of the unknown person may come back as anybody."""
    people = sorted(labelled)
    unknown = people[-1]
    faces.create_collection(CollectionId="c")
    for person in people[:-1]:
        out = faces.index_faces(CollectionId="c", Image=img_bytes(labelled[person][0]), ExternalImageId=person)
        assert len(out["FaceRecords"]) == 1, person
    for person in people[:-1]:
        for path in labelled[person][1:]:
            matches = faces.search_faces_by_image(CollectionId="c", Image=img_bytes(path))["FaceMatches"]
            assert matches and matches[0]["Face"]["ExternalImageId"] == person, path
    for path in labelled[unknown]:
        matches = faces.search_faces_by_image(CollectionId="c", Image=img_bytes(path))["FaceMatches"]
        assert matches == [], f"unknown {path} matched {matches[:1]}"


def test_search_faces_by_face_id(faces, labelled):
    faces.create_collection(CollectionId="c")
    a1 = faces.index_faces(CollectionId="c", Image=img_bytes(labelled["howard"][0]), ExternalImageId="howard")
    faces.index_faces(CollectionId="c", Image=img_bytes(labelled["howard"][1]), ExternalImageId="howard")
    faces.index_faces(CollectionId="c", Image=img_bytes(labelled["penny"][1]), ExternalImageId="penny")
    fid = a1["FaceRecords"][0]["Face"]["FaceId"]
    out = faces.search_faces(CollectionId="c", FaceId=fid)
    assert out["SearchedFaceId"] == fid
    assert [m["Face"]["ExternalImageId"] for m in out["FaceMatches"]] == ["howard"]
    assert all(m["Face"]["FaceId"] != fid for m in out["FaceMatches"])
    with pytest.raises(InvalidParameter):
        faces.search_faces(CollectionId="c", FaceId="11111111-1111-1111-1111-111111111111")


def test_max_faces_and_unindexed_reasons(faces, faces_dir):
    faces.create_collection(CollectionId="c")
    out = faces.index_faces(
        CollectionId="c", Image=img_bytes(faces_dir / "groups" / "bbt1.jpg"), ExternalImageId="group", MaxFaces=1
    )
    assert len(out["FaceRecords"]) == 1
    reasons = [r for u in out["UnindexedFaces"] for r in u["Reasons"]]
    assert reasons.count("EXCEEDS_MAX_FACES") == 3
    # The kept face is the largest one.
    kept = out["FaceRecords"][0]["FaceDetail"]["BoundingBox"]
    for u in out["UnindexedFaces"]:
        b = u["FaceDetail"]["BoundingBox"]
        assert b["Width"] * b["Height"] <= kept["Width"] * kept["Height"]


def test_quality_filter_rejects_small_blurred_face(faces, labelled):
    from PIL import Image, ImageFilter

    from tests.faces.conftest import encode

    img = Image.open(labelled["leonard"][0]).convert("RGB")
    blurred = img.resize((300, 300)).filter(ImageFilter.GaussianBlur(6))
    faces.create_collection(CollectionId="c")
    out = faces.index_faces(
        CollectionId="c", Image={"Bytes": encode(blurred)}, ExternalImageId="x", QualityFilter="HIGH"
    )
    assert out["FaceRecords"] == [] or out["UnindexedFaces"] == []  # found or not, never both silently
    if out["UnindexedFaces"]:
        assert "LOW_SHARPNESS" in out["UnindexedFaces"][0]["Reasons"]
    none = faces.index_faces(CollectionId="c", Image={"Bytes": encode(img)}, ExternalImageId="x", QualityFilter="NONE")
    assert len(none["FaceRecords"]) == 1


def test_index_without_face_indexes_nothing(faces, blank_jpeg):
    faces.create_collection(CollectionId="c")
    out = faces.index_faces(CollectionId="c", Image={"Bytes": blank_jpeg}, ExternalImageId="nobody")
    assert out["FaceRecords"] == [] and out["UnindexedFaces"] == []
    with pytest.raises(NoFaceInImage):
        faces.search_faces_by_image(CollectionId="c", Image={"Bytes": blank_jpeg})


@pytest.mark.parametrize("external_id", ["../../etc/passwd", "名前", "a b", "x" * 256, "", "a/b"])
def test_external_image_id_pattern(faces, labelled, external_id):
    faces.create_collection(CollectionId="c")
    with pytest.raises(InvalidParameter):
        faces.index_faces(CollectionId="c", Image=img_bytes(labelled["amy"][0]), ExternalImageId=external_id)
    assert faces.describe_collection(CollectionId="c")["FaceCount"] == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"MaxFaces": 0},
        {"MaxFaces": 5000},
        {"FaceMatchThreshold": 101},
        {"FaceMatchThreshold": "80"},
        {"QualityFilter": "BEST"},
    ],
)
def test_search_parameter_validation(faces, labelled, kwargs):
    faces.create_collection(CollectionId="c")
    with pytest.raises(InvalidParameter):
        faces.search_faces_by_image(CollectionId="c", Image=img_bytes(labelled["amy"][0]), **kwargs)


def test_search_missing_collection(faces, labelled):
    with pytest.raises(CollectionNotFound):
        faces.search_faces_by_image(CollectionId="nope", Image=img_bytes(labelled["amy"][0]))


def test_list_faces_paginates(faces, labelled):
    faces.create_collection(CollectionId="c")
    for path in labelled["bernadette"]:
        faces.index_faces(CollectionId="c", Image=img_bytes(path), ExternalImageId="bernadette")
    seen, token, pages = [], None, 0
    while True:
        kw = {"NextToken": token} if token else {}
        page = faces.list_faces(CollectionId="c", MaxResults=2, **kw)
        seen += [f["FaceId"] for f in page["Faces"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert len(seen) == len(set(seen)) == len(labelled["bernadette"]) and pages == 3
    with pytest.raises(InvalidParameter):
        faces.list_faces(CollectionId="c", NextToken="garbage!")
    people = faces.faces_by_external_id("c")
    assert list(people) == ["bernadette"] and len(people["bernadette"]) == 5


def test_detect_faces_all_attributes(faces, faces_dir):
    out = faces.detect_faces(Image=img_bytes(faces_dir / "emotions" / "happy.jpg"), Attributes=["ALL"])
    assert len(out["FaceDetails"]) == 1
    d = out["FaceDetails"][0]
    for key in (
        "BoundingBox",
        "Confidence",
        "Landmarks",
        "Pose",
        "Quality",
        "AgeRange",
        "Gender",
        "Smile",
        "EyesOpen",
        "MouthOpen",
        "Eyeglasses",
        "Sunglasses",
        "Beard",
        "Mustache",
        "Emotions",
        "FaceOccluded",
        "EyeDirection",
    ):
        assert key in d, key  # tests/faces/test_attributes.py checks each one's shape and accuracy
    assert d["Smile"]["Value"] is True and d["EyesOpen"]["Value"] is True
    assert d["AgeRange"]["Low"] <= d["AgeRange"]["High"]
    assert len(d["Landmarks"]) == 30 and all(0 <= lm["X"] <= 1 and 0 <= lm["Y"] <= 1 for lm in d["Landmarks"])
    default = faces.detect_faces(Image=img_bytes(faces_dir / "emotions" / "happy.jpg"))
    assert "AgeRange" not in default["FaceDetails"][0] and "Pose" in default["FaceDetails"][0]


def test_detect_faces_in_group_photos(faces, faces_dir):
    counts = {
        name: len(faces.detect_faces(Image=img_bytes(faces_dir / "groups" / name))["FaceDetails"])
        for name in ("bbt1.jpg", "bbt3.jpg")
    }
    assert counts == {"bbt1.jpg": 4, "bbt3.jpg": 5}


def test_expressions_from_geometry(faces, faces_dir):
    def detail(name):
        return faces.detect_faces(Image=img_bytes(faces_dir / "emotions" / name), Attributes=["ALL"])["FaceDetails"][0]

    assert detail("surprised.jpg")["MouthOpen"]["Value"] is True
    assert detail("angry.jpg")["MouthOpen"]["Value"] is False
    assert detail("neutral.jpg")["Smile"]["Value"] is False


def test_compare_faces(faces, labelled, faces_dir):
    out = faces.compare_faces(
        SourceImage=img_bytes(labelled["leonard"][0]), TargetImage=img_bytes(labelled["leonard"][3])
    )
    assert len(out["FaceMatches"]) == 1 and out["FaceMatches"][0]["Similarity"] >= 80
    other = faces.compare_faces(
        SourceImage=img_bytes(labelled["leonard"][0]), TargetImage=img_bytes(labelled["amy"][0])
    )
    assert other["FaceMatches"] == [] and len(other["UnmatchedFaces"]) == 1


def test_selfie_close_face_with_chin_and_forehead_cut_is_found_and_identified(faces, labelled):
    """HOG alone misses a face cut by the frame; the bordered retry finds it (engine.detect)."""
    import cv2

    from core.images.codec import decode_image

    from .conftest import encode

    faces.create_collection(CollectionId="tight")
    person, paths = next(iter(labelled.items()))
    faces.index_faces(CollectionId="tight", Image={"Bytes": paths[0].read_bytes()}, ExternalImageId=person)
    rgb = decode_image(paths[1].read_bytes()).rgb
    h, w = rgb.shape[:2]
    crop = rgb[int(0.18 * h) : int(0.82 * h), int(0.1 * w) : int(0.9 * w)]
    crop = cv2.resize(crop, None, fx=480 / crop.shape[0], fy=480 / crop.shape[0], interpolation=cv2.INTER_CUBIC)
    res = faces.search_faces_by_image(CollectionId="tight", Image={"Bytes": encode(crop)})
    assert res["FaceMatches"] and res["FaceMatches"][0]["Face"]["ExternalImageId"] == person
