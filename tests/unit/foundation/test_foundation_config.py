"""Settings: environment, TOML file, safe defaults, refusal of demo secrets, secrets never printed."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from concord.config import DEMO_SECRET, Settings


def test_defaults_are_embedded_sqlite() -> None:
    s = Settings()
    assert s.effective_database_url == "sqlite:///var/concord.db"
    assert s.bus == "memory"
    assert s.effective_key_dir == Path("var/keys")


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONCORD_PORT", "9001")
    monkeypatch.setenv("CONCORD_DATABASE_URL", "postgres://u@h/db")
    s = Settings()
    assert s.port == 9001
    assert s.database_url == "postgresql+psycopg://u@h/db"


def test_toml_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "concord.toml"
    cfg.write_text('[concord]\nport = 8100\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("CONCORD_CONFIG", str(cfg))
    monkeypatch.setenv("CONCORD_PORT", "8200")  # the environment wins over the file
    s = Settings()
    assert s.host == "0.0.0.0"
    assert s.port == 8200


def test_bad_toml_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("port = [")
    monkeypatch.setenv("CONCORD_CONFIG", str(cfg))
    with pytest.raises(ValueError, match="not valid TOML"):
        Settings()


def test_prod_refuses_demo_secret() -> None:
    with pytest.raises(ValidationError, match="demo secret"):
        Settings(env="prod")
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(env="prod", secret_key="short")
    assert Settings(env="prod", secret_key="x" * 40).env == "prod"


def test_secret_never_printed() -> None:
    s = Settings(secret_key="super-secret-value-" * 3)
    assert "super-secret" not in repr(s)
    assert "super-secret" not in str(s.model_dump())
    assert DEMO_SECRET not in repr(Settings())


@pytest.mark.parametrize(
    ("field", "value"), [("port", "70000"), ("port", "eighty"), ("env", "staging"), ("token_ttl_s", "-1")]
)
def test_invalid_values_name_the_field(monkeypatch: pytest.MonkeyPatch, field: str, value: str) -> None:
    monkeypatch.setenv(f"CONCORD_{field.upper()}", value)
    with pytest.raises(ValidationError) as info:
        Settings()
    assert info.value.errors()[0]["loc"] == (field,)


def test_unknown_setting_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(no_such_setting=1)  # type: ignore[call-arg]
