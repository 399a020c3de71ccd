"""Browser-facing security headers, set once for every response (by ``kit.edge``).

No inline script anywhere (handlers live in /static), no framing (the consent pages must not
be clickjacked), no Referer (invitation and verification tokens live in URLs), and nothing an
authenticated answer carries is kept by a cache. HSTS only in production, where TLS is certain.
"""

from __future__ import annotations

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)
# The interactive API docs load Swagger UI from its CDN; still no inline script.
DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS_CSP = "; ".join(
    [
        "default-src 'self'",
        f"script-src 'self' {DOCS_CDN}",
        f"style-src 'self' {DOCS_CDN}",
        "img-src 'self' data: https://fastapi.tiangolo.com",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)
HSTS = "max-age=63072000; includeSubDomains"
DOCS_PATH = "/api/docs"


def security_headers(path: str, *, production: bool) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": DOCS_CSP if path == DOCS_PATH else CSP,
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    # Static assets are the same for everyone and may be cached; everything else is either
    # an API answer or a page that can show a signed-in user's data.
    if not path.startswith("/static/"):
        headers["Cache-Control"] = "no-store"
    if production:
        headers["Strict-Transport-Security"] = HSTS
    return headers
