"""User-facing failures. The CLI turns each into one line and exit code 2 (bad input)."""
from __future__ import annotations


class EvalkitError(Exception):
    """A failure the user can fix; str() is the one line the CLI prints."""

    exit_code = 2


class InputError(EvalkitError):
    """Malformed input: names the file, the line (when known) and the field."""

    def __init__(self, path: str | None, message: str, line: int | None = None, field: str | None = None):
        self.path, self.line, self.field, self.message = path, line, field, message
        where = str(path) if path else ""
        if where and line is not None:
            where += f":{line}"
        parts = [p for p in (where, f"field '{field}'" if field else "", message) if p]
        super().__init__(": ".join(parts))


class SuiteError(InputError):
    """A suite YAML (or the cases file it names) does not follow the suite format."""


class ConfigError(EvalkitError):
    """A variant cannot be run as configured (missing API key, unknown provider, missing extra)."""


class ProviderError(Exception):
    """A provider call failed for good (after the client's own retries); becomes an `error` verdict.
    `raw` is what the provider answered, when it answered something (kept in results.jsonl)."""

    def __init__(self, message: str, raw: object = None):
        super().__init__(message)
        self.raw = raw


class IncompleteRun(EvalkitError):
    """A result could not be scored or written: the run stops with what it recorded (resumable)."""

    exit_code = 4
