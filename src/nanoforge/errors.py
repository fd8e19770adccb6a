"""The project's error types: each carries one line a user can act on."""


class NanoforgeError(Exception):
    """An expected failure (bad params, bad input, a crawl that cannot finish).

    Stages print its message as one line and exit non-zero; anything else is a bug
    and keeps its traceback.
    """


class ConfigError(NanoforgeError):
    """params.yaml has a wrong type, an unknown key or an impossible value."""


class DataError(NanoforgeError):
    """An input file is missing, unreadable or does not have the expected shape."""


class CrawlError(NanoforgeError):
    """A crawl cannot go on (an API error, retries exhausted, no credentials)."""
