//! The Teams mirror: what Teams last showed, what we believe is in force there, the memory of
//! our own writes that tells an echo from a change (S4), the debounce of rapid flips, the write
//! lane, and the presence session our preferred presence rides on (S2).

use std::time::Instant;

use crate::class::PresenceClass;
use crate::config::Timing;
use crate::io::{Effect, Link, Source};
use crate::retry::Failure;
use crate::teams::{sequence_is_newer, Activity, Availability, TeamsPair, TeamsPresence};

use super::effects::Pending;
use super::links::Lane;
use super::pace::PollPace;
use super::presence::is_out_of_office_state;
use super::timers::Timer;
use super::Engine;

/// What the engine knows of Teams.
#[derive(Debug, Default)]
pub(super) struct TeamsMirror {
    /// The last reading, and when it came.
    pub(super) seen: Option<TeamsPresence>,
    pub(super) seen_at: Option<Instant>,
    /// The value we believe is in force (observed, or our acknowledged write).
    pub(super) known: Option<TeamsPair>,
    /// Values Teams may still report for a while after our write, because it lags (S4).
    stale: Vec<(TeamsPair, Instant)>,
    /// Values we wrote recently: seeing one is an echo, never a change (S4).
    ours: Vec<(TeamsPair, Instant)>,
    written_at: Option<Instant>,
    /// Graph's `sequenceNumber` when we last wrote: a reading stamped later is news, not lag.
    sequence_at_write: Option<String>,
    last_sequence: Option<String>,
    /// A change held back by the debounce until [`Timer::TeamsSettle`].
    pending_change: Option<TeamsPresence>,
    /// Set on logging back in: the next reading shows what Teams computed on its own while we
    /// held nothing, which is a baseline to write over, not a change (L6).
    pub(super) baseline_pending: bool,
    last_adoption: Option<Instant>,
    /// Outlook out of office, as Teams reports it.
    pub(super) out_of_office: bool,
    pub(super) lane: Lane,
    /// A preferred presence of ours may be in force, so the session must stay alive.
    pub(super) holding: bool,
    pub(super) session_alive: bool,
    pub(super) read_in_flight: bool,
    /// Our share of the tenant's presence budget, learned from Graph's 429s.
    pub(super) pace: PollPace,
}

impl TeamsMirror {
    /// Forgets every value we wrote or saw before a write: Teams has caught up.
    fn forget_echoes(&mut self) {
        self.stale.clear();
        self.ours.clear();
    }

    /// Drops the echo memory whose window has ended.
    pub(super) fn prune(&mut self, now: Instant) {
        self.stale.retain(|(_, until)| now < *until);
        self.ours.retain(|(_, until)| now < *until);
    }

    /// True when a reading is explained by Teams lagging behind our writes: the echo of an
    /// earlier write of ours still working its way through, or what Teams showed before our
    /// write (unless Graph's sequence number says the reading is newer than the write).
    pub(super) fn lagging(&self, presence: &TeamsPresence, now: Instant) -> bool {
        let pair = presence.pair.normalised();
        let live = |list: &[(TeamsPair, Instant)]| {
            list.iter()
                .any(|(value, until)| *value == pair && now < *until)
        };
        if live(&self.ours) {
            return true;
        }
        let newer_than_our_write = match (&presence.sequence, &self.sequence_at_write) {
            (Some(sequence), Some(at_write)) => sequence_is_newer(sequence, at_write),
            _ => false,
        };
        !newer_than_our_write && live(&self.stale)
    }

    /// Remembers a write of `target` made at `now`: every value Teams showed or was told
    /// before it may still show until the echo window from this write ends.
    fn remember_write(&mut self, target: &TeamsPair, now: Instant, echo_window: Instant) {
        if let Some(seen) = &self.seen {
            self.stale.push((seen.pair.normalised(), echo_window));
        }
        if let Some(known) = self.known.clone() {
            self.stale.push((known, echo_window));
        }
        // Teams shows our writes in order, so every earlier value may still show until this
        // one does: the whole memory lasts an echo window from the latest write.
        for (_, expiry) in self.ours.iter_mut().chain(self.stale.iter_mut()) {
            *expiry = echo_window;
        }
        self.ours.push((target.clone(), echo_window));
        self.holding = true;
        self.written_at = Some(now);
        self.sequence_at_write = self.last_sequence.clone();
    }

    /// Teams took our write of `target`.
    fn write_landed(&mut self, target: TeamsPair, now: Instant, echo_window: Instant) {
        self.lane.attempts = 0;
        // Readings of what Teams showed before may still arrive (lag).
        if let Some(previous) = self.known.replace(target.clone()) {
            if previous != target {
                self.stale.push((previous, echo_window));
            }
        }
        self.written_at = Some(now);
    }

    /// Teams took our release: nothing of ours is in force there any more.
    fn released(&mut self) {
        self.lane.attempts = 0;
        self.holding = false;
        self.session_alive = false;
        self.known = None;
        self.forget_echoes();
    }
}

/// The write Teams needs to match the agent's state.
enum TeamsAction {
    Prefer(TeamsPair),
    Release,
}

impl Engine {
    fn echo_window_end(&self) -> Instant {
        self.now + Timing::ms(self.timing.echo_window_ms)
    }

    pub(super) fn on_teams(&mut self, presence: TeamsPresence) {
        for value in presence.unrecognised_values() {
            if self.logged_unrecognised.insert(value.clone()) {
                self.diagnostic(format!(
                    "Teams reported an unrecognised {value}; treated as Unknown"
                ));
            }
        }
        if let (Some(sequence), Some(last)) = (&presence.sequence, &self.teams.last_sequence) {
            if sequence_is_newer(last, sequence) {
                return; // An older reading that arrived late.
            }
        }
        if presence.sequence.is_some() {
            self.teams.last_sequence = presence.sequence.clone();
            if self.teams.lane.in_flight.is_some() {
                // Read while our write was on its way: it may predate the write, so only a
                // later stamp counts as news.
                self.teams.sequence_at_write = presence.sequence.clone();
            }
        }
        let ooo_changed = self.teams.out_of_office != presence.out_of_office;
        self.teams.out_of_office = presence.out_of_office;
        self.teams.seen = Some(presence.clone());
        self.teams.seen_at = Some(self.now);
        if ooo_changed {
            self.bump_activity();
        }
        if let Some(repair) = &mut self.repair {
            repair.teams = Some(presence);
            return;
        }
        self.judge_teams(&presence, false);
    }

    /// Decides whether a Teams observation is a genuine change, and adopts it if so.
    pub(super) fn judge_teams(&mut self, presence: &TeamsPresence, immediate: bool) {
        if self.logged_out() || !self.cc.settings().sync_direction.follows_teams() {
            return; // L3: Teams → Salesforce pauses while logged out; S1: direction.
        }
        let pair = presence.pair.normalised();
        let now = self.now;
        let unchanged = self.current.is_none()
            || self.consistent_with_current(presence)
            || self.cc.state_for_teams(presence).is_none();
        if self.teams.known.as_ref() == Some(&pair) && unchanged {
            // Our latest write, echoed back (or nothing changed): nothing to sync (S4, A16).
            // The same pair with the out-of-office overlay turned on or off is a change, though.
            // If we wrote this value only once lately and Teams did not show it just before
            // one of our writes, Teams has caught up with all our writes and older values are
            // news from now on. Otherwise this reading may predate our later writes, so the
            // memory stays until the echo window ends.
            let written = self
                .teams
                .ours
                .iter()
                .filter(|(ours, _)| *ours == pair)
                .count();
            let shown_before_a_write = self.teams.stale.iter().any(|(stale, _)| *stale == pair);
            if written <= 1 && !shown_before_a_write {
                self.teams.forget_echoes();
            }
            self.drop_teams_change();
            return;
        }
        if self.teams.lagging(presence, now) {
            return;
        }
        if self.teams.baseline_pending {
            self.teams.baseline_pending = false;
            self.teams.known = Some(pair);
            return;
        }
        if self.consistent_with_current(presence) {
            self.teams.known = Some(pair);
            self.teams.stale.clear();
            self.drop_teams_change();
            return;
        }
        if self.cc.state_for_teams(presence).is_none() {
            return; // Unknown: never synced (S4 unmappable values).
        }
        let settle = Timing::ms(self.timing.teams_settle_ms);
        match self.teams.last_adoption {
            Some(last) if !immediate && now < last + settle => {
                // A flip right after a synced change: wait until it has held (S4 debounce).
                self.teams.pending_change = Some(presence.clone());
                self.timers.set(Timer::TeamsSettle, last + settle);
            }
            _ => self.adopt_teams(presence),
        }
    }

    /// Forgets a Teams change still settling: something later has won over it.
    pub(super) fn drop_teams_change(&mut self) {
        self.teams.pending_change = None;
        self.timers.stop(Timer::TeamsSettle);
    }

    /// [`Timer::TeamsSettle`]: the change held back by the debounce has held; adopt it.
    pub(super) fn teams_change_settled(&mut self) {
        if let Some(presence) = self.teams.pending_change.take() {
            self.adopt_teams(&presence);
        }
    }

    pub(super) fn consistent_with_current(&self, presence: &TeamsPresence) -> bool {
        let Some(state) = self.current_state() else {
            return false;
        };
        let pair = presence.pair.normalised();
        if state.teams_target() == Some(&pair) {
            return true;
        }
        if self
            .cc
            .state_for_teams(presence)
            .is_some_and(|mapped| mapped.label == state.label)
        {
            return true;
        }
        // On a call, Teams shows "In a call" (Busy/InACall): the same truth, not a change.
        self.current
            .as_ref()
            .is_some_and(|current| current.source == Source::CallInProgress)
            && presence.class() == PresenceClass::Busy
    }

    fn adopt_teams(&mut self, presence: &TeamsPresence) {
        let Some(state) = self.cc.state_for_teams(presence) else {
            return;
        };
        let label = state.label.clone();
        let source = if is_out_of_office_state(state) {
            Source::OutlookOutOfOffice
        } else {
            Source::Teams
        };
        self.teams.known = Some(presence.pair.normalised());
        self.teams.forget_echoes();
        self.drop_teams_change();
        // Only a change of a known state starts the settle window: the first reading after
        // start is a baseline, and debouncing the next change would only add latency.
        if self.current.is_some() {
            self.teams.last_adoption = Some(self.now);
        }
        self.set_current(&label, source);
    }

    fn desired_teams(&self) -> Option<TeamsAction> {
        if !self.cc.settings().sync_direction.writes_teams() {
            return None;
        }
        let state = self.current_state()?;
        if state.class == PresenceClass::LoggedOut {
            return self.teams.holding.then_some(TeamsAction::Release);
        }
        let target = state.teams_target()?.clone();
        if self.teams.known.as_ref() == Some(&target) || self.teams.pending_change.is_some() {
            // In sync, or Teams is changing and its change is settling: writing now would
            // fight it.
            return None;
        }
        // Teams already shows something that means this state, and that reading is newer than
        // our last write: writing would only fight Teams (S5).
        let seen_after_write = match (self.teams.seen_at, self.teams.written_at) {
            (Some(seen), Some(written)) => seen > written,
            (Some(_), None) => true,
            _ => false,
        };
        if seen_after_write {
            if let Some(seen) = &self.teams.seen {
                // An Unknown presence (not enabled, no licence) is not drift to overwrite. A
                // reading explained by lag says nothing of what Teams will show.
                let settled =
                    self.consistent_with_current(seen) && !self.teams.lagging(seen, self.now);
                if settled || seen.class() == PresenceClass::Unknown {
                    return None;
                }
            }
        }
        Some(TeamsAction::Prefer(target))
    }

    /// Whether Teams still has a write of ours to take (quitting waits for it).
    pub(super) fn teams_settled(&self) -> bool {
        self.teams.lane.in_flight.is_none()
            && (self.desired_teams().is_none() || !self.links.usable(Link::Teams))
    }

    pub(super) fn reconcile_teams(&mut self) {
        if !self.lane_ready(Link::Teams) || !self.link_open(Link::Teams) {
            return;
        }
        let Some(action) = self.desired_teams() else {
            return;
        };
        self.timers.stop(Timer::TeamsWriteRetry);
        let id = match action {
            TeamsAction::Prefer(target) => {
                if !self.teams.session_alive {
                    self.keep_session();
                }
                let until = self.echo_window_end();
                self.teams.remember_write(&target, self.now, until);
                self.effects
                    .emit(Pending::WriteTeams(target.clone()), |id| {
                        Effect::WriteTeams { id, target }
                    })
            }
            TeamsAction::Release => self
                .effects
                .emit(Pending::ReleaseTeams, |id| Effect::ReleaseTeams { id }),
        };
        self.teams.lane.in_flight = Some(id);
    }

    /// The outcome of a preferred-presence write.
    pub(super) fn teams_write_done(&mut self, target: TeamsPair, failure: Option<Failure>) {
        self.teams.lane.in_flight = None;
        match failure {
            None => {
                let until = self.echo_window_end();
                self.teams.write_landed(target, self.now, until);
            }
            Some(failure) => self.lane_failed(Link::Teams, &failure),
        }
    }

    /// The outcome of releasing our preferred presence.
    pub(super) fn teams_release_done(&mut self, failure: Option<Failure>) {
        self.teams.lane.in_flight = None;
        match failure {
            None => {
                self.teams.released();
                self.timers.stop(Timer::TeamsKeepalive);
            }
            Some(failure) => self.lane_failed(Link::Teams, &failure),
        }
    }

    /// Renews the Graph presence session our preferred presence needs (S2).
    pub(super) fn keep_session(&mut self) {
        self.teams.session_alive = true;
        self.timers.set(
            Timer::TeamsKeepalive,
            self.now + Timing::ms(self.timing.teams_session_keepalive_ms),
        );
        let pair = TeamsPair::new(Availability::Available, Activity::Available);
        self.effects
            .emit(Pending::KeepSession, |id| Effect::KeepTeamsSession {
                id,
                pair,
            });
    }

    /// The outcome of a session renewal: a failed one is tried again after a backoff.
    pub(super) fn keep_session_done(&mut self, failure: Option<Failure>) {
        let Some(failure) = failure else {
            return;
        };
        self.teams.session_alive = false;
        let attempt = self.links.consecutive_failures(Link::Teams);
        let delay = self.policy.delay(attempt, &failure, &mut self.jitter);
        // Only a session that still carries our presence is worth renewing.
        if self.teams.holding {
            self.timers.set(Timer::TeamsKeepalive, self.now + delay);
        }
    }

    /// [`Timer::TeamsPoll`]: reads Teams, and decides when to read it next (fast while the agent
    /// is active or on a call, slower when idle, never under this app's share of the budget).
    pub(super) fn poll_teams(&mut self) {
        let interval = self.teams_poll_interval_ms(self.agent_active());
        let spread = self.jitter.below_or_equal(interval / 10);
        self.timers
            .set(Timer::TeamsPoll, self.now + Timing::ms(interval + spread));
        if self.teams.read_in_flight || !self.link_open(Link::Teams) {
            return;
        }
        self.read_teams();
    }

    /// Whether the agent did something within the active window, or is on a call.
    fn agent_active(&self) -> bool {
        self.now < self.last_activity + Timing::ms(self.timing.active_window_ms)
            || !self.calls.is_empty()
    }

    /// The gap between two Teams reads: the active or idle interval, never under the floor
    /// nor under the pace the tenant's budget has taught us.
    pub(super) fn teams_poll_interval_ms(&self, active: bool) -> u64 {
        if active {
            self.timing.teams_poll_active_ms
        } else {
            self.timing.teams_poll_idle_ms
        }
        .max(self.timing.teams_poll_floor_ms)
        .max(self.teams.pace.gap_ms())
    }

    /// Reads Teams now.
    pub(super) fn read_teams(&mut self) {
        self.teams.read_in_flight = true;
        self.effects
            .emit(Pending::ReadTeams, |id| Effect::ReadTeams { id });
    }

    /// The outcome of a read: an answer eases the pace; after a failure the next poll waits for
    /// the backoff, and after a 429 also for the pace, which the 429 has slowed by half.
    pub(super) fn teams_read_done(&mut self, failure: Option<Failure>) {
        self.teams.read_in_flight = false;
        let unpaced = self
            .timing
            .teams_poll_active_ms
            .max(self.timing.teams_poll_floor_ms);
        match &failure {
            None => self.teams.pace.answered(unpaced),
            Some(failure) => {
                let mut delay = self.policy.delay(
                    self.links.consecutive_failures(Link::Teams),
                    failure,
                    &mut self.jitter,
                );
                if matches!(failure, Failure::RateLimited { .. }) {
                    let in_use = self.teams_poll_interval_ms(self.agent_active());
                    self.teams
                        .pace
                        .throttled(in_use, self.timing.teams_poll_throttled_max_ms);
                    let gap = self.teams.pace.gap_ms();
                    let paced = Timing::ms(gap + self.jitter.below_or_equal(gap / 10));
                    delay = delay.max(paced);
                }
                self.timers.set(Timer::TeamsPoll, self.now + delay);
            }
        }
        if let Some(repair) = &mut self.repair {
            repair.teams_done = true;
        }
        self.maybe_resolve_repair();
    }
}
