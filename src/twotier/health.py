from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import text

from twotier.kit.db import Database
from twotier.kit.deps import get_db
from twotier.kit.openapi import problems

# Every request, these too, is refused with 422 for control characters (kit.inputguard).
router = APIRouter(tags=["health"], responses=problems(422))
READINESS = {
    "type": "object",
    "properties": {"status": {"enum": ["ok", "unavailable"]}, "detail": {"type": "string"}},
    "required": ["status"],
}


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database answers",
    responses={
        200: {"content": {"application/json": {"schema": READINESS}}},
        503: {
            "description": "The database does not answer",
            "content": {"application/json": {"schema": READINESS}},
        },
    },
)
async def readyz(db: Database = Depends(get_db)) -> JSONResponse:
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means not ready
        return JSONResponse({"status": "unavailable", "detail": type(exc).__name__}, 503)
    return JSONResponse({"status": "ok"})
