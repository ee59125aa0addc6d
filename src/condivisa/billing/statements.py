"""Member statements issued from a stored run: numbered "Rendiconto n. <run>-<member>".

A statement is issued from a final run (or from a correction: it then shows the corrected figures) only when
the current inputs are the run's — same fingerprint (:func:`condivisa.billing.runs.verify`) — and the
member's money of the month, as the statement computes it, equals the run's lines in force to the cent. So
the numbers on a numbered statement are the run's numbers. When the data changed since the run, the statement
is refused until a correction is posted (and issued from it). A statement that is not issued from a run is a
preview, and says *PROVVISORIO* (:func:`condivisa.outputs.report.member_statement_html`).

The dashboard (:mod:`condivisa.web.pages_member`) shows the number of the run a month is in
(:func:`issuing_run`, one query, no hash) and, when the statement is downloaded, issues it with
:func:`run_statement_html` (the fingerprint checked then): a mismatch gives the provisional statement.
"""

from __future__ import annotations

from condivisa.billing import run_records
from condivisa.billing.run_common import book_of
from condivisa.billing.run_lines import RunLine, combine
from condivisa.billing.run_records import RunError, RunHeader, StoredRun
from condivisa.billing.runs import verify
from condivisa.outputs.report import member_statement_html
from condivisa.outputs.sources import SettlementInputs
from condivisa.store.store import Store


def issuing_run(headers: list[RunHeader], month: str) -> RunHeader | None:
    """The run a numbered statement of ``month`` is issued from: the latest of the final run covering
    ``month`` and its corrections (the one whose inputs are in force); ``None`` when no final run covers it
    (the month's amounts are provisional). ``headers``: :func:`~condivisa.billing.run_records.run_headers`."""
    final = next((h for h in headers if h.kind == "final" and month in h.months), None)
    if final is None:
        return None
    return max([final, *(h for h in headers if h.corrects_run_id == final.id)], key=lambda h: h.number)


def statement_number(run: StoredRun | RunHeader, member_id: str) -> str:
    """``<run>-<member>``: the statement's number."""
    return f"{run.number}-{member_id}"


def in_force_at(store: Store, run: StoredRun) -> dict[tuple[str, str], RunLine]:
    """The lines in force once ``run`` is posted: its final run plus the corrections up to it."""
    final = (
        run if run.kind == "final" else run_records.get_run(store, run.community, run.corrects_number or 0)
    )
    runs = [r for r in run_records.chain(store, final) if r.number <= run.number]
    return combine(line for r in runs for line in r.lines)


def run_statement_html(
    store: Store, inputs: SettlementInputs, run: StoredRun, member_id: str, month: str, lang: str = "it"
) -> str:
    """The member's statement of ``month`` issued from ``run`` (HTML; PDF: print it with
    :func:`condivisa.outputs.report.html_to_pdf`).

    Raises
    ------
    RunError
        ``month`` is not one of the run's, the inputs changed since the run, or the figures differ.
    KeyError
        No such member.
    """
    inputs.community.member(member_id)  # KeyError naming the member
    from condivisa.billing.yearly_balance import is_yearly

    if is_yearly(store, run):
        raise RunError(
            f"run n. {run.number} is a yearly balance (conguaglio of {run.months[0][:4]}): a statement is issued "
            "from a month's final run; the yearly balance lines are in `condivisa runs yearly-summary`"
        )
    if month not in run.months:
        raise RunError(f"run n. {run.number} covers {run.months[0]}..{run.months[-1]}, not {month}")
    verify(inputs, run)
    book = book_of(inputs, run.months, run.inputs.get("fill"))
    shown = RunLine.of(next(p for p in book.month(month).payees() if p.id == member_id), month)
    stored = in_force_at(store, run).get((member_id, month), RunLine(member_id, "member", month))
    if not shown.minus(stored).is_zero:
        raise RunError(f"run n. {run.number}: {member_id} {month} differs from the run's lines; not issued")
    return member_statement_html(book, member_id, month, lang, run_label=statement_number(run, member_id))
