"""Every rule of the sandbox as a setting, with the defaults of Exact Online (API.md, DESIGN.md)."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class SandboxSettings:
    """Limits and behaviours; all durations are in simulated seconds (see ``SandboxClock``)."""

    access_token_lifetime: int = 600
    min_refresh_interval: int = 570
    refresh_token_idle_lifetime: int = 30 * 86400
    code_lifetime: int = 180
    token_calls_per_day: int = 200
    minutely_limit: int = 60
    daily_limit: int = 5000
    error_limit: int = 10
    error_statuses: tuple[int, ...] = (400, 401, 403, 404)
    error_block_status: int = 429
    rejected_calls_count: bool = False
    mandatory_filtering: bool = True
    regular_page_size: int = 60
    bulk_page_size: int = 1000
    max_url_length: int = 6000

    @classmethod
    def names(cls) -> list[str]:
        """The names of all settings."""
        return [f.name for f in fields(cls)]

    def update(self, values: dict[str, object]) -> None:
        """Sets the given settings; ValueError names an unknown one."""
        known = set(self.names())
        for name, value in values.items():
            if name not in known:
                raise ValueError(f"unknown setting {name!r}; known: {', '.join(sorted(known))}")
            if name == "error_statuses" and isinstance(value, list):
                value = tuple(value)
            setattr(self, name, value)
