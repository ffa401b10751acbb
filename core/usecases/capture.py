"""The capture flow — the course's steps 2-4 in one call: store, identify, analyse, open, log.

``capture_photo`` stores the photo in ``settings.photos_bucket`` under the course key
``<stem>_<YYYYmmddHHMMSS>.jpg`` (UTC, as the course's Lambda clock), identifies the largest
face with SearchFacesByImage (the course's call, MaxFaces=10, the configured threshold) and
every other face by searching a crop around it, analyses all faces with DetectFaces ALL,
decides the (simulated) door by the largest face, publishes the auth / analysis / door-open
records through ``services.publisher`` and keeps a history record (``core.usecases.history``).

A video frame whose face is already located (``core.live``) goes through the same path in two
steps, so the name can be shown before the slower half runs: ``identify_face`` (the same
search, on a crop around that face) and ``record_face`` (DetectFaces on the face, then the
same storing, history and records as a photo whose deciding face it is).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from core.access.sessions import require_admin
from core.bootstrap.services import Services
from core.config import current_collection, records_zone, zone_info
from core.errors import CollectionNotFound, FaceGateError, NoFaceInImage
from core.events import records
from core.images.codec import decode_image, encode_jpeg, prepare_photo
from core.images.crop import box_to_frame, crop_region, detail_to_frame, face_crop
from core.storage.memory import release_freed_memory
from core.usecases.history import save_capture
from core.usecases.people import display_names, ensure_collection

SEARCH_MAX_FACES = 10  # the course's /search handler
MAX_FACES_SEARCHED = 10  # faces beyond the 10 largest are boxed and analysed, not searched

# Attributes shown on the result card, in order. Absent in a FaceDetail = the engine cannot
# tell (shown as "not available", never as "no").
ATTRIBUTES = (
    "AgeRange",
    "Gender",
    "Emotions",
    "Smile",
    "EyesOpen",
    "MouthOpen",
    "Eyeglasses",
    "Sunglasses",
    "Beard",
    "Mustache",
    "FaceOccluded",
    "EyeDirection",
)


@dataclass
class FaceResult:
    box: dict  # Rekognition BoundingBox (ratios of the photo)
    detail: dict  # the DetectFaces FaceDetail
    person: str | None = None  # best match's ExternalImageId at or above the threshold
    similarity: float | None = None
    face_id: str | None = None  # the enrolled face that matched
    matches: list[dict] = field(default_factory=list)  # FaceMatches as returned
    searched: bool = True  # False when the face could not be searched (too small, poor quality)
    largest: bool = False
    display_name: str | None = None  # the person's display name (core.usecases.people)

    @property
    def area(self) -> float:
        return self.box["Width"] * self.box["Height"]

    @property
    def name(self) -> str | None:
        """What to show for the matched person: the display name, else the id."""
        return self.display_name or self.person


@dataclass
class CaptureResult:
    capture_id: str  # the photo key's stem; also names the history record
    picture_name: str  # the photo's key in the photos bucket (the course's PictureName)
    when: datetime  # UTC
    device_id: str
    threshold: float
    width: int
    height: int
    faces: list[FaceResult]  # largest first
    door_opened: bool
    person: str | None  # who opened the door
    published: dict[str, int] = field(default_factory=dict)  # kind -> records accepted
    publish_error: FaceGateError | None = None  # records could not be handed to the publisher
    photo: bytes = field(default=b"", repr=False)  # the JPEG identified and stored (shrunk if it was large)

    @property
    def largest(self) -> FaceResult:
        return self.faces[0]

    @property
    def person_name(self) -> str | None:
        """The display name of who opened the door (``person`` is their id)."""
        return self.largest.name if self.door_opened else None


def photo_key(stem: str, when: datetime, zone: tzinfo | None = None) -> str:
    """The course's capture key ``<stem>_<YYYYmmddHHMMSS>.jpg`` in the device's local time
    (``zone``: ``FACEGATE_TIMEZONE``; UTC when not given), as the course's device names its
    uploads; ``stem`` is cleaned to [A-Za-z0-9_-]."""
    stem = re.sub(r"[^A-Za-z0-9_\-]", "", stem or "")[:64] or "image"
    return f"{stem}_{when.astimezone(zone or UTC).strftime('%Y%m%d%H%M%S')}.jpg"


def _unique_key(services: Services, stem: str, when: datetime) -> str:
    zone = zone_info(services.settings.timezone)
    key = photo_key(stem, when, zone)
    n = 2
    while services.objects.exists(services.settings.photos_bucket, key):
        key = photo_key(f"{stem}-{n}", when, zone)  # two captures in the same second keep both
        n += 1
    return key


def _iou(a: dict, b: dict) -> float:
    ax2, ay2 = a["Left"] + a["Width"], a["Top"] + a["Height"]
    bx2, by2 = b["Left"] + b["Width"], b["Top"] + b["Height"]
    iw = max(0.0, min(ax2, bx2) - max(a["Left"], b["Left"]))
    ih = max(0.0, min(ay2, by2) - max(a["Top"], b["Top"]))
    inter = iw * ih
    union = a["Width"] * a["Height"] + b["Width"] * b["Height"] - inter
    return inter / union if union > 0 else 0.0


class Still:
    """One image to capture: its pixels, and the JPEG stored as the course's photo (encoded
    on first use: a video frame that is only searched never needs it)."""

    def __init__(self, rgb: np.ndarray, jpeg: bytes | None = None, quality: int = 90):
        self.rgb = rgb  # HxWx3 uint8
        self._jpeg = jpeg
        self._quality = quality

    @classmethod
    def from_bytes(cls, image: bytes) -> Still:
        """An uploaded photo as identification takes it (``prepare_photo``: a JPEG that fits is
        kept byte for byte, anything else re-encoded). Raises InvalidImageFormat / ImageTooLarge."""
        photo, decoded = prepare_photo(image)
        return cls(decoded.rgb, photo)

    @property
    def jpeg(self) -> bytes:
        if self._jpeg is None:
            self._jpeg = encode_jpeg(self.rgb, quality=self._quality)
        return self._jpeg

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])


def _apply_matches(face: FaceResult, matches: list[dict]) -> None:
    face.matches = matches
    if matches:
        best = max(matches, key=lambda m: m["Similarity"])
        face.person = best["Face"].get("ExternalImageId") or None
        face.similarity = float(best["Similarity"])
        face.face_id = best["Face"]["FaceId"]


def identify_faces(
    services: Services, photo: bytes, rgb: np.ndarray, details: list[dict], threshold: float
) -> list[FaceResult]:
    """One FaceResult per FaceDetail, largest first, each searched against the collection.

    The largest face is searched in the whole photo (the course's call, through the Web API:
    the photo's one request against its quota); every other face in a crop around it, on the
    collection directly. Raises CollectionNotFound and service errors."""
    faces = sorted((FaceResult(box=d["BoundingBox"], detail=d) for d in details), key=lambda f: -f.area)
    faces[0].largest = True
    pending = list(faces[:MAX_FACES_SEARCHED])
    try:
        whole = _search(services, photo, threshold)  # the photo's one Web API request
    except NoFaceInImage:
        whole = None
    if whole is not None:
        target = max(pending, key=lambda f: _iou(f.box, whole["SearchedFaceBoundingBox"]))
        if _iou(target.box, whole["SearchedFaceBoundingBox"]) > 0.3:
            _apply_matches(target, whole.get("FaceMatches", []))
            pending.remove(target)
    for face in pending:
        try:
            crop = face_crop(rgb, face.box)
            _apply_matches(face, _search(services, crop, threshold, through_api=False).get("FaceMatches", []))
        except NoFaceInImage:
            face.searched = False
    for face in faces[MAX_FACES_SEARCHED:]:
        face.searched = False
    return faces


def _search(services: Services, image: bytes, threshold: float, *, through_api: bool = True) -> dict:
    """SearchFacesByImage as the course's ``/search`` answers it. Through the Web API client
    when ``through_api`` (in aws: the deployed API with its key; locally: in
    process), so the app and the course's scripts share one request/response path; else on the
    collection directly (see ``_analyze`` for why)."""
    if through_api:
        return services.api.search(image, threshold=threshold).payloads
    return services.faces.search_faces_by_image(
        CollectionId=current_collection(services.settings),  # the one the Web API searches
        Image={"Bytes": image},
        MaxFaces=SEARCH_MAX_FACES,
        FaceMatchThreshold=threshold,
    )


def _analyze(services: Services, photo: bytes) -> list[dict]:
    """DetectFaces ALL, as ``/analyze`` answers it (empty when no face), on the faces service
    directly: the one Web API request a photo spends is the course's ``/search`` that decides
    the door. The deployed API's usage plan allows 2,000 requests a month; one ``/analyze``
    plus a ``/search`` per face (up to 10) spent it in a few hundred photos (issue 14 §7).
    The answer is the same: the ``/analyze`` route is this same call."""
    return services.faces.detect_faces(Image={"Bytes": photo}, Attributes=["ALL"]).get("FaceDetails", [])


def closest_person(services: Services, photo: bytes, box: dict) -> tuple[str, float] | None:
    """The enrolled person most like the face in ``box`` of ``photo`` and the similarity, at
    any similarity (what an admin needs to judge a face below the threshold), or None when
    nobody is enrolled or the face cannot be searched. Admins only: it names people."""
    require_admin()
    rgb = decode_image(photo).rgb
    try:
        resp = services.faces.search_faces_by_image(
            CollectionId=services.settings.collection,
            Image={"Bytes": face_crop(rgb, box)},
            MaxFaces=1,
            FaceMatchThreshold=0,
        )
    except (NoFaceInImage, CollectionNotFound):
        return None
    matches = resp.get("FaceMatches", [])
    if not matches or not matches[0]["Face"].get("ExternalImageId"):
        return None
    return matches[0]["Face"]["ExternalImageId"], float(matches[0]["Similarity"])


def _publish(services: Services, result: CaptureResult) -> None:
    s = services.settings
    zone = records_zone(s)  # the course's zone-less stamps, read back in the same zone
    batches = [
        (
            "auth",
            records.auth_log_records(s.device_id, result.when, result.picture_name, result.largest.matches, zone),
        ),
        ("analysis", records.analysis_log_records(result.when, [f.detail for f in result.faces], zone)),
    ]
    if result.door_opened and result.person is not None:
        batches.append(("door", [records.door_open_record(s.device_id, result.when, result.person)]))
    try:
        for kind, recs in batches:
            for rec in recs:
                services.publisher.publish(kind, rec)
                result.published[kind] = result.published.get(kind, 0) + 1
    except FaceGateError as exc:
        # The capture and its history stay; the card says the logs did not go out.
        result.publish_error = exc


def capture_photo(
    services: Services, image: bytes, source_name: str = "image", when: datetime | None = None
) -> CaptureResult:
    """Store, identify, analyse and log one photo; return what happened.

    A large photo is shrunk first (``prepare_photo``). Raises InvalidImageFormat /
    ImageTooLarge for bad bytes and NoFaceInImage when no face is found (then nothing is
    stored or published). Publishing failures do not raise: they are in
    ``CaptureResult.publish_error``.
    """
    try:
        return capture_still(services, Still.from_bytes(image), source_name, when)
    finally:
        # A photo's buffers (decoded image, crops, the nets' activations) are freed now, but
        # glibc keeps freed heap for reuse: without this the app grew ~10 MB a photo until
        # ~670 MB; with it, it stays flat (bench/stack_memory.py). ~1 ms.
        release_freed_memory()


def capture_still(
    services: Services, still: Still, source_name: str = "image", when: datetime | None = None
) -> CaptureResult:
    """``capture_photo`` for an image already decoded (e.g. a video frame). Raises as it does."""
    when = (when or records.utc_now()).astimezone(UTC)
    details = _analyze(services, still.jpeg)
    if not details:
        raise NoFaceInImage("There are no faces in the image. Should be at least 1.")
    ensure_collection(services)
    faces = identify_faces(services, still.jpeg, still.rgb, details, services.settings.match_threshold)
    return _store_and_publish(services, still, faces, source_name, when)


# A face located by the live tracker is searched in a crop where it is this wide at most:
# enough for the descriptor (a 150 px chip), and the search-side detector's time grows with
# the crop's area.
LIVE_SEARCH_FACE_SIDE = 160
LIVE_CROP_MARGIN = 0.4  # less than a photo's 0.6: a neighbour's face should stay out of the crop


def identify_face(services: Services, still: Still, box: dict) -> FaceResult:
    """Search the face at ``box`` (a BoundingBox in ratios of ``still``) in the collection,
    through the same Web API call as a photo's faces. Returns a FaceResult (``person`` None
    when nobody matched at the configured threshold; ``detail`` empty until ``record_face``).
    Raises NoFaceInImage when the identification path finds no face there (or only another
    face), CollectionNotFound (the caller creates it once: not checked on every frame, where
    it would be one more Rekognition call) and service errors."""
    region = crop_region(still.rgb, box, LIVE_CROP_MARGIN)
    crop = face_crop(still.rgb, box, LIVE_CROP_MARGIN, max_side=LIVE_SEARCH_FACE_SIDE)
    answer = _search(services, crop, services.settings.match_threshold)
    searched = answer.get("SearchedFaceBoundingBox")
    found = box_to_frame(searched, region, still.width, still.height) if searched else box
    if searched and _iou(found, box) < 0.2:
        raise NoFaceInImage("the face searched near this box is another face")
    face = FaceResult(box=found, detail={}, largest=True)
    _apply_matches(face, answer.get("FaceMatches", []))
    return face


def record_face(
    services, still: Still, face: FaceResult, source_name: str = "live", when: datetime | None = None
) -> CaptureResult:
    """Write what a photo of this one face writes: analyse it (DetectFaces ALL on a crop, the
    details moved into the still's coordinates), store the still under the course's key, keep
    the history record and publish the auth / analysis / door-open records, the door decided by
    this face. Raises NoFaceInImage when the analysis finds no face there (nothing is written)."""
    when = (when or records.utc_now()).astimezone(UTC)
    region = crop_region(still.rgb, face.box, LIVE_CROP_MARGIN)
    crop = face_crop(still.rgb, face.box, LIVE_CROP_MARGIN, max_side=2 * LIVE_SEARCH_FACE_SIDE)
    details = [detail_to_frame(d, region, still.width, still.height) for d in _analyze(services, crop)]
    if not details:
        raise NoFaceInImage("There are no faces in the image. Should be at least 1.")
    face.detail = max(details, key=lambda d: _iou(d["BoundingBox"], face.box))
    face.largest = True
    return _store_and_publish(services, still, [face], source_name, when)


def _store_and_publish(services: Services, still: Still, faces: list[FaceResult], source_name: str, when: datetime):
    """Store the photo, keep the history record, publish the records (faces largest first,
    the first deciding the door)."""
    s = services.settings
    stem = source_name.rsplit(".", 1)[0] if source_name else "image"
    key = _unique_key(services, stem, when)
    services.objects.put_object(s.photos_bucket, key, still.jpeg, "image/jpeg")
    names = display_names(services, [f.person for f in faces])
    for face in faces:
        face.display_name = names.get(face.person) if face.person else None
    largest = faces[0]
    result = CaptureResult(
        capture_id=key[: -len(".jpg")],
        picture_name=key,
        when=when,
        device_id=s.device_id,
        threshold=s.match_threshold,
        width=still.width,
        height=still.height,
        faces=faces,
        door_opened=largest.person is not None,
        person=largest.person,
        photo=still.jpeg,
    )
    # The stored thumbnail carries numbers, not names: a rename would leave a stale name in it.
    save_capture(services, result, draw_faces(still.rgb, faces, max_side=320, names=False))
    _publish(services, result)
    return result


# --- drawing ------------------------------------------------------------------------------------
_OK, _UNKNOWN, _UNSEARCHED = (22, 163, 74), (220, 38, 38), (234, 179, 8)


# Fonts with Japanese glyphs where systems usually have one (Pillow's own font is Latin only).
_CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
    "/System/Library/Fonts/Hiragino Sans GB.ttc",
    "C:/Windows/Fonts/meiryo.ttc",
)


def _font(size: int, text: str = ""):
    """A font for ``text`` at ``size`` px, or None when no font here has its glyphs."""
    if not text.isascii():
        for path in _CJK_FONTS:
            try:
                return ImageFont.truetype(path, size)
            except OSError:
                continue
        return None
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed-size bitmap font
        return ImageFont.load_default()


def draw_faces(
    rgb: np.ndarray,
    faces: list[FaceResult],
    max_side: int | None = 1280,
    unknown_label: str = "?",
    names: bool = True,
) -> bytes:
    """JPEG of the photo with a box per face: green with the name when identified, red with
    ``unknown_label`` when not, yellow when the face could not be searched. Each label starts
    with the face's number (the cards below use it); without ``names``, or without a font for
    the name, the label is the number and the similarity only."""
    img = Image.fromarray(rgb)
    if max_side and max(img.size) > max_side:
        img.thumbnail((max_side, max_side))
    w, h = img.size
    draw = ImageDraw.Draw(img)
    line = max(2, int(min(w, h) / 160))
    size = max(12, int(min(w, h) / 22))
    for i, face in enumerate(faces, start=1):
        b = face.box
        x0, y0 = b["Left"] * w, b["Top"] * h
        x1, y1 = x0 + b["Width"] * w, y0 + b["Height"] * h
        colour = _OK if face.person else (_UNKNOWN if face.searched else _UNSEARCHED)
        draw.rectangle([x0, y0, x1, y1], outline=colour, width=line)
        who = (face.name if face.person else unknown_label) if names else ""
        sim = f" {face.similarity:.0f}%" if face.similarity is not None and face.person else ""
        label, font = f"{i} {who}".rstrip() + sim, _font(size, who or "")
        if font is None:
            label, font = f"{i}{sim}", _font(size)
        tx0, ty0, tx1, ty1 = draw.textbbox((0, 0), label, font=font)
        th, tw = ty1 - ty0 + 4, tx1 - tx0 + 6
        ty = y0 - th if y0 - th >= 0 else y1
        draw.rectangle([x0, ty, x0 + tw, ty + th], fill=colour)
        draw.text((x0 + 3, ty + 2 - ty0), label, fill=(255, 255, 255), font=font)
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def attribute_rows(detail: dict) -> list[tuple[str, object, float | None]]:
    """``(attribute, value, confidence)`` for the result card, in ATTRIBUTES order. ``value`` is
    None when the engine did not give the attribute (show "not available", never False);
    AgeRange is ``(low, high)``, Emotions the top emotion's Type, EyeDirection ``(yaw, pitch)``
    in degrees, flags are bools."""
    rows: list[tuple[str, object, float | None]] = []
    for name in ATTRIBUTES:
        v = detail.get(name)
        if v is None or (name == "Emotions" and not v):
            rows.append((name, None, None))
        elif name == "AgeRange":
            rows.append((name, (v.get("Low"), v.get("High")), None))
        elif name == "Emotions":
            top = max(v, key=lambda e: e.get("Confidence", 0))
            rows.append((name, top.get("Type"), top.get("Confidence")))
        elif name == "EyeDirection":
            rows.append((name, (v.get("Yaw"), v.get("Pitch")), v.get("Confidence")))
        else:
            rows.append((name, v.get("Value"), v.get("Confidence")))
    return rows
