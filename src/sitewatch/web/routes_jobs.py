"""Processing jobs: start `run` for a site, poll its progress."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from sitewatch.web import schemas, views
from sitewatch.web.problems import Problem
from sitewatch.web.routes_catalog import PROBLEMS, WRITE_PROBLEMS, SiteName, catalog
from sitewatch.web.security import require_token

router = APIRouter(prefix="/api")


@router.post("/sites/{site}/jobs", status_code=202, response_model=schemas.JobOut, tags=["jobs"],
             dependencies=[Depends(require_token)],
             responses={**WRITE_PROBLEMS, 409: {"model": schemas.ProblemDoc, "description": "a job is running"}})
def start_job(request: Request, body: schemas.JobIn | None = None, site: str = SiteName, cat=Depends(catalog)):
    """Start align, detect, compare, assess and report for the site in the background.
    Analyst verdicts are carried over to the events the run stores."""
    views.site_or_404(cat, site)
    board = request.app.state.jobs
    running = board.live_for(site)
    if running is not None:
        raise Problem(409, f"job {running.id} is already running for site {site!r}")
    body = body or schemas.JobIn()
    job = board.start(site, align=body.align, detect=body.detect)
    return JSONResponse(job.as_dict(), status_code=202, headers={"Location": f"/api/jobs/{job.id}"})


@router.get("/jobs", response_model=list[schemas.JobOut], tags=["jobs"])
def list_jobs(request: Request):
    return [j.as_dict() for j in request.app.state.jobs.all()]


@router.get("/jobs/{job_id}", response_model=schemas.JobOut, responses=PROBLEMS, tags=["jobs"])
def get_job(request: Request, job_id: str = Path(..., max_length=64)):
    """A job's status and progress: stage, done of total."""
    job = request.app.state.jobs.get(job_id)
    if job is None:
        raise Problem(404, f"no job {job_id!r}")
    return job.as_dict()
