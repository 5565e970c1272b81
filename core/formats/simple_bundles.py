"""Minimal Bundle implementations for tests and scripts (the importer builds its own, safety-checked ones)."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import BinaryIO


class DictBundle:
    """Members held in memory: {name: bytes}."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def names(self) -> list[str]:
        return sorted(self.files)

    def open(self, name: str) -> BinaryIO:
        return io.BytesIO(self.files[name])

    def size(self, name: str) -> int:
        return len(self.files[name])


class DirBundle:
    """Every file under a folder (or one file), names relative to the folder with "/"."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        root = Path(root)
        if root.is_file():
            self.root, self._names = root.parent, [root.name]
        else:
            self.root = root
            self._names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())

    def names(self) -> list[str]:
        return list(self._names)

    def open(self, name: str) -> BinaryIO:
        return open(self.root / name, "rb")  # noqa: SIM115

    def size(self, name: str) -> int:
        return (self.root / name).stat().st_size


class ZipBundle:
    """The files of a zip archive (directory entries left out)."""

    def __init__(self, path: str | os.PathLike[str] | BinaryIO) -> None:
        self.zf = zipfile.ZipFile(path)

    def names(self) -> list[str]:
        return sorted(i.filename for i in self.zf.infolist() if not i.is_dir())

    def open(self, name: str) -> BinaryIO:
        return self.zf.open(name)  # type: ignore[return-value]

    def size(self, name: str) -> int:
        return self.zf.getinfo(name).file_size
