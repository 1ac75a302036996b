"""Credentials out of text: the userinfo and query values of URLs, and `password=` settings.

One helper for every place text leaves the process: step failure messages (they become
Temporal history) and the worker's and wfctl's log records. Names are kept, values are
masked: `http://u:pw@h/p?token=t&q=1` reads `http://***@h/p?token=***&q=***`, enough to tell
which endpoint failed and too little to replay the call.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, parse_qsl, urlsplit

MASK = "***"
# A URL with a scheme, up to whitespace, a quote or a bracket that ends it in prose or logs.
_URL = re.compile(r"""[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>`]+""")
# A bare path with a query (an access log's "GET /hook?token=abc"), not part of a URL.
_PATH_QUERY = re.compile(r"""(?<![\w/:.])(/[^\s?#"'<>`]*)\?([^\s#"'<>`]+)""")
# libpq key/value settings ("host=db password=pw") and `password: pw` in messages.
_PASSWORD_SETTING = re.compile(
    r"""\b([\w.-]*(?:password|passwd|pwd))(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s&;,'"]+)""",
    re.IGNORECASE,
)


def _masked_pairs(text: str) -> str:
    """`a=1&b&c=` -> `a=***&***&c=`: every value masked, a bare token too, names kept."""
    pairs = []
    for part in text.split("&"):
        name, sep, value = part.partition("=")
        if not sep:
            pairs.append(MASK if name else "")
        else:
            pairs.append(f"{name}={MASK}" if value else f"{name}=")
    return "&".join(pairs)


def redact_url(url: str) -> str:
    """The URL without its userinfo and without the values of its query and fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    return SplitResult(
        parts.scheme,
        netloc,
        parts.path,
        _masked_pairs(parts.query) if parts.query else "",
        _masked_pairs(parts.fragment) if parts.fragment else "",
    ).geturl()


def redact_text(text: str) -> str:
    """Every URL, path query and password setting in free text, redacted."""
    if "://" in text:
        text = _URL.sub(lambda match: redact_url(match.group(0)), text)
    if "?" in text:
        text = _PATH_QUERY.sub(lambda m: f"{m.group(1)}?{_masked_pairs(m.group(2))}", text)
    return _PASSWORD_SETTING.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)


def url_secrets(url: str) -> list[str]:
    """What `redact_url` masks: the userinfo password and every query and fragment value."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return []
    values = [value for text in (parts.query, parts.fragment) for _, value in parse_qsl(text)]
    return [value for value in (password, *values) if value]


def dsn_has_password(dsn: str) -> bool:
    """A libpq connection string (URL or `key=value` form) that holds a password."""
    if "://" not in dsn:
        return _PASSWORD_SETTING.search(dsn) is not None
    try:
        parts = urlsplit(dsn)
        if parts.password:
            return True
    except ValueError:
        return False
    return any(
        name.lower() in ("password", "passwd") and value
        for name, value in parse_qsl(parts.query)
    )
