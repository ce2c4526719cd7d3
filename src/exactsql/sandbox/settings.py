"""Every rule of the sandbox as a setting, with the defaults of Exact Online (API.md, sandbox-fidelity.md)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

#: Fixed-width text fields and their widths (left-aligned, padded with spaces): sandbox-fidelity.md §3.
CODE_WIDTHS: dict[str, int] = {
    "VATCode": 3,
    "SalesVATCode": 3,
    "SalesVatCode": 3,
    "PurchaseVATCode": 3,
    "ChargeVATCode": 3,
    "Language": 10,
    "SearchCode": 9,
    "State": 3,
    "Country": 3,
}

#: The values a text setting may take.
CHOICES: dict[str, tuple[str, ...]] = {
    "literal_error_form": ("wcf", "short"),
    "not_found_text": ("wcf", "sandbox"),
}


@dataclass
class SandboxSettings:
    """Limits and behaviours; all durations are in simulated seconds (see ``SandboxClock``).

    The fidelity settings (sandbox-fidelity.md) are the ones whose real behaviour is not fully confirmed:
    ``int64_as_string`` (§1), ``code_widths`` (§3), ``token_basic_auth`` (§5), ``literal_error_form`` (§9b),
    ``not_found_text`` (§9d), ``skip_refused`` (§11), ``json_escape_slash`` (§13), ``bare_array_for_top``
    (§14a) and ``data_service_version`` (§14f); ``validation_error_status`` is the status of a write Exact's
    business rules refuse (sandbox-writes.md). ``public_base_url`` makes the sandbox write its URLs
    (``__next``, ``__metadata``) with another base, as behind a proxy that answers for Exact's host.
    """

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
    int64_as_string: bool = True
    json_escape_slash: bool = True
    token_basic_auth: bool = True
    bare_array_for_top: bool = True
    data_service_version: bool = True
    skip_refused: tuple[str, ...] = ("sync", "bulk")
    code_widths: dict[str, int] = field(default_factory=lambda: dict(CODE_WIDTHS))
    literal_error_form: str = "wcf"
    not_found_text: str = "wcf"
    public_base_url: str = ""
    validation_error_status: int = 500

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
            if name in ("error_statuses", "skip_refused") and isinstance(value, list):
                value = tuple(value)
            if name == "code_widths" and isinstance(value, dict):
                value = dict(value)
            setattr(self, name, value)


def checked_text(name: str, value: object) -> object:
    """``value`` for a text, list-of-text or width-table setting; ValueError says what is wrong."""
    if name == "code_widths":
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 255
            for k, v in value.items()
        ):
            raise ValueError(f"setting {name!r} must map field names to widths (1-255)")
        return dict(value)
    if name == "skip_refused":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(
                f"setting {name!r} must be a list of endpoint kinds (regular, bulk, sync) or endpoints"
            )
        return tuple(value)
    if not isinstance(value, str):
        raise ValueError(f"setting {name!r} must be a string")
    if name in CHOICES and value not in CHOICES[name]:
        raise ValueError(f"setting {name!r} must be one of {', '.join(CHOICES[name])}, not {value[:40]!r}")
    if (
        name == "public_base_url"
        and value
        and (not value.startswith(("http://", "https://")) or value.endswith("/") or len(value) > 200)
    ):
        raise ValueError(f"setting {name!r} must be '' or a URL like https://start.exactonline.nl")
    return value
