"""The error speechlib raises for bad input on disk (its own module, so every other module can use it)."""


class DataError(ValueError):
    """A problem with the data on disk. The message names the file and what is wrong."""
