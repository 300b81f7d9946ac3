"""Files that belong to database rows: stored with the row, removed again when the row or its commit fails.

Used as `with stored_files() as files, transaction.atomic(): ...`: the transaction sits inside the block,
so an exception from a save, a constraint, or the COMMIT itself reaches stored_files, which deletes every
file the block wrote. (Nested in a caller's transaction, a later failure of that caller's commit is the
caller's to handle: the block cannot see it.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db.models.fields.files import FieldFile


class StoredFiles:
    """The files written so far inside one stored_files() block."""

    def __init__(self) -> None:
        self.written: list[tuple[Storage, str]] = []

    def save(self, field_file: FieldFile, name: str, content: bytes) -> str:
        """Write `content` to the field's storage (the row is not saved); the stored name."""
        field_file.save(name, ContentFile(content), save=False)
        self.written.append((field_file.storage, field_file.name))
        return field_file.name

    def delete_all(self) -> None:
        """Remove every file written (the rows that would have named them do not exist)."""
        for storage, name in self.written:
            storage.delete(name)


@contextmanager
def stored_files() -> Iterator[StoredFiles]:
    """Yield a StoredFiles; if the block raises, every file it wrote is deleted and the error goes on."""
    files = StoredFiles()
    try:
        yield files
    except BaseException:
        files.delete_all()
        raise
