"""Adding a member to ``community.yaml`` without losing what the referente wrote in it.

The community file stays the source of truth: a member added from the dashboard (or ``condivisa members
add``) is written into the file, checked exactly as the file is loaded (:func:`condivisa.domain.config.
community_from_dict` with ``strict=True``), and the previous version is kept.

- :func:`with_new_member` is the pure part: the parsed file (``raw``) plus one member (``members:``) and,
  optionally, the DU that reads its POD (``devices:``); duplicates (member id, POD, DU id) are refused with a
  plain message naming the key.
- :func:`insert_member_text` writes the new entries **into the file's text**: one flow-style line after the
  last entry of ``members:`` and of ``devices:`` (a ``devices:`` list is appended when there is none), so the
  comments, the order and the style of everything else stay as they are. The result is parsed again and must
  equal :func:`with_new_member`'s document; when it does not (a flow-style ``members: [...]``, anchors, an
  unusual layout) the whole document is dumped again with a header comment instead (the comments are then
  only in the backup).
- :func:`write_atomically` replaces the file atomically (temporary file in the same folder, ``fsync``,
  ``os.replace``) after saving the previous bytes in ``history/<name>.<UTC timestamp><suffix>`` next to it.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from condivisa.domain.community import MemberCategory, id_problem
from condivisa.domain.community_file import pod_problem
from condivisa.kernel import clock

#: where the previous versions of the community file are kept, next to it
HISTORY_DIR = "history"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class MemberEditError(ValueError):
    """The new member cannot be added; ``where`` is the form field or file key at fault."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


@dataclass(frozen=True)
class NewMember:
    """One member to add, as the form (or the CLI) gives it: one consumption POD, optionally one DU."""

    id: str
    pod: str
    category: str = MemberCategory.PRIVATE.value
    founder: bool = False
    joined: dt.date | None = None
    name: str | None = None
    email: str | None = None
    contract_power_kw: float | None = None
    device: str | None = None

    def check(self) -> None:
        """The form's own rules, before the file's: ids and POD code well formed, a join date for a member
        who is not a founder, a plausible e-mail."""
        for where, value in (("id", self.id), ("device", self.device)):
            if value is not None and (problem := id_problem(value)):
                raise MemberEditError(where, problem)
        if problem := pod_problem(self.pod):
            raise MemberEditError("pod", problem)
        if self.category not in {c.value for c in MemberCategory}:
            allowed = ", ".join(c.value for c in MemberCategory)
            raise MemberEditError("category", f"{self.category!r} is not one of {allowed}")
        if not self.founder and self.joined is None:
            raise MemberEditError("joined", "a member who is not a founder needs the day they joined")
        for where, text in (("name", self.name), ("email", self.email)):
            if text is not None and any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
                raise MemberEditError(where, "must be one line of text, without control characters")
        if self.email is not None and not _EMAIL.fullmatch(self.email):
            raise MemberEditError("email", f"{self.email!r} is not an e-mail address")
        if self.contract_power_kw is not None and not 0 < self.contract_power_kw < float("inf"):
            raise MemberEditError("contract_power_kw", "must be a number > 0 (kW)")

    def member_entry(self) -> dict[str, Any]:
        """The ``members:`` entry, keys in the order the example file uses."""
        pod: dict[str, Any] = {"pod": self.pod, "kind": "consumption"}
        if self.contract_power_kw is not None:
            pod["contract_power_kw"] = self.contract_power_kw
        entry: dict[str, Any] = {"id": self.id}
        if self.name:
            entry["name"] = self.name
        if self.email:
            entry["email"] = self.email
        entry["category"] = self.category
        entry["founder"] = self.founder
        if self.joined is not None:
            entry["joined"] = self.joined
        entry["pods"] = [pod]
        return entry

    def device_entry(self) -> dict[str, Any] | None:
        """The ``devices:`` entry, or ``None`` without a DU."""
        return {"id": self.device, "pod": self.pod} if self.device else None


def _pods_of(raw: dict[str, Any]) -> dict[str, str]:
    """Every POD code the file writes, with who holds it (``member m1``, ``plant pv1``)."""
    out: dict[str, str] = {}
    for m in raw.get("members") or []:
        if isinstance(m, dict):
            for p in m.get("pods") or []:
                code = p.get("pod") if isinstance(p, dict) else p
                out.setdefault(str(code), f"member {m.get('id')}")
    for p in raw.get("plants") or []:
        if isinstance(p, dict) and "pod" in p:
            out.setdefault(str(p["pod"]), f"plant {p.get('id')}")
    return out


def with_new_member(raw: dict[str, Any], new: NewMember) -> dict[str, Any]:
    """A copy of the parsed community file ``raw`` with ``new`` appended to ``members:`` (and its DU to
    ``devices:``). Raises :class:`MemberEditError` for a duplicate member id, POD or DU id."""
    if not isinstance(raw, dict):
        raise MemberEditError("community file", "expected a mapping at the top level")
    new.check()
    members = raw.get("members") or []
    devices = raw.get("devices") or []
    if not isinstance(members, list) or not isinstance(devices, list):
        raise MemberEditError("community file", "members: and devices: must be lists")
    if any(isinstance(m, dict) and str(m.get("id")) == new.id for m in members):
        raise MemberEditError("id", f"{new.id!r} is already a member of the community")
    producers = raw.get("external_producers") or []
    if new.id == "community" or any(isinstance(p, dict) and str(p.get("id")) == new.id for p in producers):
        raise MemberEditError("id", f"{new.id!r} is the community or an external producer: choose another id")
    if holder := _pods_of(raw).get(new.pod):
        raise MemberEditError("pod", f"POD {new.pod} is already in the community ({holder})")
    if new.device and any(isinstance(d, dict) and str(d.get("id")) == new.device for d in devices):
        raise MemberEditError("device", f"DU {new.device} is already registered in the community file")
    out = copy.deepcopy(raw)
    out["members"] = [*members, new.member_entry()]
    if (device := new.device_entry()) is not None:
        out["devices"] = [*devices, device]
    return out


def flow_line(entry: dict[str, Any]) -> str:
    """``entry`` as one flow-style YAML mapping: ``{id: m6, name: Famiglia Gialli, ...}``."""
    text = yaml.safe_dump(
        entry, default_flow_style=True, sort_keys=False, allow_unicode=True, width=10**6
    ).strip()
    return text.removesuffix("...").strip()


def _last_end(node: yaml.Node) -> yaml.Mark:
    """Where the last value written inside ``node`` ends (a block collection's own end mark may be past the
    comments that follow it)."""
    while isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, yaml.MappingNode) else last
    return node.end_mark


def _block_list(root: yaml.MappingNode, key: str) -> yaml.SequenceNode | None:
    for k, v in root.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            ok = isinstance(v, yaml.SequenceNode) and not v.flow_style and v.value
            return v if ok else None
    return None


def _insert_after_last(lines: list[str], seq: yaml.SequenceNode, entry: dict[str, Any], nl: str) -> None:
    end = _last_end(seq.value[-1])
    at = end.line + 1 if end.column > 0 else end.line
    lines.insert(at, " " * seq.start_mark.column + "- " + flow_line(entry) + nl)


def insert_member_text(text: str, new: NewMember) -> tuple[str, bool]:
    """The community file's ``text`` with ``new`` written in, and whether the text was kept (``True``: two
    lines inserted, everything else untouched; ``False``: the document dumped again). Raises
    :class:`MemberEditError` when the new member is refused (:func:`with_new_member`)."""
    raw = yaml.safe_load(text)
    expected = with_new_member(raw, new)
    nl = "\r\n" if "\r\n" in text else "\n"
    try:
        root = yaml.compose(text)
        members = _block_list(root, "members") if isinstance(root, yaml.MappingNode) else None
        if members is None or not isinstance(root, yaml.MappingNode):
            raise ValueError("members: is not a block list")
        lines = text.splitlines(keepends=True)
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines[-1] += nl
        device = new.device_entry()
        if device is not None:  # first the later position, so the earlier one's line number holds
            devices = _block_list(root, "devices")
            if devices is None and "devices" in raw:
                raise ValueError("devices: is not a block list")
            if devices is not None and devices.start_mark.line > members.start_mark.line:
                _insert_after_last(lines, devices, device, nl)
                _insert_after_last(lines, members, new.member_entry(), nl)
            elif devices is not None:
                _insert_after_last(lines, members, new.member_entry(), nl)
                _insert_after_last(lines, devices, device, nl)
            else:
                _insert_after_last(lines, members, new.member_entry(), nl)
                lines += ["devices:" + nl, "  - " + flow_line(device) + nl]
        else:
            _insert_after_last(lines, members, new.member_entry(), nl)
        out = "".join(lines)
        if yaml.safe_load(out) == expected:
            return out, True
    except (yaml.YAMLError, ValueError, IndexError):
        pass
    stamp = clock.now().astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = (
        f"# community file rewritten by condivisa on {stamp} (member {new.id} added); the previous version,\n"
        f"# with its comments, is in the {HISTORY_DIR}/ folder next to this file\n"
    )
    body = yaml.safe_dump(expected, sort_keys=False, allow_unicode=True, width=120)
    return header + body, False


def _write_synced(path: Path, data: bytes, mode: int | None) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # the rename itself survives a crash once the folder is synced
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def backup_path(path: Path, now: dt.datetime) -> Path:
    """``history/<stem>.<YYYYmmddTHHMMSSZ><suffix>`` next to ``path`` (``-1``, ``-2`` … when taken)."""
    folder = path.parent / HISTORY_DIR
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    candidate, n = folder / f"{path.stem}.{stamp}{path.suffix}", 0
    while candidate.exists():
        n += 1
        candidate = folder / f"{path.stem}.{stamp}-{n}{path.suffix}"
    return candidate


def write_atomically(path: Path, old: bytes, new: bytes, now: dt.datetime) -> Path:
    """Keep ``old`` (the file's current bytes) in :func:`backup_path`, then replace ``path`` with ``new``
    atomically; the backup's path."""
    path = Path(path).resolve()  # a symlinked community file: write its target, keep the link
    mode = path.stat().st_mode & 0o7777 if path.exists() else None
    backup = backup_path(path, now)
    backup.parent.mkdir(exist_ok=True)
    _write_synced(backup, old, mode)
    _write_synced(path, new, mode)
    return backup
