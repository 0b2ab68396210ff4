"""Secrets in text meant for people: database connection strings without their passwords."""

from __future__ import annotations

import re

__all__ = ["REDACTED", "redact_dsn"]

REDACTED = "***"
"""What a password is replaced with."""

_KEYWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)")
_QUERY = re.compile(r"([?&]password=)[^&]*")
_USERINFO = re.compile(r"(://[^:/@]*):[^@/]*@")


def redact_dsn(dsn: str) -> str:
    """``dsn`` with every password replaced by ``***``: the URI form's ``user:password@`` (the
    user may be empty) and ``?password=``, and the keyword form's ``password=``, quoted (with
    spaces) or not."""
    dsn = _KEYWORD.sub(rf"\1{REDACTED}", dsn)
    dsn = _QUERY.sub(rf"\1{REDACTED}", dsn)
    return _USERINFO.sub(rf"\1:{REDACTED}@", dsn)
