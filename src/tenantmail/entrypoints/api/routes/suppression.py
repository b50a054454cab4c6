"""Routes for suppression (see SPEC §4)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
