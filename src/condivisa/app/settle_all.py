"""Settle every community of a store at once: one task per community, on this machine or a Dask cluster.

A provider serving many communities computes each month's billing preview of all of them in one go
(``condivisa settle-all``). :func:`plan` makes **one task per community** (a community with more than
:data:`SPLIT_PODS` PODs and several months becomes one task per month, so that no task holds too much);
:func:`settle_community` is the task: it opens the store **in the worker** (the measurements are read from
the database by each worker, never shipped through the scheduler), loads the community's file in force,
reads its measurements of the months, computes :func:`condivisa.billing.runs.preview` and writes one
``billing_previews`` row with ``INSERT … ON CONFLICT DO NOTHING`` on (community, months, inputs' SHA-256)
(:func:`condivisa.store.previews.insert_preview`): a task run twice — a retry after a worker died, a second
``settle-all`` on the same data — writes nothing the second time.

:func:`settle_all` runs the tasks:

- on this machine (default): a :class:`concurrent.futures.ProcessPoolExecutor` of ``workers`` processes
  (default: one per core); ``workers=1`` or ``serial=True`` runs them one after the other in this process;
- on a Dask cluster (``scheduler="tcp://host:8786"``): :class:`distributed.Client` submits every task with
  ``retries=2`` and ``pure=False``; a worker killed mid-task has its task re-run on another worker
  (the scheduler reschedules what a lost worker held).

Results are gathered as they complete, so progress can be shown. A community that cannot be settled (no
measurements, missing quarter hours without ``fill``, a file that no longer parses) gives a result with an
``error`` and no row; the others are settled and written all the same. Previews are never final: a final run
stays ``condivisa runs finalize``, community by community.

References
----------
.. [1] Dask.distributed, "Resilience": tasks of a lost worker are recomputed elsewhere; ``Client.submit``
   ``retries``. https://distributed.dask.org/en/stable/resilience.html
.. [2] Python, ``concurrent.futures.ProcessPoolExecutor``.
   https://docs.python.org/3/library/concurrent.futures.html
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import as_completed as pool_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from condivisa.billing.runs import preview
from condivisa.kernel import clock
from condivisa.outputs.monthly import month_bounds
from condivisa.outputs.sources import inputs_from_store, inputs_priced_from_store, zonal_prices
from condivisa.store.communities import list_communities, load_current
from condivisa.store.previews import insert_preview, months_key
from condivisa.store.store import Store

#: a community with more PODs than this and several months is settled one task per month
SPLIT_PODS = 200
#: seconds to wait for a Dask scheduler before giving up
CONNECT_TIMEOUT_S = 10.0
#: Dask retries of a task that failed or whose worker died
RETRIES = 2

Task = Callable[..., dict[str, Any]]
Progress = Callable[[dict[str, Any], int, int], None]


class SettleAllError(RuntimeError):
    """Nothing can be settled: no communities, an unreachable scheduler (the message says which)."""


@dataclass(frozen=True)
class Job:
    """One task of the plan: a community and the months it settles."""

    slug: str
    months: tuple[str, ...]


def plan(store: Store, months: tuple[str, ...], *, split_pods: int = SPLIT_PODS) -> list[Job]:
    """The tasks settling every community of ``store`` over ``months``.

    Parameters
    ----------
    store : Store
        The store whose communities (not removed) are settled.
    months : tuple of str
        ``YYYY-MM``, consecutive, oldest first.
    split_pods : int, default :data:`SPLIT_PODS`
        A community with more PODs than this and several months gets one task per month.

    Returns
    -------
    list of Job
        By community slug, then month.
    """
    jobs: list[Job] = []
    for record in list_communities(store.engine):
        try:
            pods = len(load_current(store.engine, record.slug).all_pods)
        except Exception:  # the task reports why the file does not parse
            pods = 0
        if len(months) > 1 and pods > split_pods:
            jobs += [Job(record.slug, (m,)) for m in months]
        else:
            jobs.append(Job(record.slug, months))
    return jobs


def peak_rss_mib() -> float:
    """This process's peak resident set size, MiB (``getrusage``: KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def settle_community(
    database_url: str,
    slug: str,
    months: tuple[str, ...],
    *,
    prices_csv: str | None = None,
    fill: str | None = None,
    batch: str | None = None,
) -> dict[str, Any]:
    """Settle one community's ``months`` from the store and keep the preview (the task of :func:`settle_all`).

    Parameters
    ----------
    database_url : str
        The store; opened here, in the worker, and closed before returning.
    slug : str
        The community.
    months : tuple of str
        ``YYYY-MM``, consecutive, oldest first.
    prices_csv : str, optional
        Hourly zonal prices CSV (€/MWh), read by the worker; default:
        :func:`~condivisa.outputs.sources.zonal_prices` of the community's market zone.
    fill : {None, "zero", "interpolate"}
        Missing quarter hours: an error (``None``) or filled explicitly.
    batch : str, optional
        The ``settle-all`` run the row belongs to.

    Returns
    -------
    dict
        ``slug``, ``community`` (name), ``months`` (``"2026-11"`` or ``"2026-10..2026-11"``), ``total_cents``,
        ``lines``, ``inputs_sha256``, ``written`` (False: the same preview was stored already), ``seconds``,
        ``peak_rss_mib`` of the worker, ``worker`` (``host:pid``) and ``error`` (``None``, or why the
        community could not be settled: nothing is written then). Never raises for a community's data.
    """
    t0 = time.perf_counter()
    months = tuple(months)
    out = _empty(slug, months)
    try:
        store = Store(database_url)
        try:
            _settle_into(store, slug, months, prices_csv, fill, batch, out)
        finally:
            store.close()
    except Exception as exc:  # one community's failure must not stop the others: reported, not raised
        out["error"] = _explain(exc)
    out["seconds"] = time.perf_counter() - t0
    out["peak_rss_mib"] = peak_rss_mib()
    out["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return out


def _settle_into(
    store: Store,
    slug: str,
    months: tuple[str, ...],
    prices_csv: str | None,
    fill: str | None,
    batch: str | None,
    out: dict[str, Any],
) -> None:
    community = load_current(store.engine, slug)
    out["community"] = community.name
    first_day = month_bounds(months[0])[0].date()
    end_day = month_bounds(months[-1])[1].date()
    last_day = end_day - dt.timedelta(days=1)
    if prices_csv is not None:
        inputs = inputs_from_store(
            store, community, prices_csv=prices_csv, first_day=first_day, last_day=last_day
        )
    else:
        prices = zonal_prices(community.market_zone, first_day, end_day)
        inputs = inputs_priced_from_store(store, community, prices, first_day=first_day, last_day=last_day)
    draft = preview(inputs, months, fill=fill)
    lines = [line.as_dict() for line in draft.lines]
    with store.engine.begin() as conn:
        written = insert_preview(
            conn,
            store.dialect,
            community=slug,
            months=months,
            inputs_sha256=draft.inputs_sha256,
            total_cents=draft.total_cents,
            lines=lines,
            computed_at=clock.now(),
            computed_by=f"settle-all@{socket.gethostname()}",
            batch=batch,
        )
    out.update(total_cents=draft.total_cents, lines=len(lines), inputs_sha256=draft.inputs_sha256)
    out["written"] = written


def _explain(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if "missing" in text.lower() and "fill" not in text.lower():
        text += " (settle them with --fill zero or --fill interpolate)"
    return text


def _empty(slug: str, months: tuple[str, ...]) -> dict[str, Any]:
    keys = ("community", "total_cents", "inputs_sha256", "error", "seconds", "peak_rss_mib", "worker")
    return {"slug": slug, "months": months_key(months), "lines": 0, "written": False} | dict.fromkeys(keys)


def _failed(job: Job, message: str) -> dict[str, Any]:
    return _empty(job.slug, job.months) | {"error": message}


def settle_all(
    database_url: str,
    months: tuple[str, ...],
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    serial: bool = False,
    prices_csv: str | Path | None = None,
    fill: str | None = None,
    progress: Progress | None = None,
    task: Task = settle_community,
) -> list[dict[str, Any]]:
    """Settle every community of the store over ``months`` and keep the previews (module docstring).

    Parameters
    ----------
    database_url : str
        The store; every worker must reach it (on a cluster: PostgreSQL, not a local SQLite file).
    months : tuple of str
        ``YYYY-MM``, consecutive, oldest first (:func:`condivisa.billing.runs.parse_months`).
    scheduler : str, optional
        A Dask scheduler's address (``tcp://host:8786``); default: this machine.
    workers : int, optional
        Processes on this machine (default: ``os.cpu_count()``); 1 means serial. Ignored with ``scheduler``.
    serial : bool, default False
        Run the tasks one after the other in this process (for comparisons).
    prices_csv : str or Path, optional
        Hourly zonal prices CSV, read by each worker; default: GME's 2023 prices of each community's zone.
    fill : {None, "zero", "interpolate"}
        Missing quarter hours: an error (``None``) or filled explicitly.
    progress : callable, optional
        Called as ``progress(result, done, total)`` as each task completes.
    task : callable, default :func:`settle_community`
        The function each task runs (same signature; tests wrap it).

    Returns
    -------
    list of dict
        :func:`settle_community`'s results, by community and months.

    Raises
    ------
    SettleAllError
        The store has no communities, or the scheduler cannot be reached.
    """
    months = tuple(months)
    with Store(database_url) as store:
        url = store.url
        jobs = plan(store, months)
    if not jobs:
        raise SettleAllError(f"no communities in the store {url}: add them first (condivisa communities add)")
    kwargs = {"prices_csv": str(prices_csv) if prices_csv else None, "fill": fill, "batch": uuid.uuid4().hex}
    if scheduler:
        done = _on_cluster(scheduler, jobs, url, kwargs, task)
    elif serial or workers == 1:
        done = ((job, task(url, job.slug, job.months, **kwargs)) for job in jobs)
    else:
        done = _on_pool(workers or os.cpu_count() or 1, jobs, url, kwargs, task)
    results = []
    for _job, result in done:
        results.append(result)
        if progress is not None:
            progress(result, len(results), len(jobs))
    return sorted(results, key=lambda r: (r["slug"], r["months"]))


def _on_pool(
    workers: int, jobs: list[Job], url: str, kwargs: dict[str, Any], task: Task
) -> Iterator[tuple[Job, dict[str, Any]]]:
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        futures = {pool.submit(task, url, job.slug, job.months, **kwargs): job for job in jobs}
        for future in pool_completed(futures):
            job = futures[future]
            exc = future.exception()
            yield job, (_failed(job, f"worker failed: {exc}") if exc else future.result())


def _on_cluster(
    scheduler: str, jobs: list[Job], url: str, kwargs: dict[str, Any], task: Task
) -> Iterator[tuple[Job, dict[str, Any]]]:
    from distributed import Client, as_completed

    _check_listening(scheduler)
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)
    except Exception as exc:  # OSError, TimeoutError: the address is wrong or nobody listens there
        raise SettleAllError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    with client:
        futures = {}
        for job in jobs:
            future = client.submit(
                task, url, job.slug, job.months, **kwargs, retries=RETRIES, pure=False, key=_key(job, kwargs)
            )
            futures[future] = job
        for future in as_completed(futures):
            job = futures[future]
            if future.status == "error":
                yield job, _failed(job, f"failed after {RETRIES} retries: {future.exception()}")
            else:
                yield job, future.result()


def _check_listening(scheduler: str) -> None:
    """Fail at once when nothing listens at a ``tcp://host:port`` address (the client would wait for
    :data:`CONNECT_TIMEOUT_S`)."""
    if not scheduler.startswith("tcp://"):
        return
    host, _, port = scheduler.removeprefix("tcp://").rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except (OSError, ValueError) as exc:
        raise SettleAllError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None


def _key(job: Job, kwargs: dict[str, Any]) -> str:
    return f"settle-{job.slug}-{months_key(job.months)}-{kwargs['batch']}"
