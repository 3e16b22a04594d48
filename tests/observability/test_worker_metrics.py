"""A worker's ``/metrics``: its own small server, the token only, the job counts in it."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text

from dualrec.observe import metrics_server
from dualrec.settings import Settings
from observability import Metrics
from storage import Database
from tests.observability.test_metrics_endpoint import samples, value

TOKEN = "worker-scrape-token"


async def test_a_worker_s_metrics_show_its_jobs_to_the_token_only(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, metrics_token=TOKEN)
    metrics = Metrics(node="worker-1", process="worker")
    async with (
        Database(f"sqlite:///{tmp_path / 'worker.db'}") as db,
        metrics_server(settings, metrics, 0, db) as url,
        aiohttp.ClientSession() as http,
    ):
        async with metrics.jobs.track("composite"):
            pass
        with pytest.raises(RuntimeError):
            async with metrics.jobs.track("composite"):
                raise RuntimeError("the composite failed")
        async with metrics.jobs.track("ship"):
            metrics.jobs.queued("ship", 4)
            async with http.get(
                f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
            ) as r:
                assert r.status == 200
                during = samples(await r.text())
        async with db.sessions() as session:
            with pytest.raises(Exception, match="no such table"):
                await session.execute(text("SELECT * FROM no_such_table"))
        async with http.get(f"{url}/metrics") as refused:
            assert refused.status == 401
            assert refused.headers["X-Frame-Options"] == "DENY"
        async with http.get(f"{url}/metrics", headers={"Authorization": "Bearer no"}) as wrong:
            assert wrong.status == 401
        async with http.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}) as r:
            after = samples(await r.text())
    assert value(during, "dualrec_jobs_running", kind="ship") == 1
    assert value(during, "dualrec_jobs_queued", kind="ship") == 4
    assert value(after, "dualrec_node_info", node="worker-1", process="worker") == 1
    assert value(after, "dualrec_jobs_running", kind="ship") == 0
    assert value(after, "dualrec_jobs_running", kind="composite") == 0
    assert value(after, "dualrec_jobs_done_total", kind="composite") == 1
    assert value(after, "dualrec_jobs_failed_total", kind="composite") == 1
    assert value(after, "dualrec_jobs_done_total", kind="ship") == 1
    assert value(after, "dualrec_database_errors_total", error="OperationalError") == 1
    assert ("dualrec_event_loop_lag_max_seconds", ()) in after
