"""Domain results that storage turns precise database errors into.

StorageError
├── AlreadyExists   a unique constraint refused the row (SQLSTATE 23505)
└── NotFound        the row the caller named is not there
"""


class StorageError(Exception):
    """Base of the storage layer's own errors."""


class AlreadyExists(StorageError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} already exists")
        self.what = what


class NotFound(StorageError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what
