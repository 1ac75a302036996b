"""Log records lose URL credentials and query values, and stay formattable as their loggers
expect (httpx passes a URL object, uvicorn's access formatter unpacks a 5-tuple of args)."""

from __future__ import annotations

import logging

import httpx

from wfctl.log_redaction import redact_record

SECRET = "s3cr3t-4711"


def record(msg: object, *args: object, exc_info: object = None) -> logging.LogRecord:
    made = logging.LogRecord("t", logging.INFO, __file__, 1, msg, args, exc_info)  # type: ignore[arg-type]
    redact_record(made)
    return made


def formatted(made: logging.LogRecord) -> str:
    return logging.Formatter("%(message)s").format(made)


def test_httpx_request_line() -> None:
    url = httpx.URL(f"http://user:{SECRET}@127.0.0.1:8/deploy?token={SECRET}&page=2")
    made = record('HTTP Request: %s %s "%s %d %s"', "POST", url, "HTTP/1.1", 403, "Forbidden")
    assert formatted(made) == (
        'HTTP Request: POST http://***@127.0.0.1:8/deploy?token=***&page=*** '
        '"HTTP/1.1 403 Forbidden"'
    )


def test_access_log_args_keep_their_shape() -> None:
    path = f"/hook?sig={SECRET}"
    made = record('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", path, "1.1", 200)
    assert made.args == ("127.0.0.1:5", "GET", "/hook?sig=***", "1.1", 200)


def test_mapping_args_and_plain_messages() -> None:
    assert formatted(record("%(url)s", {"url": f"https://h/p?k={SECRET}"})) == "https://h/p?k=***"
    assert formatted(record(f"connect host=db password={SECRET}")) == (
        "connect host=db password=***"
    )
    assert formatted(record("nothing to hide: %s %r", "a", 1)) == "nothing to hide: a 1"


def test_tracebacks_are_redacted() -> None:
    try:
        raise RuntimeError(f"cannot reach https://u:{SECRET}@h/x")
    except RuntimeError as exc:
        made = record("failed", exc_info=(type(exc), exc, exc.__traceback__))
    text = formatted(made)
    assert SECRET not in text and "cannot reach https://***@h/x" in text
