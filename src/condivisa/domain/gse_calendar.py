"""When the GSE is expected to pay a month's CACER contribution: condivisa's assumption, not a GSE term.

The GSE pays the monthly advances some weeks after the month, on the distributor's data, and the balance
(conguaglio) after the year is closed. condivisa assumes :data:`DEFAULT_PAYMENT_DAYS` after the month's
last day for an advance — used by the GSE ledger to call a month overdue and by the member page to say
roughly when the money comes; the referente may record the GSE's own due date instead.

References
----------
.. [1] GSE, Regole operative CACER (2024): payment of the incentive in advances and a yearly balance.
"""

from __future__ import annotations

import calendar
import datetime as dt

#: days after a month's last day by which condivisa expects the GSE's advance (an assumption)
DEFAULT_PAYMENT_DAYS = 60


def month_last_day(month: str) -> dt.date:
    """The last civil day of ``month`` (``YYYY-MM``)."""
    year, mon = int(month[:4]), int(month[5:7])
    return dt.date(year, mon, calendar.monthrange(year, mon)[1])


def default_due_on(month: str, payment_days: int = DEFAULT_PAYMENT_DAYS) -> dt.date:
    """The month's last day + ``payment_days`` (2023-12 with 60 days: 2024-02-29)."""
    return month_last_day(month) + dt.timedelta(days=payment_days)
