"""Settings: ``CONCORD_*`` environment variables, an optional TOML file, and safe defaults for dev.

Nothing here runs at import time; :func:`load_settings` builds a :class:`Settings` when a door asks.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = ["DEMO_SECRET", "Settings", "load_settings"]

# The well-known secret of the embedded demo: refused outside the dev environment.
DEMO_SECRET = "concord-demo-secret-do-not-use-in-production"


class Settings(BaseSettings):
    """Every setting of a Concord process, with its environment variable ``CONCORD_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="CONCORD_",
        env_ignore_empty=True,
        extra="forbid",
        validate_default=True,
    )

    env: Literal["dev", "test", "prod"] = Field("dev", description="dev allows the demo secret")
    data_dir: Path = Field(Path("var"), description="where the SQLite file, keys and logs live")
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite under data_dir")
    host: str = Field("127.0.0.1", description="API bind address")
    port: int = Field(8000, ge=0, le=65535, description="API port (0 picks a free one)")
    cot_tcp_port: int = Field(0, ge=0, le=65535, description="plain CoT TCP port; 0 disables it")
    cot_tcp_agency: str = Field("", description="agency a plain-TCP CoT connection is bound to")
    cot_tls_port: int = Field(0, ge=0, le=65535, description="CoT TLS port; 0 disables it")
    cot_tcp_user: str = Field("", max_length=64, description="user plain-TCP CoT reports are attributed to")
    secret_key: SecretStr = Field(SecretStr(DEMO_SECRET), description="signs session tokens")
    key_dir: Path | None = Field(None, description="master and signing keys; default data_dir/keys")
    token_ttl_s: int = Field(8 * 3600, gt=0, description="lifetime of a bearer token from /api/auth/token")
    session_ttl_s: int = Field(12 * 3600, gt=0, description="lifetime of a web session")
    max_body_bytes: int = Field(1_000_000, gt=0, description="largest request body accepted")
    login_max_failures: int = Field(5, gt=0, description="failed logins per user and address per window")
    login_window_s: int = Field(300, gt=0, description="window of the login throttle")
    log_json: bool = Field(False, description="log JSON lines instead of text")
    log_level: str = Field("INFO")
    region_name: str = Field("border", min_length=1, max_length=64, description="tracking region name")
    region_lat: float = Field(41.3, ge=-89, le=89, description="origin of the region's local frame")
    region_lon: float = Field(26.5, ge=-180, le=180, description="origin of the region's local frame")
    region_radius_m: float = Field(300_000.0, gt=0, le=2_000_000, description="reports beyond are refused")
    bus: Literal["memory", "nats"] = Field("memory", description="message bus adapter")
    nats_url: str = Field("nats://127.0.0.1:4222", description="NATS servers, comma-separated")
    nats_stream_replicas: int = Field(1, ge=1, le=5, description="JetStream replicas (3 in a cluster)")
    role: Literal["api", "ingest", "tracker", "rules", "egress", "all"] = Field(
        "all", description="what this process runs when the bus is NATS"
    )
    partitions: str = Field(
        "", max_length=4000, description="regions as name:lon_min:lon_max,...; empty: one region"
    )
    lease_ttl_s: float = Field(6.0, ge=1.0, le=300.0, description="a dead worker's regions move after this")
    simulate: bool = Field(
        False, description="feed the simulated scenario through this API node's doors (a demo cluster)"
    )
    ingest_commit_timeout_s: float = Field(
        15.0, ge=1.0, le=300.0, description="how long a door waits for the trackers to commit a batch"
    )
    worker_id: str = Field("", max_length=64, description="lease owner name; empty: host-pid")

    @field_validator("database_url")
    @classmethod
    def _normalise_url(cls, value: str) -> str:
        if value.startswith("postgres://"):
            value = "postgresql://" + value.removeprefix("postgres://")
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @model_validator(mode="after")
    def _refuse_demo_secrets(self) -> Settings:
        if self.env == "prod" and self.secret_key.get_secret_value() == DEMO_SECRET:
            raise ValueError(
                "CONCORD_SECRET_KEY is the demo secret; set a real one (at least 32 random bytes) "
                "or run with CONCORD_ENV=dev"
            )
        if self.env == "prod" and len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("CONCORD_SECRET_KEY must be at least 32 characters in prod")
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'concord.db').as_posix()}"

    @property
    def effective_key_dir(self) -> Path:
        return self.key_dir if self.key_dir is not None else self.data_dir / "keys"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _TomlSource(settings_cls)


class _TomlSource(PydanticBaseSettingsSource):
    """Values from the TOML file named by ``CONCORD_CONFIG`` (lowest precedence after defaults)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # noqa: ARG002
        return self._data().get(field_name), field_name, False

    def _data(self) -> dict[str, Any]:
        path = os.environ.get("CONCORD_CONFIG")
        if not path:
            return {}
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError as exc:
            raise ValueError(f"CONCORD_CONFIG names {path!r}, which does not exist") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"CONCORD_CONFIG file {path!r} is not valid TOML: {exc}") from exc
        section = data.get("concord", data)
        if not isinstance(section, dict):
            raise ValueError(f"CONCORD_CONFIG file {path!r}: [concord] must be a table")
        return section

    def __call__(self) -> dict[str, Any]:
        return dict(self._data())


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from environment, TOML file and explicit overrides (highest first)."""
    return Settings(**overrides)
