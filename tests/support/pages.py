"""Reading pages as a browser without JavaScript: the CSRF token a form carries."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(client: TestClient, page: str = "/account") -> str:
    """The CSRF token of the logged-in browser, read from a page's form."""
    found = _CSRF.search(client.get(page).text)
    assert found, f"no CSRF token on {page}"
    return found.group(1)
