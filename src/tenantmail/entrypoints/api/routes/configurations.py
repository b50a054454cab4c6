"""Routes for configurations (see SPEC §4)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
