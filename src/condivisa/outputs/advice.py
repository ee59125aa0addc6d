"""Tomorrow's good hours for the members (issue #19, item 2): the ``advice`` message for the DUs and the
personal e-mail text of each member, from the day-ahead forecast (:mod:`condivisa.outputs.forecast`).

Rules:

- a **good hour** is an hour ``h`` of the day whose expected spare production ``S_h`` (kWh in one hour,
  hence a mean power in kW) is at least :data:`GOOD_HOUR_MIN_SPARE_KW`, 2 kW: what one washing machine or
  dishwasher draws while it heats the water, so at least one moved appliance runs on the community's own
  production;
- a **window** is a run of consecutive good hours ``[start, end)``; its power is the mean spare power over
  its hours, ``spare_kw = Σ_h S_h / (n · 1 h)`` (kW), ``n`` the hours of the run. Hours are counted on the
  real time line, so on the 23- and 25-hour days of the change of time a window is as long as it really
  lasts;
- the **sentence** (``text``) is :func:`condivisa.outputs.forecast.advice_sentence` (the best 3 hours and
  their mean spare power), in Italian and English; with no good hour it is the sentence saying there is no
  spare production, and the windows are empty;
- a member's **e-mail** holds the community's windows, the member's own name and nothing of the other
  members.

Everything here is pure: no store, no network.

References
----------
.. [1] ARERA, TIAD (delibera 727/2022/R/eel), Allegato A, art. 1: the shared energy, on which the premium
   is paid, is counted hour by hour, so consuming in the hours of spare production raises it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import pandas as pd

from condivisa.domain.community import Community, Member
from condivisa.formats.flex_messages import Advice, AdviceWindow
from condivisa.kernel.timegrid import HOUR, ROME
from condivisa.outputs.forecast import Forecast, advice_sentence, round_kw

#: an hour is good when the community is expected to have at least this spare power, kW
GOOD_HOUR_MIN_SPARE_KW = 2.0
#: the languages of the texts, in the order the e-mail shows them
LANGUAGES = ("it", "en")

_WEEKDAYS = {
    "it": ("lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}


@dataclass(frozen=True)
class AdviceEmail:
    """The text of one member's e-mail (``to`` is ``None`` when the member has no address)."""

    member_id: str
    to: str | None
    subject: str
    body: str


def advice_id(day: dt.date) -> str:
    """The id of the advice of ``day``: ``advice-YYYY-MM-DD`` (the same for every DU; a DU may use it to
    ignore a repeated message)."""
    return f"advice-{day.isoformat()}"


def good_windows(
    hourly: pd.DataFrame, min_spare_kw: float = GOOD_HOUR_MIN_SPARE_KW
) -> tuple[AdviceWindow, ...]:
    """The runs of consecutive hours with at least ``min_spare_kw`` of spare production.

    An hour is good when ``S_h / 1 h ≥ min_spare_kw``; a window is a run of good hours ``[start, end)``
    with ``spare_kw = Σ_h S_h / n`` over its ``n`` hours (module docstring).

    Parameters
    ----------
    hourly : pandas.DataFrame
        ``hour_start`` (aware) and ``spare_kwh`` per hour, kWh (:attr:`Forecast.hourly`).
    min_spare_kw : float, default :data:`GOOD_HOUR_MIN_SPARE_KW`
        Threshold of a good hour, kW.

    Returns
    -------
    tuple of AdviceWindow
        In time order; ``start`` and ``end`` in Europe/Rome; empty when no hour is good.
    """
    if hourly.empty:
        return ()
    starts = pd.DatetimeIndex(hourly["hour_start"]).tz_convert(ROME)
    spare_kw = hourly["spare_kwh"].to_numpy(dtype=float) / 1.0  # kWh in one hour -> mean kW
    out: list[AdviceWindow] = []
    run: list[int] = []

    def close() -> None:
        if run:
            start = starts[run[0]].to_pydatetime()
            end = (starts[run[-1]] + pd.Timedelta(HOUR)).tz_convert(ROME).to_pydatetime()
            out.append(AdviceWindow(start, end, float(spare_kw[run].mean())))
            run.clear()

    for i in range(len(starts)):
        contiguous = not run or starts[i] - starts[run[-1]] == pd.Timedelta(HOUR)
        if spare_kw[i] >= min_spare_kw and contiguous:
            run.append(i)
            continue
        close()
        if spare_kw[i] >= min_spare_kw:
            run.append(i)
    close()
    return tuple(out)


def build_advice(forecast: Forecast, today: dt.date, min_spare_kw: float = GOOD_HOUR_MIN_SPARE_KW) -> Advice:
    """The ``advice`` of the day of ``forecast``: its :func:`good_windows` and the sentence in Italian and
    English.

    Parameters
    ----------
    forecast : Forecast
        The day-ahead forecast (:func:`condivisa.outputs.forecast.community_forecast`).
    today : datetime.date
        The day the advice is sent (the sentence says "domani" when the forecast is of the next day).
    min_spare_kw : float, default :data:`GOOD_HOUR_MIN_SPARE_KW`
        Threshold of a good hour, kW.

    Returns
    -------
    condivisa.formats.flex_messages.Advice
        ``windows`` empty, and a sentence saying so, when no hour is good.
    """
    windows = good_windows(forecast.hourly, min_spare_kw)
    told = forecast if windows else dataclasses.replace(forecast, windows=())
    text = {lang: advice_sentence(told, today, lang) for lang in LANGUAGES}
    return Advice(advice_id(forecast.day), forecast.day, windows, text)


def _clock(t: dt.datetime, day: dt.date) -> str:
    local = t.astimezone(ROME)
    return "24:00" if local.date() > day else f"{local:%H:%M}"


def _kw(kw: float, lang: str) -> str:
    text = f"{round_kw(kw):g}"
    return text.replace(".", ",") if lang == "it" else text


def _day_words(day: dt.date, lang: str) -> str:
    return f"{_WEEKDAYS[lang][day.weekday()]} {day:%d/%m/%Y}"


def window_lines(advice: Advice, lang: str = "it") -> list[str]:
    """One line per window: ``dalle 10:00 alle 15:00: circa 35 kW in più`` (``en``: ``from 10:00 to 15:00:
    about 35 kW spare``), the power rounded as in the sentence."""
    lines = []
    for w in advice.windows:
        start, end, kw = _clock(w.start, advice.day), _clock(w.end, advice.day), _kw(w.spare_kw, lang)
        if lang == "en":
            lines.append(f"from {start} to {end}: about {kw} kW spare")
        else:
            lines.append(f"dalle {start} alle {end}: circa {kw} kW in più")
    return lines


def _italian(advice: Advice, community_name: str, name: str | None) -> list[str]:
    out = [f"Gentile {name}," if name else "Buongiorno,", "", advice.text["it"] + "."]
    if advice.windows:
        out += ["", f"Le ore buone di {_day_words(advice.day, 'it')} (ora italiana):"]
        out += [f"  - {line}" for line in window_lines(advice, "it")]
        out += [
            "",
            "Un consiglio: se può, faccia partire in queste ore la lavatrice o la lavastoviglie (anche con la "
            "partenza ritardata), o ricarichi l'auto elettrica. Userà l'energia prodotta dalla comunità, "
            "che altrimenti andrebbe in rete: più energia condivisa vuol dire un incentivo più alto per "
            "tutti.",
        ]
    else:
        out += [
            "",
            f"Per {_day_words(advice.day, 'it')} non ci sono ore con produzione in più: lavatrice e "
            "lavastoviglie possono partire quando le è comodo.",
        ]
    out += [
        "",
        "È una previsione, fatta con la produzione degli ultimi giorni: il tempo può cambiare.",
        f"Comunità energetica {community_name}",
    ]
    return out


def _english(advice: Advice, community_name: str, name: str | None) -> list[str]:
    out = [f"Dear {name}," if name else "Hello,", "", advice.text["en"] + "."]
    if advice.windows:
        out += ["", f"The good hours of {_day_words(advice.day, 'en')} (Italian time):"]
        out += [f"  - {line}" for line in window_lines(advice, "en")]
        out += [
            "",
            "A tip: if you can, run the washing machine or the dishwasher in these hours (a delayed start "
            "helps), or charge the electric car. You will use the energy the community produces, which "
            "would otherwise go to the grid: more shared energy means a higher premium for everyone.",
        ]
    else:
        out += [
            "",
            f"On {_day_words(advice.day, 'en')} there are no hours with spare production: run the washing "
            "machine and the dishwasher whenever it suits you.",
        ]
    out += [
        "",
        "This is a forecast, based on the production of the last days: the weather may change.",
        f"Energy community {community_name}",
    ]
    return out


def member_email(advice: Advice, member: Member, community_name: str) -> AdviceEmail:
    """The personal e-mail of ``member``: subject and plain-text body, Italian then English.

    The body greets the member by name (when known), gives the sentence, the windows with their hours
    (Europe/Rome) and mean spare power, and one practical tip; nothing of any other member.

    Parameters
    ----------
    advice : condivisa.formats.flex_messages.Advice
        :func:`build_advice`.
    member : condivisa.domain.community.Member
        The recipient.
    community_name : str
        The community's name, as the members know it.

    Returns
    -------
    AdviceEmail
    """
    day = f"{advice.day:%d/%m}"
    if advice.windows:
        subject = f"{community_name}: le ore buone del {day} / good hours on {day}"
    else:
        subject = f"{community_name}: nessuna ora buona il {day} / no good hours on {day}"
    name = (member.name or "").strip() or None
    body = (
        _italian(advice, community_name, name) + ["", "-" * 40, ""] + _english(advice, community_name, name)
    )
    return AdviceEmail(member.id, member.email or None, subject, "\n".join(body) + "\n")


def active_members(community: Community, day: dt.date) -> tuple[Member, ...]:
    """The members in the community on ``day``: joined on or before it (or no date), and ``left`` (the first
    day out, as the settlement counts it) after it."""
    return tuple(
        m
        for m in community.members
        if (m.joined is None or m.joined <= day) and (m.left is None or m.left > day)
    )


def member_devices(community: Community, member: Member) -> tuple[str, ...]:
    """The ids of the DUs reading one of ``member``'s PODs (the plants' DUs are not a member's)."""
    pods = {p.code for p in member.pods}
    return tuple(d.id for d in community.devices if d.pod in pods)
