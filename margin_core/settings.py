"""Configuration from the environment (rules §5): the store URL, provider keys and base URLs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT / "data"
DEFAULT_DATABASE_URL = f"sqlite:///{DATA_DIR / 'margin.db'}"

# Environment variables that carry a provider key, in the order they are tried (rules §5).
KEY_ENV = {
    "openai": ("OPENAI_ADMIN_KEY",),
    "anthropic": ("ANTHROPIC_ADMIN_KEY",),
    "openrouter": ("OPENROUTER_MANAGEMENT_KEY", "OPENROUTER_API_KEY"),
    "stripe": ("STRIPE_API_KEY",),
}
BASE_URL_ENV = {
    "openai": ("MARGIN_OPENAI_BASE_URL", "https://api.openai.com/v1"),
    "anthropic": ("MARGIN_ANTHROPIC_BASE_URL", "https://api.anthropic.com"),
    "openrouter": ("MARGIN_OPENROUTER_BASE_URL", "https://openrouter.ai/api/v1"),
    "stripe": ("MARGIN_STRIPE_BASE_URL", "https://api.stripe.com"),
}


def app_password() -> str | None:
    """`MARGIN_APP_PASSWORD`: when set, every page of the app asks for it first (rules §8)."""
    return os.environ.get("MARGIN_APP_PASSWORD") or None


def database_url() -> str:
    """`MARGIN_DATABASE_URL`, else the embedded SQLite store under data/."""
    return os.environ.get("MARGIN_DATABASE_URL") or DEFAULT_DATABASE_URL


def key_from_env(provider: str) -> str | None:
    """The provider's key from the environment, if any."""
    for name in KEY_ENV[provider]:
        if value := os.environ.get(name, "").strip():
            return value
    return None


def base_url(provider: str) -> str:
    """The provider's API base URL, overridable for tests and proxies."""
    name, default = BASE_URL_ENV[provider]
    return os.environ.get(name) or default


@dataclass(frozen=True, slots=True)
class StripeConnect:
    """ "Connect with Stripe" (OAuth, legacy for new platforms): the platform's client id and secret key."""

    client_id: str
    secret_key: str
    redirect_uri: str
    base_url: str


def stripe_connect() -> StripeConnect | None:
    """The Connect settings when `MARGIN_STRIPE_CONNECT_CLIENT_ID` and `..._SECRET_KEY` are both set."""
    client_id = os.environ.get("MARGIN_STRIPE_CONNECT_CLIENT_ID", "").strip()
    secret_key = os.environ.get("MARGIN_STRIPE_CONNECT_SECRET_KEY", "").strip()
    if not client_id or not secret_key:
        return None
    app_url = os.environ.get("MARGIN_APP_URL", "http://localhost:8501").rstrip("/")
    base = os.environ.get("MARGIN_STRIPE_CONNECT_BASE_URL", "https://connect.stripe.com")
    return StripeConnect(client_id, secret_key, f"{app_url}/connections", base)


@dataclass(frozen=True, slots=True)
class SecretKeySource:
    """Where the Fernet key for secrets at rest comes from: `MARGIN_SECRET_KEY`, else a 0600 key file."""

    env_value: str | None
    key_file: Path


def secret_key_source() -> SecretKeySource:
    return SecretKeySource(os.environ.get("MARGIN_SECRET_KEY"), DATA_DIR / "secret.key")
