//! The snapshot: everything tray and panel render, composed from the parts.

use std::time::Instant;

use crate::class::{appearance, PresenceClass};
use crate::io::Link;
use crate::snapshot::{CallPhase, CallView, LinkView, Snapshot, StateChoice, WrapUpView};

use super::presence::is_out_of_office_state;
use super::timers::Timer;
use super::Engine;

impl Engine {
    /// When the running wrap-up ends, if one runs.
    fn wrap_up_until(&self) -> Option<Instant> {
        self.wrap_up
            .return_to
            .as_ref()
            .and(self.timers.get(Timer::WrapUp))
    }

    /// The snapshot: what tray and panel render.
    pub(super) fn view(&self) -> Snapshot {
        let state = self.current_state();
        let base_class = state.map_or(PresenceClass::Unknown, |state| state.class);
        // Ringing shows over every state but Logout (no call is signalled there).
        let ringing = self.calls.any_ringing() && base_class != PresenceClass::LoggedOut;
        let shown_ooo = self.teams.out_of_office && base_class != PresenceClass::LoggedOut;
        let look = appearance(base_class, shown_ooo);
        let (class, label, icon) = if ringing {
            (
                PresenceClass::Busy,
                "Ringing".to_string(),
                appearance(PresenceClass::Busy, false).icon,
            )
        } else {
            let label = match (state, look.overlay_label) {
                // The display-only "Out of Office" state shows its own label.
                (Some(state), Some(_)) if is_out_of_office_state(state) => state.label.clone(),
                (_, Some(overlay)) => overlay.to_string(),
                (Some(state), None) => state.label.clone(),
                (None, None) => "Unknown".to_string(),
            };
            (base_class, label, look.icon)
        };
        let source = self.current.as_ref().map(|current| current.source);
        let not_running = self.setup.cannot_run.is_some();
        let mut source_text = match source {
            _ if not_running => "not running",
            Some(source) => source.describe(),
            None => "not yet known",
        }
        .to_string();
        if ringing {
            // The ringing is not where the state was set: say what rings, and what lies under it.
            let under = state.map_or("Unknown", |state| state.label.as_str());
            source_text = format!("incoming call; {under}, {source_text}");
        }
        let links: Vec<LinkView> = Link::ALL
            .into_iter()
            .map(|link| LinkView::new(link, self.links.state(link).clone()))
            .collect();
        let logged_out = base_class == PresenceClass::LoggedOut;
        let mut tooltip = format!("{label} ({source_text})");
        let setup_lines = self.setup.problems();
        for problem in setup_lines
            .clone()
            .map(String::as_str)
            .chain(links.iter().filter_map(|view| view.problem.as_deref()))
        {
            tooltip.push('\n');
            tooltip.push_str(problem);
        }
        let notes: Vec<String> = setup_lines.cloned().collect();
        let mut problems = notes.clone();
        if logged_out {
            tooltip.push_str("\nNo connection to Teams");
            problems.push("No connection to Teams (logged out)".to_string());
        }
        problems.extend(links.iter().filter_map(|view| view.problem.clone()));
        problems.extend(self.unsaved_line());
        let status_line = if not_running {
            "Not running".to_string()
        } else if source_text.is_empty() {
            label.clone()
        } else {
            format!("{label} · {source_text}")
        };
        let selected = self.current.as_ref().map(|current| current.label.as_str());
        // A sync that cannot run offers nothing to choose (it could not be carried out).
        let choices = self
            .cc
            .selectable()
            .filter(|_| !not_running)
            .map(|choice| StateChoice {
                label: choice.label.clone(),
                class: choice.class,
                icon: appearance(choice.class, false).icon,
                selected: selected.is_some_and(|label| label.eq_ignore_ascii_case(&choice.label)),
            })
            .collect();
        let calls = self
            .calls
            .active
            .iter()
            .map(|call| {
                let phase = if call.answered_at.is_some() {
                    CallPhase::Connected
                } else if call.outbound {
                    CallPhase::Dialling
                } else {
                    CallPhase::Ringing
                };
                CallView::new(
                    call.call_id.clone(),
                    call.kind,
                    phase,
                    call.number.clone(),
                    call.caller.clone(),
                    call.call_waiting,
                )
            })
            .collect();
        let outbound_refusal = self.outbound_refusal();
        Snapshot {
            class,
            label,
            state: state.map(|state| state.label.clone()),
            icon,
            out_of_office: look.shows_out_of_office,
            source,
            source_text,
            status_line,
            problems,
            notes,
            badge: links.iter().any(|view| !view.state.is_connected()),
            tooltip,
            links,
            no_connection_to_teams: logged_out,
            choices,
            softphone: !logged_out && !not_running,
            calls,
            outbound_allowed: outbound_refusal.is_none(),
            outbound_refusal,
            wrap_up: self.wrap_up_until().map(|until| WrapUpView {
                remaining_ms: until.saturating_duration_since(self.now).as_millis() as u64,
                extend_seconds: self.cc.settings().wrap_up_extend_seconds,
            }),
            recent_calls: self.calls.recent.iter().cloned().collect(),
            blocked_calls: self.calls.blocked.iter().cloned().collect(),
            unsaved_calls: self.unsaved.all(),
            teams_presence: self.teams.seen.clone(),
        }
    }
}
