"""The referente adds a member: ``GET /community/members/new`` (the form) and ``POST /community/members/new``.

Rules implemented:

- staff only (referente, admin): anybody else gets the same 404 page as for a page that does not exist, and
  the refusal is audited (``access_denied``); the POST needs the per-session anti-CSRF token
  (:mod:`condivisa.web.csrf`; 403, audited);
- the member is added by :func:`condivisa.auth.member_admin.add_member`: written into the community file
  (``app.state.dashboard_files.community_file``) with the file's own checks, the previous version kept in
  ``history/``, its POD and DU registered in the store, its login created, ``member_added`` audited and the
  new file version shown in the rules history; a refusal (a malformed POD, a duplicate id, POD or DU, a
  missing join date…) shows the form again with the field and the message (400) and writes nothing;
- the running platform sees the new member at once: the app's community (``app.state.use_community``, set by
  :func:`condivisa.app.http_app.create_app`) and the dashboard's (:meth:`condivisa.web.data.Dashboard.
  replace_community`) are replaced while the file is still locked, so two additions never publish out of
  order;
- the initial password is random and shown once, on the answer to the POST (never in a URL; the answer is
  ``Cache-Control: no-store``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from condivisa.auth.member_admin import MemberEditError, NewMember, add_member, add_member_stored
from condivisa.domain.community import MemberCategory
from condivisa.kernel import clock
from condivisa.outputs.i18n import translator
from condivisa.web import csrf, session
from condivisa.web.pages import dashboard, render_page, resolve_lang, staff_only
from condivisa.web.pages_session import csrf_refused
from condivisa.web.tenancy import seen_slug

#: the form's fields
FIELDS = (
    "id",
    "name",
    "category",
    "founder",
    "joined",
    "pod",
    "contract_power_kw",
    "device",
    "email",
    "username",
)
WHAT = "community:members:new"


def _form_page(
    request: Request, who: Any, lang: str, form: dict[str, str], error: MemberEditError | None = None
) -> Response:
    return render_page(
        request,
        "page_member_new.html",
        lang,
        status_code=400 if error else 200,
        who=who,
        community=dashboard(request).community,
        categories=[c.value for c in MemberCategory],
        form=form,
        error=error,
    )


def new_member_form(request: Request) -> Response:
    """``GET /community/members/new``: the empty form (not a founder, joining today), staff only."""
    lang = resolve_lang(request)
    who, refused = staff_only(request, lang, WHAT)
    if refused is not None:
        return refused
    form = {"category": MemberCategory.PRIVATE.value, "founder": "no", "joined": clock.today().isoformat()}
    return _form_page(request, who, lang, form)


def _optional(values: dict[str, str], key: str) -> str | None:
    return values.get(key) or None


def new_member(values: dict[str, str], lang: str) -> NewMember:
    """The form's text as a :class:`NewMember` (a number or a date that is not one is refused by field)."""
    t = translator(lang)
    power = None
    if values.get("contract_power_kw"):
        try:
            power = float(values["contract_power_kw"].replace(",", "."))
        except ValueError:
            raise MemberEditError(
                "contract_power_kw", f"{values['contract_power_kw']!r} {t('am_not_number')}"
            ) from None
    joined = None
    if values.get("joined"):
        try:
            joined = dt.date.fromisoformat(values["joined"])
        except ValueError:
            raise MemberEditError("joined", f"{values['joined']!r} {t('am_not_date')}") from None
    member = NewMember(
        id=values.get("id", ""),
        pod=values.get("pod", ""),
        category=values.get("category") or MemberCategory.PRIVATE.value,
        founder=values.get("founder") == "yes",
        joined=joined,
        name=_optional(values, "name"),
        email=_optional(values, "email"),
        contract_power_kw=power,
        device=_optional(values, "device"),
    )
    member.check()
    return member


def _community_of_page(request: Request) -> tuple[str | None, bool]:
    """The slug of the community the referente runs, and whether it is kept only in the store (not the
    platform's own community file, whose edits go to that file)."""
    tenants = getattr(request.app.state, "tenants", None)
    if tenants is None:
        return None, False
    slug = seen_slug(request)
    return slug, slug is not None and slug != tenants.pinned_slug


def _publisher(request: Request):
    """What makes the running app serve a new community (called by :func:`add_member` under its lock)."""
    state = request.app.state

    def publish(community: Any) -> None:
        use = getattr(state, "use_community", None)
        if use is not None:
            use(community)
        else:  # an app not built by create_app: the holders the dashboard knows
            state.community = community
            session.auth_service(request).community = community
        dash = getattr(state, "dashboard", None)
        if dash is not None:
            dash.replace_community(community)

    return publish


async def new_member_post(request: Request) -> Response:
    """``POST /community/members/new``: add the member, show the login once; the form again on refusal."""
    lang = resolve_lang(request)
    who, refused = staff_only(request, lang, WHAT)
    if refused is not None:
        return refused
    form = await request.form(max_files=0, max_fields=len(FIELDS) + 2)
    try:
        if not csrf.session_ok(request, str(form.get(csrf.CSRF_FIELD) or "")):
            return csrf_refused(request, lang, "members:new", who.username)
        values = {k: str(form.get(k) or "").strip()[:256] for k in FIELDS}
    finally:
        await form.close()
    dashboard(request)  # the dashboard exists before the community changes (NoCommunity otherwise)
    path = request.app.state.dashboard_files.community_file
    slug, stored = _community_of_page(request)
    try:
        member = new_member(values, lang)
        if path is not None and not stored:  # the platform's own community file
            added = await run_in_threadpool(
                add_member,
                request.app.state.store,
                path,
                member,
                actor=who.username,
                username=values["username"] or None,
                publish=_publisher(request),
                community_slug=slug,
            )
        elif stored and slug is not None:  # a community kept in the store: its next version
            added = await run_in_threadpool(
                add_member_stored,
                request.app.state.store,
                slug,
                member,
                actor=who.username,
                username=values["username"] or None,
            )
            request.app.state.tenants.invalidate()
        else:
            raise MemberEditError("community file", translator(lang)("am_no_file"))
    except MemberEditError as exc:
        return _form_page(request, who, lang, values, exc)
    return render_page(
        request,
        "page_member_new.html",
        lang,
        who=who,
        community=dashboard(request).community,
        categories=[c.value for c in MemberCategory],
        form={"category": MemberCategory.PRIVATE.value, "founder": "no", "joined": clock.today().isoformat()},
        added=added,
    )
