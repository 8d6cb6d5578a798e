"""``uvicorn app.asgi:create_app --factory``: settings come from the environment."""

from app.application import create_app

__all__ = ["create_app"]
