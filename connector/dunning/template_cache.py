"""The shipped templates' compiled code, kept on disk so a fresh worker does not compile them.

Compiling a Jinja template (lex, parse, generate Python, ``compile``) costs a new process about
15 ms per template, ≈ 55 ms for a reminder and its layout; loading the code kept by an earlier
process costs ≈ 0.5 ms. Only the shipped sandbox (code we wrote, the same for every shop) uses
this cache: owner templates are compiled in their own sandboxes and never stored.

A kept file is used only if everything that made it is unchanged: the template's source (Jinja
checks its checksum), Python and Jinja (Jinja's header, and Jinja's version in the key) and our
compiler settings (``fingerprint``: the sources of the modules that configure the sandbox, so an
edit to the typography extension or the code generator is a new key). The cache must never fail
a render: a file it cannot read or write is compiled again and the render goes on.
"""

from __future__ import annotations

import hashlib
import os
import stat
from contextlib import suppress
from pathlib import Path
from types import ModuleType

import jinja2
from jinja2.bccache import Bucket, FileSystemBytecodeCache


def fingerprint(*modules: ModuleType) -> str:
    """A digest of Jinja's version and the given modules' sources (what compiles templates)."""
    digest = hashlib.sha256(jinja2.__version__.encode())
    for module in modules:
        if module.__file__ is None:
            raise ValueError(f"{module.__name__} has no source file to fingerprint")
        digest.update(b"\0" + Path(module.__file__).read_bytes())
    return digest.hexdigest()


def _require_private(directory: Path) -> None:
    """The kept files are code run outside the sandbox: only from a folder this user owns and
    nobody else may write to or read (``mkdir`` leaves an existing folder as it was)."""
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise PermissionError(f"{directory} is not a folder")
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{directory} is not private to this user: no compiled templates")


class CompiledTemplates(FileSystemBytecodeCache):
    """Jinja's file cache, keyed also by the compiler's ``fingerprint``, in a private folder."""

    def __init__(self, directory: Path, fingerprint: str) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        _require_private(directory)
        super().__init__(str(directory), "%s.jinja")
        self.fingerprint = fingerprint

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        return hashlib.sha256(f"{self.fingerprint}|{name}|{filename}".encode()).hexdigest()

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # a truncated or foreign file: compile instead
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        with suppress(OSError):  # folder gone or full: the next process compiles again
            super().dump_bytecode(bucket)
