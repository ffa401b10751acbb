"""``python -m core faces ...``: Rekognition-shaped operations on the configured world."""

from __future__ import annotations

from pathlib import Path

from core.errors import InvalidImageFormat, InvalidParameter


def _services():
    from core.bootstrap import build_services

    return build_services()


def _read_image(path: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise InvalidParameter(f"no such image file: {path}")
    try:
        size = p.stat().st_size
        if size > 64 * 1024 * 1024:  # never read a huge file into memory to reject it later
            from core.errors import ImageTooLarge

            raise ImageTooLarge(f"{path} is {size} bytes; the limit is 5242880 bytes")
        return {"Bytes": p.read_bytes()}
    except OSError as exc:
        raise InvalidImageFormat(f"cannot read {path}: {exc.strerror}") from None


_COLLECTION_HELP = "collection id (default: the one the app and the Web API use; see current-collection)"


def _current(args) -> dict:
    """Which collection the app, the Web API and these commands use, and where that comes from."""
    import os

    from core.config import _read_user_settings, current_collection, env_name, load_settings

    settings = load_settings()
    used = current_collection(settings)
    if env_name("collection") in os.environ:
        source = "FACEGATE_COLLECTION (environment)"
    elif "collection" in _read_user_settings(settings.data_dir):
        source = "settings.json (Settings page / faces use-collection)"
    else:
        source = "default or .streamlit/secrets.toml"
    known = _services().faces.list_collections().get("CollectionIds", [])
    return {"collection": used, "source": source, "exists": used in known, "collections": known}


def _use(args) -> dict:
    """Make ``args.collection`` the one the app, the Web API and the CLI use (settings.json)."""
    import os

    from core.access.sessions import operator
    from core.config import env_name, load_settings, save_user_settings
    from core.errors import CollectionNotFound, ConfigError

    settings = load_settings()
    if env_name("collection") in os.environ:
        raise ConfigError(
            f"FACEGATE_COLLECTION={os.environ[env_name('collection')]!r} is set in the environment and overrides this "
            "choice: unset it (or set it to the collection you want)"
        )
    faces = _services().faces
    known = faces.list_collections().get("CollectionIds", [])
    if args.collection not in known:
        if not args.create:
            raise CollectionNotFound(
                f"no collection {args.collection!r} (there are: {', '.join(known) or 'none'}); "
                "add --create to make it, or: aws rekognition create-collection --collection-id " + args.collection
            )
        faces.create_collection(CollectionId=args.collection)
    with operator(settings, "faces use-collection"):
        save_user_settings(settings, {"collection": args.collection})
    return {"collection": args.collection, "note": "the app, the Web API and `python -m core faces` now use it"}


def _with_default(func):
    def run(args):
        if getattr(args, "collection", "unset") is None:
            from core.config import current_collection, load_settings

            args.collection = current_collection(load_settings())
        return func(args)

    return run


def add_parser(sub) -> None:
    faces = sub.add_parser("faces", help="face collections (Rekognition-shaped JSON)")
    cmds = faces.add_subparsers(dest="command", required=True)

    p = cmds.add_parser("current-collection", help="the collection the app, the Web API and these commands use")
    p.set_defaults(func=_current)

    p = cmds.add_parser(
        "use-collection", help="make COLLECTION the one the app, the Web API and these commands use (e.g. the course's)"
    )
    p.add_argument("collection")
    p.add_argument("--create", action="store_true", help="create it when it does not exist")
    p.set_defaults(func=_use)

    p = cmds.add_parser("create-collection", help="CreateCollection")
    p.add_argument("collection")
    p.set_defaults(func=lambda a: _services().faces.create_collection(CollectionId=a.collection))

    p = cmds.add_parser("delete-collection", help="DeleteCollection")
    p.add_argument("collection")
    p.set_defaults(func=lambda a: _services().faces.delete_collection(CollectionId=a.collection))

    p = cmds.add_parser("list-collections", help="ListCollections")
    p.set_defaults(func=lambda a: _services().faces.list_collections())

    p = cmds.add_parser("describe-collection", help="DescribeCollection")
    p.add_argument("collection")
    p.set_defaults(func=lambda a: _services().faces.describe_collection(CollectionId=a.collection))

    p = cmds.add_parser("index", help="IndexFaces: enrol the faces of IMAGE as EXTERNAL_ID")
    p.add_argument("--collection", default=None, help=_COLLECTION_HELP)
    p.add_argument("--external-id", required=True)
    p.add_argument("--max-faces", type=int, default=1)
    p.add_argument("--quality-filter", default="AUTO", choices=["NONE", "AUTO", "LOW", "MEDIUM", "HIGH"])
    p.add_argument("image")
    p.set_defaults(
        func=lambda a: _services().faces.index_faces(
            CollectionId=a.collection,
            Image=_read_image(a.image),
            ExternalImageId=a.external_id,
            MaxFaces=a.max_faces,
            QualityFilter=a.quality_filter,
            DetectionAttributes=["ALL"],
        )
    )

    p = cmds.add_parser("search", help="SearchFacesByImage (the largest face in IMAGE)")
    p.add_argument("--collection", default=None, help=_COLLECTION_HELP)
    p.add_argument("--threshold", type=float, default=80.0)
    p.add_argument("--max-faces", type=int, default=10)
    p.add_argument("image")
    p.set_defaults(
        func=lambda a: _services().faces.search_faces_by_image(
            CollectionId=a.collection, Image=_read_image(a.image), MaxFaces=a.max_faces, FaceMatchThreshold=a.threshold
        )
    )

    p = cmds.add_parser("search-face", help="SearchFaces (by FaceId)")
    p.add_argument("--collection", default=None, help=_COLLECTION_HELP)
    p.add_argument("--threshold", type=float, default=80.0)
    p.add_argument("--max-faces", type=int, default=10)
    p.add_argument("face_id")
    p.set_defaults(
        func=lambda a: _services().faces.search_faces(
            CollectionId=a.collection, FaceId=a.face_id, MaxFaces=a.max_faces, FaceMatchThreshold=a.threshold
        )
    )

    p = cmds.add_parser("detect", help="DetectFaces with every attribute")
    p.add_argument("--attributes", default="ALL", choices=["ALL", "DEFAULT"])
    p.add_argument("image")
    p.set_defaults(func=lambda a: _services().faces.detect_faces(Image=_read_image(a.image), Attributes=[a.attributes]))

    p = cmds.add_parser("compare", help="CompareFaces: the largest face of SOURCE against every face of TARGET")
    p.add_argument("--threshold", type=float, default=80.0)
    p.add_argument("source")
    p.add_argument("target")
    p.set_defaults(
        func=lambda a: _services().faces.compare_faces(
            SourceImage=_read_image(a.source), TargetImage=_read_image(a.target), SimilarityThreshold=a.threshold
        )
    )

    p = cmds.add_parser("list", help="ListFaces (every page)")
    p.add_argument("--collection", default=None, help=_COLLECTION_HELP)
    p.set_defaults(func=_list_all)

    p = cmds.add_parser("delete", help="DeleteFaces")
    p.add_argument("--collection", default=None, help=_COLLECTION_HELP)
    p.add_argument("face_ids", nargs="+")
    p.set_defaults(func=lambda a: _services().faces.delete_faces(CollectionId=a.collection, FaceIds=a.face_ids))

    for parser in cmds.choices.values():  # --collection defaults to the collection in use
        if any(action.dest == "collection" and action.option_strings for action in parser._actions):
            parser.set_defaults(func=_with_default(parser.get_default("func")))


def _list_all(a):
    faces = _services().faces
    out: dict[str, list] = {"Faces": []}
    token = None
    while True:
        kwargs = {"CollectionId": a.collection, "MaxResults": 4096}
        if token:
            kwargs["NextToken"] = token
        page = faces.list_faces(**kwargs)
        out["Faces"].extend(page["Faces"])
        out["FaceModelVersion"] = page.get("FaceModelVersion")
        token = page.get("NextToken")
        if not token:
            return out
