"""A faithful local Exact Online: OAuth, REST/OData, sync and bulk APIs, and the 2021 limits."""

from __future__ import annotations
