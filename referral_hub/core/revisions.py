"""Versions and withdrawals (incident-notification.md, "Amendments and withdrawals").

`revise_for_victim` and `revise_for_perpetrator` are what the router and `referral-hub
route` call for every notification: a function of (the new version, the person's history,
which remembers each incident's last version and what each referral's recipient was sent,
and the configuration) to the actions for recipients (`refer`, `amend`, `recall`) and the
history after. A first version is decided by the rules as always; a higher version is
decided again against the history less its own earlier versions and reconciled with what
was sent; the same or a lower version, or any after a withdrawal, is stale.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from functools import partial
from datetime import UTC, date, datetime
from typing import Callable

from referral_hub.config import HubConfig
from referral_hub.core.disclosure import disclose
from referral_hub.core.history import PerpetratorHistory, SentReferral, VictimHistory, beyond_window
from referral_hub.core.incident import Incident
from referral_hub.core.rules import Decision, decide_for_perpetrator, decide_for_victim, pair_key, perpetrator_key

SUPPORT = ("COMMUNITY_ADVOCACY", "YOUNG_PEOPLE")  # not while a MARAC referral stands
RECALL_REASONS = ("subject_removed", "recipient_changed")


@dataclass(frozen=True)
class Revision:
    """What one notification did to one person's history."""
    actions: list[Decision]
    history: VictimHistory | PerpetratorHistory
    stale: bool = False  # the same or a lower version, or one after a withdrawal: nothing done
    # Actions for later incidents that a late notification brings about, with their incident.
    late_effects: tuple[tuple[Incident, Decision], ...] = ()
    # A perpetrator an earlier version named and this one does not: that perpetrator's
    # history key, and this version without a perpetrator, for the perpetrator stage to
    # recall what it made (subject_removed) and forget the incident.
    former_perpetrator: tuple[str, Incident] | None = None
    # The two people an earlier version named, when this one does not name them both: the
    # key of their pair history, which lets the incident go (PairHistory.letting_go).
    former_pair: str | None = None


def record_digest(decision: Decision, incident: Incident, config: HubConfig) -> str:
    """What the recipient is sent, less its explanation, as `field=hash` per top-level field:
    an amend goes when it changes, and can say which fields changed (names, never values)."""
    _, record = disclose(decision, incident, config)
    record.pop("explanation")
    return ",".join(f"{name}={_hash(value)}" for name, value in sorted(record.items()))


def _hash(value) -> str:
    return hashlib.blake2b(json.dumps(value, sort_keys=True, default=_comparable).encode(),
                           digest_size=6).hexdigest()


def _comparable(value) -> str:
    """Moments in UTC: a record rebuilt from Avro and one from JSON say the same thing."""
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else str(value)


def changed_fields(before: str, after: str) -> list[str]:
    old = dict(part.split("=") for part in before.split(","))
    new = dict(part.split("=") for part in after.split(","))
    return sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))


def revise_for_victim(incident: Incident, history: VictimHistory, config: HubConfig) -> Revision:
    seen_first_late = incident.version > 1 and not history.has(incident.reference)
    revision = _revise(incident, history, config, _for_victim_seen_first_late if seen_first_late
                       else decide_for_victim)
    prior = history.entry(incident.reference)
    if revision.stale:
        return revision
    if prior is not None:
        revision = replace(revision, former_perpetrator=_former_perpetrator(incident, prior),
                           former_pair=_former_pair(incident, prior))
    if incident.status == "withdrawn":
        return revision  # out of history: other incidents' referrals stand
    # A first sighting placed before later incidents, or an amendment (reported_at corrected,
    # a re-grade now referred to MARAC) can make a later incident meet a criterion.
    effects, after = _late_effects(incident, revision.history, config)
    return replace(revision, history=after, late_effects=effects)


def _former_perpetrator(incident: Incident, prior) -> tuple[str, Incident] | None:
    earlier = perpetrator_key(Incident.model_validate_json(prior.notification)) if prior.notification else None
    if earlier is None or earlier == perpetrator_key(incident):
        return None
    return earlier, incident.model_copy(update={"perpetrator": None})


def _former_pair(incident: Incident, prior) -> str | None:
    earlier = pair_key(Incident.model_validate_json(prior.notification)) if prior.notification else None
    return earlier if earlier != pair_key(incident) else None


def _for_victim_seen_first_late(incident: Incident, history: VictimHistory, config: HubConfig) -> list[Decision]:
    """A version above the first that this history sees first (the victim's person id
    corrected, or the earlier versions never came): its referrals were not made here before,
    so are due from the later of reported_at and sent_at; but a child's keeps a first
    version's due_at, as the earlier victim's history may have made it under the same id."""
    children = {child.person_id for child in incident.children}
    as_first = {d.referral_id: d for d in decide_for_victim(incident, history, config)}
    return [as_first[d.referral_id] if d.subject_id in children else d
            for d in decide_for_victim(incident, history, config, clock_start=incident.clock_start)]


def revise_for_perpetrator(incident: Incident, history: PerpetratorHistory, config: HubConfig) -> Revision:
    seen_first_late = incident.version > 1 and not history.has(incident.reference)
    revision = _revise(incident, history, config, partial(decide_for_perpetrator, clock_start=incident.clock_start)
                       if seen_first_late else decide_for_perpetrator)
    if incident.perpetrator is None and not revision.stale:  # no longer this perpetrator's incident
        return replace(revision, history=history.without(incident.reference))
    return revision


# --- a victim's person id corrected -----------------------------------------------------

@dataclass(frozen=True)
class LastVersion:
    """Per incident (force and incident id): whose history holds its last version, and that
    version (JSON), so a version naming another victim can be taken out of the earlier one's."""
    victim_key: str
    version: int
    notification: str

    def forgotten(self, today: date, keep_days: int) -> bool:
        """As a person's history (history._PersonHistory.forgotten): the incident lies more
        than `keep_days` UK calendar days before `today`."""
        return beyond_window(Incident.model_validate_json(self.notification).reported_at, today, keep_days)


def claimed(incident: Incident, last: LastVersion | None) -> tuple[LastVersion | None, tuple[str, Incident] | None]:
    """The incident's last version once this one is in a victim's history, and the departure
    it calls for, if any: (the victim key whose history must let the incident go, the version
    that governs). Either order of two versions naming different victims ends the same way:
    the higher one stands and the other victim's history lets the incident go."""
    if last is None or incident.version > last.version:
        now = LastVersion(incident.key, incident.version, incident.model_dump_json())
        moved = last is not None and last.victim_key != incident.key
        return now, ((last.victim_key, incident) if moved else None)
    if incident.version < last.version and incident.key != last.victim_key:
        return last, (incident.key, Incident.model_validate_json(last.notification))
    return last, None


def depart_victim(incident: Incident, history: VictimHistory, config: HubConfig) -> Revision:
    """`incident` (a higher version) names another victim: it leaves this history, and the
    referrals its earlier version made here whose subject was this victim, or whom it no
    longer names, are recalled (subject_removed); on a withdrawal, every live one is, with its
    reason. A child still named keeps their referral: the new victim's history makes it again
    (the same referral id). Another incident's referrals stand."""
    prior = history.entry(incident.reference)
    if prior is None or incident.version <= prior.version:
        return Revision([], history, stale=True)
    earlier = Incident.model_validate_json(prior.notification)
    live = [s.decision for s in prior.sent if s.live]
    if incident.status == "withdrawn":
        actions = [_recall(d, incident.withdrawal_reason,
                           f"the force withdrew the incident: {incident.withdrawal_reason}") for d in live]
    else:
        actions = [_recall(d, "subject_removed", f"version {incident.version} names another victim")
                   for d in live
                   if d.subject_id == earlier.victim.person_id or d.subject_id not in incident.person_ids]
    return Revision(actions, history.without(incident.reference),
                    former_perpetrator=_former_perpetrator(incident, prior),
                    former_pair=_former_pair(incident, prior))


def _revise(incident: Incident, history, config: HubConfig, decide: Callable) -> Revision:
    if history.is_stale(incident):
        return Revision([], history, stale=True)
    prior = history.entry(incident.reference)
    rest = history.without(incident.reference)
    if incident.status == "withdrawn":
        actions = [_recall(s.decision, incident.withdrawal_reason,
                           f"the force withdrew the incident: {incident.withdrawal_reason}")
                   for s in (prior.sent if prior else ()) if s.live]
        # What it sent is not kept: any version after a withdrawal is stale.
        return Revision(actions, rest.recording(incident, rest.remembered(incident, []), config))
    if prior is None:
        decisions = decide(incident, rest, config)
        sent = tuple(SentReferral(d) for d in decisions)  # digested only if a version follows
        return Revision(decisions, rest.recording(incident, rest.remembered(incident, decisions, sent), config))
    wanted = decide(incident, rest, config, clock_start=incident.clock_start)
    actions, sent = _reconcile(incident, _digested(prior, config), wanted, config)
    live = [s.decision for s in sent if s.live]
    return Revision(actions, rest.recording(incident, rest.remembered(incident, live, sent), config))


def _digested(prior, config: HubConfig) -> tuple[SentReferral, ...]:
    """What was sent, each with its digest: records are digested when a version follows, from
    the notification the history kept (the one they were made from), not when they are made."""
    if all(s.digest for s in prior.sent):
        return prior.sent
    made_from = Incident.model_validate_json(prior.notification)
    return tuple(s if s.digest else replace(s, digest=record_digest(s.decision, made_from, config))
                 for s in prior.sent)


def _reconcile(incident: Incident, before: tuple[SentReferral, ...], wanted: list[Decision],
               config: HubConfig) -> tuple[list[Decision], tuple[SentReferral, ...]]:
    """The actions that bring recipients from what they were sent to what is called for now."""
    was = {s.decision.referral_id: s for s in before}
    wanted_ids = {d.referral_id for d in wanted}
    in_partnership = not config.is_out_of_area(incident.local_authority)
    standing = [s for s in before if s.live and s.decision.referral_id not in wanted_ids
                and s.decision.subject_id in incident.person_ids and not _replaced(s, wanted, in_partnership)]
    if any(s.decision.pathway == "MARAC" for s in standing):
        wanted = [d for d in wanted if d.pathway not in SUPPORT or d.referral_id in was]
    actions: list[Decision] = []
    after: dict[str, SentReferral] = {}
    for decision in wanted:
        previous = was.get(decision.referral_id)
        if previous is None or not previous.live:
            actions.append(decision)
            after[decision.referral_id] = SentReferral(decision)
            continue
        # Same referral: same id and due_at (deadlines never move earlier than those sent).
        decision = replace(decision, due_at=previous.decision.due_at)
        digest = record_digest(decision, incident, config)
        if decision.recipient != previous.decision.recipient:
            actions += [_recall(previous.decision, "recipient_changed",
                                f"the recipient is now {decision.recipient}"), decision]
        elif digest != previous.digest:
            changed = ", ".join(changed_fields(previous.digest, digest))
            actions.append(replace(decision, action="amend", explanation=(
                f"amended by version {incident.version}: changed since the record sent: {changed}",
                *decision.explanation)))
        after[decision.referral_id] = SentReferral(decision)
    for previous in before:
        if previous.decision.referral_id in after:
            continue
        after[previous.decision.referral_id] = previous
        if not previous.live:
            continue
        if previous.decision.subject_id not in incident.person_ids:
            actions.append(_recall(previous.decision, "subject_removed",
                                   f"version {incident.version} no longer names this referral's subject"))
            after[previous.decision.referral_id] = replace(previous, live=False)
        elif _replaced(previous, wanted, in_partnership):
            actions.append(_recall(previous.decision, "recipient_changed",
                                   f"version {incident.version} calls for another pathway in its place"))
            after[previous.decision.referral_id] = replace(previous, live=False)
        elif previous.decision.reasons != ("no_longer_met",):
            stands = replace(previous.decision, reasons=("no_longer_met",), action="amend", explanation=(
                f"no_longer_met: on version {incident.version} this referral would not be made; "
                "it stands, and the recipient decides",))
            actions.append(stands)
            after[previous.decision.referral_id] = SentReferral(stands)
    return actions, tuple(after.values())


def _replaced(sent: SentReferral, wanted: list[Decision], in_partnership: bool) -> bool:
    """Another pathway now stands in for this one: OUT_OF_AREA for every other (the victim
    found to live outside the partnership), or the area's own for OUT_OF_AREA (found to live
    inside it). A change of recipient, not of the facts: recalled, not standing."""
    if sent.decision.pathway == "OUT_OF_AREA":
        return in_partnership
    return any(d.pathway == "OUT_OF_AREA" for d in wanted)


def _recall(decision: Decision, reason: str, why: str) -> Decision:
    return replace(decision, action="recall", reasons=(reason,), explanation=(f"{reason}: {why}",))


# --- late notifications (pathways.md, MARAC criteria) ---------------------------------

MARAC_PAIR = ("MARAC", "IDVA")


def _late_effects(late: Incident, history: VictimHistory, config: HubConfig):
    """Later incidents of the victim that meet a MARAC criterion now that `late` is counted
    (incidents count by reported_at, not arrival): their MARAC and IDVA referrals are made
    (or amended) with `late_notification`, due from the later of their reported_at and the
    late notification's sent_at; a support referral in their place stands (no_longer_met)."""
    effects: list[tuple[Incident, Decision]] = []
    later = sorted((p for p in history.counted if p.reported_at > late.reported_at and p.notification),
                   key=lambda p: p.reported_at)
    for entry in later:
        incident = Incident.model_validate_json(entry.notification)
        starts = max(incident.reported_at, late.sent_at or late.reported_at)
        wanted = [d for d in decide_for_victim(incident, history.without(entry.reference), config,
                                               clock_start=starts) if d.pathway in MARAC_PAIR]
        actions, sent = _met_late(entry.sent, wanted, late)
        if actions:
            effects += [(incident, action) for action in actions]
            history = history.recording(incident, replace(entry, sent=sent, referred_to_marac=True), config)
    return tuple(effects), history


def _met_late(before: tuple[SentReferral, ...], wanted: list[Decision],
              late: Incident) -> tuple[list[Decision], tuple[SentReferral, ...]]:
    live = {s.decision.pathway: s for s in before if s.live}
    if not wanted:
        return [], before
    met_before = set(live["MARAC"].decision.reasons) if "MARAC" in live else set()
    if not set(wanted[0].reasons) - met_before:
        return [], before  # no criterion it did not meet before
    why = (f"late_notification: the incident {late.incident_id}, reported "
           f"{late.reported_date}, arrived after this one and now counts before it")
    after = {s.decision.referral_id: s for s in before}
    actions = []
    for decision in wanted:
        decision = replace(decision, reasons=(*decision.reasons, "late_notification"),
                           explanation=(why, *decision.explanation))
        if decision.pathway in live:
            decision = replace(decision, action="amend", due_at=live[decision.pathway].decision.due_at)
        actions.append(decision)
        after[decision.referral_id] = SentReferral(decision)
    for pathway in SUPPORT:
        if pathway in live and live[pathway].decision.reasons != ("no_longer_met",):
            stands = replace(live[pathway].decision, reasons=("no_longer_met",), action="amend",
                             explanation=(f"no_longer_met: a MARAC referral is now made; {why}",))
            actions.append(stands)
            after[stands.referral_id] = SentReferral(stands)
    return actions, tuple(after.values())
