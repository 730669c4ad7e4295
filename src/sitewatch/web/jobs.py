"""Processing jobs: `run` for one site in a background thread, with progress to poll.

A job opens its own connection to the catalog and runs sitewatch.workflow.pipeline.run_site, which
carries the analyst's verdicts over to the events it stores (sitewatch.store). Each job is
also recorded in the catalog (a run of kind "job") when it is queued, starts and ends, so a
restarted server still lists past jobs; a job the server was running when it stopped is
listed as failed, with that reason. Progress within a stage is kept in memory only."""

from __future__ import annotations

import dataclasses
import logging
import threading
import uuid
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sitewatch.errors import SitewatchError
from sitewatch.store import open_catalog, record_run, runs_of_kind
from sitewatch.web.security import folder_name
from sitewatch.web.settings import WebSettings
from sitewatch.workflow import pipeline

log = logging.getLogger("sitewatch.web")

RUN_KIND = "job"
INTERRUPTED = "the server stopped before this job finished; start it again"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Job:
    id: str
    site: str
    align: bool
    detect: bool
    status: str = "queued"  # queued, running, done, failed
    stage: str = ""
    done: int = 0
    total: int = 0
    message: str = ""
    created: str = field(default_factory=_now)
    finished: str | None = None
    verdicts_restored: int = 0
    report: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Job:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class JobBoard:
    """The jobs of one app: start, look up, list. At most one live job per site.

    catalog: where jobs are recorded (None: in memory only, for tests of the board alone)."""

    def __init__(self, settings: WebSettings, catalog=None):
        self.settings = settings
        self.catalog = catalog
        self._jobs: dict[str, Job] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        if catalog is not None:
            self._load()

    def _load(self) -> None:
        for run in runs_of_kind(self.catalog, RUN_KIND):
            job = Job.from_dict(run.params)
            if job.status in ("queued", "running"):  # this server never ran it to the end
                job.status, job.finished, job.message = "failed", _now(), INTERRUPTED
                self._record(job)
            self._jobs[job.id] = job

    def _record(self, job: Job) -> None:
        """Store the job's state in the catalog (call without holding the lock)."""
        if self.catalog is None:
            return
        with self._lock:
            state = job.as_dict()
        try:
            record_run(self.catalog, job.id, RUN_KIND, job.site, state["status"], state,
                       finished=state["status"] in ("done", "failed"))
        except Exception:  # a job's bookkeeping must not take the job down; the log says why
            log.exception("could not record job %s in the catalog", job.id)

    def live_for(self, site: str) -> Job | None:
        with self._lock:
            return next((j for j in self._jobs.values() if j.site == site and j.status in ("queued", "running")), None)

    def start(self, site: str, align: bool, detect: bool) -> Job:
        job = Job(id=uuid.uuid4().hex, site=site, align=align, detect=detect)
        t = threading.Thread(target=self._run, args=(job,), name=f"sitewatch-job-{job.id[:8]}", daemon=True)
        with self._lock:
            self._jobs[job.id] = job
            self._threads[job.id] = t
        self._record(job)
        t.start()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created)

    def wait(self, job_id: str, timeout: float | None = None) -> Job | None:
        """Block until the job ends (for tests and scripts)."""
        t = self._threads.get(job_id)
        if t is not None:
            t.join(timeout)
        return self.get(job_id)

    def _progress(self, job: Job):
        def report(stage: str, done: int, total: int) -> None:
            with self._lock:
                job.stage, job.done, job.total = stage, done, total
        return report

    def _run(self, job: Job) -> None:
        with self._lock:
            job.status = "running"
        self._record(job)
        out_dir: Path = self.settings.reports_dir / folder_name(job.site)
        try:
            with open_catalog(self.settings.db) as catalog:
                model = pipeline.default_model() if job.detect else None
                if job.detect and model is None:
                    raise SitewatchError("no detection model is installed; start the job with detect=false "
                                         "to reassess the stored detections")
                with ExitStack() as stack:
                    client = (stack.enter_context(_cluster().connect(self.settings.cluster))
                              if job.detect and self.settings.cluster else None)
                    outcome = pipeline.run_site(catalog, job.site, out_dir, model=model, align=job.align,
                                                detect=job.detect, progress=self._progress(job), client=client)
            with self._lock:
                job.status, job.finished = "done", _now()
                job.verdicts_restored = outcome.verdicts.kept if outcome.verdicts else 0
                job.message = outcome.judgement.assessment.headline
                job.report = outcome.files.html.name
        except SitewatchError as exc:
            with self._lock:
                job.status, job.finished, job.message = "failed", _now(), str(exc)
        except Exception as exc:  # the thread must record every failure; the log has the traceback
            log.exception("job %s for site %s failed", job.id, job.site)
            with self._lock:
                job.status, job.finished = "failed", _now()
                job.message = f"unexpected {exc.__class__.__name__}; see the server log"
        self._record(job)


def _cluster():
    """sitewatch.detect.cluster: imported only where jobs detect on Dask (the cluster extra,
    checked when the settings were read)."""
    from sitewatch.detect import cluster  # noqa: PLC0415  (optional extra)

    return cluster
