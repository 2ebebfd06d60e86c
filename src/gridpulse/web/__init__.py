"""The dashboard: an HTML shell and its static JS/CSS (uPlot vendored), served at `/` by the API app.

The pages read the same `/api/v1/...` routes any client reads, with the bearer token the user
gives when the server has tokens configured; nothing here touches the store.
"""

from __future__ import annotations

from gridpulse.web.mount import STATIC_DIR, install_dashboard

__all__ = ["STATIC_DIR", "install_dashboard"]
