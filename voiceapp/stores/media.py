"""Where recordings' audio lives: media files by name, behind one small interface.

:class:`MediaStore` is what the dialer (writing a recording) and the web API (serving
and deleting it) need; :class:`FolderMedia` keeps each file in a folder on disk (by
default ``recordings/`` of the instance folder).  An S3-compatible bucket would be one
more implementation of the same four methods.  A name is a recording sid plus an
extension (``RE0123….wav``); anything else is refused, so a name never leaves the folder.
"""

from __future__ import annotations

import abc
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from voiceapp.errors import StoreError

_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,64}\.wav")


def check_name(name: str) -> str:
    """``name`` when it is a media file name (``<sid>.wav``); ``ValueError`` otherwise."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"a media name is <sid>.wav, not {name!r}")
    return name


class MediaStore(abc.ABC):
    """Media files by name: written once, read whole, deleted."""

    @abc.abstractmethod
    def put(self, name: str, data: bytes | Iterable[bytes]) -> None:
        """Store ``data`` as ``name`` (whole, or not at all): bytes, or its pieces in
        order (a long recording, made a second at a time)."""

    @abc.abstractmethod
    def get(self, name: str) -> bytes | None:
        """The file ``name``; None when there is none."""

    @abc.abstractmethod
    def delete(self, name: str) -> bool:
        """Remove ``name``; False when there was none."""

    @abc.abstractmethod
    def exists(self, name: str) -> bool:
        """Whether ``name`` is stored."""


class FolderMedia(MediaStore):
    """Media files in ``folder`` (created on the first write)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    @classmethod
    def under(cls, instance: str) -> FolderMedia:
        """The recordings folder of the instance folder ``instance`` (empty: ``instance/``
        of the current folder, as the web app's)."""
        return cls(Path(os.path.abspath(instance or "instance")) / "recordings")

    def __repr__(self) -> str:
        return f"FolderMedia({str(self.folder)!r})"

    def _path(self, name: str) -> Path:
        return self.folder / check_name(name)

    def put(self, name: str, data: bytes | Iterable[bytes]) -> None:
        path = self._path(name)
        temp = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            # written beside, then renamed: a reader never sees half a file
            fd, temp = tempfile.mkstemp(dir=self.folder, prefix=".part-")
            with os.fdopen(fd, "wb") as out:
                for piece in [data] if isinstance(data, bytes) else data:
                    out.write(piece)
            os.replace(temp, path)
        except OSError as exc:
            raise StoreError(
                f"cannot write recording {name}: {exc.strerror}", code="media-unavailable"
            ) from exc
        finally:  # a failed write (the disk, or making the pieces) leaves no part behind
            if temp is not None and os.path.exists(temp):
                os.unlink(temp)

    def get(self, name: str) -> bytes | None:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, name: str) -> bool:
        try:
            self._path(name).unlink()
        except FileNotFoundError:
            return False
        return True

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()
