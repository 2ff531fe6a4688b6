"""GET /api/health: the same report the home page shows."""

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from backend.api.auth import RuntimeDep
from backend.services.ops.health import HealthReport, check_platform

router = APIRouter(prefix="/api", tags=["platform"])


@router.get("/health", response_model=HealthReport, responses={503: {"model": HealthReport}})
async def get_health(rt: RuntimeDep) -> JSONResponse:
    """Each component's backend and whether it answers; 503 when any is down."""
    report = await run_in_threadpool(check_platform, rt)
    return JSONResponse(status_code=200 if report.status == "ok" else 503, content=report.model_dump(mode="json"))
