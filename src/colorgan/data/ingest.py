"""Ingest: every source file becomes one row of the manifest (accepted) or of rejected.csv.

Accepted photos are copied into the output folder under their content hash, so the DVC
output is self-contained; the train/val/test split is a pure function of that hash.
"""

from __future__ import annotations

import glob
import hashlib
import tarfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd

from colorgan.color import colorfulness
from colorgan.config import ALL_FILES, SAMPLE_FOLDER, DataParams, SplitParams
from colorgan.errors import ColorganError
from colorgan.data.images import UnusableImage, load_rgb, open_image
from colorgan.data.parallel import bounded_map

MANIFEST_COLUMNS = [
    "hash",
    "file",
    "source",
    "width",
    "height",
    "mode",
    "format",
    "colorfulness",
    "split",
]
REJECTED_COLUMNS = ["source", "reason"]
SPLITS = ("train", "val", "test")
EXIF_ORIENTATION = 0x0112
ROTATED_90 = {5, 6, 7, 8}  # EXIF orientations that swap width and height
# Colourfulness is judged on a thumbnail: the statistic barely moves, the decode is much cheaper.
THUMBNAIL_SIDE = 256


class IngestError(ColorganError):
    """The source as a whole cannot be ingested (nothing usable, or an empty split)."""


@dataclass(frozen=True)
class SourceFile:
    label: str  # what a person recognises: a path, or archive.zip:member
    read: Callable[[], bytes]


def _file(path: Path) -> SourceFile:
    return SourceFile(str(path), path.read_bytes)


def _archive_files(path: Path) -> Iterator[SourceFile]:
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for info in sorted(archive.infolist(), key=lambda i: i.filename):
                if not info.is_dir():
                    yield SourceFile(f"{path}:{info.filename}", lambda i=info: archive.read(i))
        return
    with tarfile.open(path) as archive:
        for member in sorted(archive.getmembers(), key=lambda m: m.name):
            if member.isfile():
                yield SourceFile(
                    f"{path}:{member.name}", lambda m=member: archive.extractfile(m).read()
                )


def _is_archive(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz"))


def _is_list(include: str) -> bool:
    return include.lower().endswith(".txt") and not glob.has_magic(include)


def _listed_files(folder: Path, listing: Path) -> Iterator[SourceFile]:
    """The files a .txt list names, one per line, relative to ``folder``; # starts a comment."""
    for raw_line in listing.read_text().splitlines():
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        listed = folder / line
        if Path(line).is_absolute() or ".." in Path(line).parts:
            # Outside the folder DVC hashes, the photo could change without a rerun.
            yield SourceFile(str(listed), partial(_outside, folder))
        else:
            yield SourceFile(str(listed), listed.read_bytes)


def _outside(folder: Path) -> bytes:
    raise OSError(f"outside data.source {folder}, so DVC would not see it change")


def _folder_files(folder: Path, include: str) -> Iterator[SourceFile]:
    if _is_list(include):
        if not (folder / include).is_file():
            raise IngestError(f"data.include={include!r}: no such list in {folder}")
        yield from _listed_files(folder, folder / include)
        return
    # glob.glob, not Path.glob: it skips dot-files and dot-folders (.DS_Store, .git).
    matches = sorted(glob.glob(include, root_dir=folder, recursive=True))  # noqa: PTH207
    yield from (_file(folder / name) for name in matches if (folder / name).is_file())


def iter_source(source: str, include: str = ALL_FILES, base: Path = Path()) -> Iterator[SourceFile]:
    """Every file that ``data.source`` and ``data.include`` name, in a stable order."""
    path = Path(source) if Path(source).is_absolute() else base / source
    if path.is_dir():
        yield from _folder_files(path, include)
        return
    if include != ALL_FILES:
        raise IngestError(
            f"data.include={include!r} selects files of a folder, but data.source={source!r} "
            "is a file; an archive is read whole (set data.include back to '**/*')"
        )
    if path.is_file() and _is_archive(path):
        yield from _archive_files(path)
    elif path.is_file():
        yield _file(path)
    else:
        raise IngestError(
            f"data.source={source!r}: no such file or folder (expected a folder, e.g. "
            f"{SAMPLE_FOLDER} after the sample stage, or a .zip/.tar archive)"
        )


def assign_split(content_hash: str, ratios: SplitParams) -> str:
    """A pure function of the hash: adding photos never moves an existing one."""
    position = int(content_hash[:15], 16) / 16**15  # uniform in [0, 1)
    if position < ratios.train:
        return "train"
    if position < ratios.train + ratios.val:
        return "val"
    return "test"


def _inspect_item(item: tuple[str, str, bytes], params: DataParams) -> dict[str, object]:
    return inspect_image(item[2], params)


def inspect_image(data: bytes, params: DataParams) -> dict[str, object]:
    """Header facts and colourfulness of one file; raises UnusableImage with the reason."""
    with open_image(data, params.max_pixels) as image:
        width, height = image.size
        if image.getexif().get(EXIF_ORIENTATION, 1) in ROTATED_90:
            width, height = height, width  # as displayed, which is how it will be used
        facts: dict[str, object] = {
            "width": width,
            "height": height,
            "mode": image.mode,
            "format": image.format,
        }
    if min(width, height) < params.min_side:
        raise UnusableImage(
            f"too small: {width}x{height}, shorter side under data.min_side={params.min_side}"
        )
    thumbnail = load_rgb(data, params.max_pixels, min_decoded_side=THUMBNAIL_SIDE)
    step = max(1, min(thumbnail.shape[:2]) // THUMBNAIL_SIDE)
    score = colorfulness(thumbnail[::step, ::step])
    if score < params.min_colorfulness:
        raise UnusableImage(
            f"already grayscale: colourfulness {score:.1f} < data.min_colorfulness="
            f"{params.min_colorfulness}"
        )
    facts["colorfulness"] = round(score, 2)
    return facts


@dataclass
class IngestResult:
    manifest: pd.DataFrame
    rejected: pd.DataFrame

    def summary(self) -> dict[str, object]:
        reasons = self.rejected["reason"].str.split(":").str[0] if len(self.rejected) else []
        return {
            "accepted": len(self.manifest),
            "rejected": len(self.rejected),
            "per_split": {s: int((self.manifest["split"] == s).sum()) for s in SPLITS},
            "per_format": self.manifest["format"].value_counts().sort_index().to_dict(),
            "per_reason": pd.Series(reasons, dtype=str).value_counts().sort_index().to_dict(),
        }


def _read(
    files: Iterable[SourceFile], rejected: list[dict[str, str]]
) -> Iterator[tuple[str, str, bytes]]:
    """(label, hash, bytes) of each readable file; unreadable ones go to ``rejected``."""
    for source_file in files:
        try:
            data = source_file.read()
        except OSError as error:
            rejected.append({"source": source_file.label, "reason": f"unreadable: {error}"})
            continue
        yield source_file.label, hashlib.sha256(data).hexdigest(), data


def ingest(
    files: Iterable[SourceFile],
    params: DataParams,
    image_dir: Path,
    workers: int = 1,
    dask_address: str | None = None,
) -> IngestResult:
    """Validate, deduplicate and split; copy accepted files to ``image_dir/<hash>.<format>``.

    Files are read and hashed here, in order; decoding checks run in ``workers`` processes
    (0 = all cores), or on the Dask cluster at ``dask_address``, with only a few files in
    flight, so memory does not grow with the source. Results come back in order: the
    output is the same wherever the checks ran.
    """
    image_dir.mkdir(parents=True, exist_ok=True)
    accepted: list[dict[str, object]] = []
    rejected: list[dict[str, str]] = []
    first_source: dict[str, str] = {}

    def unique(readable: Iterator[tuple[str, str, bytes]]) -> Iterator[tuple[str, str, bytes]]:
        for label, content_hash, data in readable:
            if content_hash in first_source:
                reason = f"duplicate: same content as {first_source[content_hash]}"
                rejected.append({"source": label, "reason": reason})
                continue
            first_source[content_hash] = label
            yield label, content_hash, data

    check = partial(_inspect_item, params=params)
    for (label, content_hash, data), facts in bounded_map(
        check, unique(_read(files, rejected)), workers, address=dask_address
    ):
        if isinstance(facts, BaseException):
            reason = str(facts) if isinstance(facts, UnusableImage) else f"failed: {facts!r}"
            rejected.append({"source": label, "reason": reason})
            continue
        file_name = f"{content_hash}.{str(facts['format']).lower()}"
        (image_dir / file_name).write_bytes(data)
        accepted.append(
            {
                "hash": content_hash,
                "file": file_name,
                "source": label,
                **facts,
                "split": assign_split(content_hash, params.split),
            }
        )
    manifest = pd.DataFrame(accepted, columns=MANIFEST_COLUMNS)
    return IngestResult(manifest, pd.DataFrame(rejected, columns=REJECTED_COLUMNS))


def check_usable(result: IngestResult, ratios: SplitParams) -> None:
    """Stop the run when training could not start: no usable photo, or an empty split."""
    if result.manifest.empty:
        raise IngestError(
            f"no usable image in data.source ({len(result.rejected)} file(s) rejected; "
            "see rejected.csv for the reasons)"
        )
    counts = result.summary()["per_split"]
    empty = [split for split, count in counts.items() if count == 0]
    if empty:
        raise IngestError(
            f"split(s) {empty} got no photo: {len(result.manifest)} photo(s) with ratios "
            f"{ratios.model_dump()}; add photos or change data.split"
        )
