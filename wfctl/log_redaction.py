"""No credential in a log line: every log record is redacted as it is made.

httpx logs `HTTP Request: POST http://user:pw@host/path?token=...`, botocore and urllib3 log
the URLs they call, uvicorn the paths with queries it serves. The redaction runs in the
record factory, not on one handler, so it covers every logger and every handler, including
those a library configures after us (uvicorn's own).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from engine.redaction import redact_text

_installed = False


def _redacted_arg(value: Any) -> Any:
    if value is None or isinstance(value, int | float):
        return value
    text = str(value)
    redacted = redact_text(text)
    # Unchanged values keep their type, so `%d`, `%r` and formatters that unpack args work.
    return value if redacted == text else redacted


def redact_record(record: logging.LogRecord) -> None:
    """Redact the record in place: its data (args, or a message without args) and traceback."""
    if record.args:
        # The format string is the program's; the data is in the args.
        if isinstance(record.args, Mapping):
            record.args = {key: _redacted_arg(value) for key, value in record.args.items()}
        else:
            record.args = tuple(_redacted_arg(value) for value in record.args)
    else:
        record.msg = _redacted_arg(record.msg)
    if record.exc_info and not record.exc_text:
        # Formatters reuse exc_text when it is set, so the traceback is printed redacted.
        record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = redact_text(record.stack_info)


def install_log_redaction() -> None:
    """Redact every log record this process makes from now on (once per process)."""
    global _installed
    if _installed:
        return
    make_record: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

    def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        redact_record(record)
        return record

    logging.setLogRecordFactory(redacting_factory)
    _installed = True
