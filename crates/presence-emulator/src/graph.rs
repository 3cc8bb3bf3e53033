//! Microsoft Graph presence, as the emulator models it: presence sessions (Teams clients and
//! apps), the user-preferred presence, out of office, the Available fade and session expiry,
//! and the aggregation rules of Graph's documentation.

use std::collections::BTreeMap;

use serde_json::{json, Value};

/// The app session id of a signed-in Teams desktop client, seeded for every agent.
pub const TEAMS_CLIENT_SESSION: &str = "teams-desktop";
/// Sessions the control API uses to act as Teams itself.
pub const MEETING_SESSION: &str = "teams-calendar";
pub const PRESENTING_SESSION: &str = "teams-presenting";
pub const FOCUS_SESSION: &str = "viva-focus";
pub const CALL_SESSION: &str = "teams-call";

const FADE_MS: i64 = 5 * 60_000;

/// The pairs `setPresence` accepts.
pub const SET_PRESENCE_PAIRS: &[(&str, &str)] = &[
    ("Available", "Available"),
    ("Busy", "InACall"),
    ("Busy", "InAConferenceCall"),
    ("Away", "Away"),
    ("DoNotDisturb", "Presenting"),
];

/// The pairs `setUserPreferredPresence` accepts (the user-configured states).
pub const PREFERRED_PAIRS: &[(&str, &str)] = &[
    ("Available", "Available"),
    ("Busy", "Busy"),
    ("DoNotDisturb", "DoNotDisturb"),
    ("BeRightBack", "BeRightBack"),
    ("Away", "Away"),
    ("Offline", "OffWork"),
];

/// Finds an allowed pair ignoring case, returning Graph's spelling.
pub fn allowed_pair(
    allowed: &[(&'static str, &'static str)],
    availability: &str,
    activity: &str,
) -> Option<(&'static str, &'static str)> {
    allowed
        .iter()
        .find(|(a, b)| a.eq_ignore_ascii_case(availability) && b.eq_ignore_ascii_case(activity))
        .copied()
}

#[derive(Debug, Clone)]
pub struct Session {
    pub availability: String,
    pub activity: String,
    pub last_refresh_ms: i64,
    /// `None` for a Teams client, which keeps itself alive.
    pub expires_ms: Option<i64>,
    /// Teams clients do not fade; app sessions set to Available do.
    pub fades: bool,
}

#[derive(Debug, Clone)]
pub struct Preferred {
    pub availability: String,
    pub activity: String,
    pub expires_ms: i64,
    pub set_ms: i64,
}

#[derive(Debug, Clone, Default)]
pub struct GraphUser {
    pub sessions: BTreeMap<String, Session>,
    pub preferred: Option<Preferred>,
    pub status_message: Option<Value>,
    pub out_of_office: bool,
    pub out_of_office_message: Option<String>,
    pub sequence: u64,
    pub last_effective: Option<(String, String, bool)>,
    pub changed_at_ms: i64,
}

fn rank(availability: &str) -> u8 {
    match availability {
        "DoNotDisturb" => 4,
        "Busy" => 3,
        "Available" => 2,
        "Away" | "BeRightBack" => 1,
        _ => 0,
    }
}

impl GraphUser {
    /// A signed-in Teams client showing Available.
    pub fn with_teams_client(now_ms: i64) -> Self {
        let mut user = Self::default();
        user.sessions.insert(
            TEAMS_CLIENT_SESSION.into(),
            Session {
                availability: "Available".into(),
                activity: "Available".into(),
                last_refresh_ms: now_ms,
                expires_ms: None,
                fades: false,
            },
        );
        user.refresh(now_ms);
        user
    }

    /// The session's state after the Available fade (+5 min AvailableInactive, +10 min Away).
    fn faded(session: &Session, now_ms: i64) -> (String, String) {
        if session.fades && session.availability == "Available" {
            let idle = now_ms - session.last_refresh_ms;
            if idle >= 2 * FADE_MS {
                return ("Away".into(), "Away".into());
            }
            if idle >= FADE_MS {
                return ("Available".into(), "AvailableInactive".into());
            }
        }
        (session.availability.clone(), session.activity.clone())
    }

    /// The aggregated presence (availability, activity) before the out-of-office overlay.
    pub fn aggregate(&self, now_ms: i64) -> (String, String) {
        let live: Vec<(String, String, i64)> = self
            .sessions
            .values()
            .filter(|session| session.expires_ms.is_none_or(|at| at > now_ms))
            .map(|session| {
                let (a, b) = Self::faded(session, now_ms);
                (a, b, session.last_refresh_ms)
            })
            .collect();
        if live.is_empty() {
            // A preferred presence needs at least one session.
            return ("Offline".into(), "Offline".into());
        }
        let best_session = live
            .iter()
            .max_by_key(|(availability, _, refreshed)| (rank(availability), *refreshed))
            .map(|(a, b, _)| (a.clone(), b.clone()))
            .unwrap_or_else(|| ("Offline".into(), "Offline".into()));
        match self.preferred.as_ref().filter(|p| p.expires_ms > now_ms) {
            Some(preferred) => {
                // Emulator choice (documented): a preferred Available lets Teams' own
                // app-configured Busy and DoNotDisturb states (a meeting, a call, presenting,
                // focus) show through, as Teams' "Available" follows activity.
                let app_configured_busy = rank(&best_session.0) >= 3
                    && !matches!(best_session.1.as_str(), "Busy" | "DoNotDisturb");
                if preferred.availability == "Available" && app_configured_busy {
                    best_session
                } else {
                    (preferred.availability.clone(), preferred.activity.clone())
                }
            }
            None => best_session,
        }
    }

    /// The effective presence with out of office applied: (availability, activity, ooo).
    pub fn effective(&self, now_ms: i64) -> (String, String, bool) {
        let (availability, activity) = self.aggregate(now_ms);
        if !self.out_of_office {
            return (availability, activity, false);
        }
        let activity = match activity.as_str() {
            "Available" | "Away" | "BeRightBack" | "Offline" | "OffWork" | "Inactive"
            | "AvailableInactive" => "OutOfOffice".to_string(),
            _ => activity,
        };
        (availability, activity, true)
    }

    /// Recomputes the effective presence; bumps the sequence number when it changed. Returns
    /// whether it changed.
    pub fn refresh(&mut self, now_ms: i64) -> bool {
        let effective = self.effective(now_ms);
        if self.last_effective.as_ref() != Some(&effective) {
            self.last_effective = Some(effective);
            self.sequence += 1;
            self.changed_at_ms = now_ms;
            true
        } else {
            false
        }
    }

    pub fn sequence_number(&self) -> String {
        format!("C2C{:025}", self.sequence)
    }

    /// The presence resource as Graph serves it.
    pub fn resource(&self, id: &str, now_ms: i64, include_message_times: bool) -> Value {
        let (availability, activity, ooo) = self.effective(now_ms);
        let status_message = match &self.status_message {
            Some(message) if include_message_times => message.clone(),
            Some(message) => {
                let mut message = message.clone();
                if let Some(map) = message.as_object_mut() {
                    map.remove("expiryDateTime");
                    map.remove("publishedDateTime");
                }
                message
            }
            None => Value::Null,
        };
        json!({
            "@odata.context": format!("https://graph.microsoft.com/v1.0/$metadata#users('{id}')/presence/$entity"),
            "id": id,
            "availability": availability,
            "activity": activity,
            "statusMessage": status_message,
            "outOfOfficeSettings": { "message": self.out_of_office_message, "isOutOfOffice": ooo },
            "sequenceNumber": self.sequence_number(),
        })
    }
}

/// Parses an ISO 8601 duration of the forms Graph uses (`PT5M`, `PT1H30M`, `PT45S`, `P1D`).
pub fn parse_iso_duration_ms(text: &str) -> Option<i64> {
    let text = text.trim().to_ascii_uppercase();
    let rest = text.strip_prefix('P')?;
    let (days_part, time_part) = match rest.split_once('T') {
        Some((d, t)) => (d, t),
        None => (rest, ""),
    };
    let mut total: f64 = 0.0;
    let mut number = String::new();
    for ch in days_part.chars() {
        match ch {
            '0'..='9' | '.' => number.push(ch),
            'D' => {
                total += number.parse::<f64>().ok()? * 86_400_000.0;
                number.clear();
            }
            _ => return None,
        }
    }
    if !number.is_empty() {
        return None;
    }
    for ch in time_part.chars() {
        match ch {
            '0'..='9' | '.' => number.push(ch),
            'H' => {
                total += number.parse::<f64>().ok()? * 3_600_000.0;
                number.clear();
            }
            'M' => {
                total += number.parse::<f64>().ok()? * 60_000.0;
                number.clear();
            }
            'S' => {
                total += number.parse::<f64>().ok()? * 1000.0;
                number.clear();
            }
            _ => return None,
        }
    }
    if !number.is_empty() || text == "P" || text == "PT" {
        return None;
    }
    Some(total as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_iso_duration_ms("PT5M"), Some(300_000));
        assert_eq!(parse_iso_duration_ms("PT1H30M"), Some(5_400_000));
        assert_eq!(parse_iso_duration_ms("P1D"), Some(86_400_000));
        assert_eq!(parse_iso_duration_ms("pt45s"), Some(45_000));
        assert_eq!(parse_iso_duration_ms("5 minutes"), None);
        assert_eq!(parse_iso_duration_ms("PT"), None);
    }

    #[test]
    fn preferred_overrides_sessions_and_dnd_beats_busy_among_sessions() {
        let mut user = GraphUser::with_teams_client(0);
        user.sessions.insert(
            "app".into(),
            Session {
                availability: "Busy".into(),
                activity: "InACall".into(),
                last_refresh_ms: 0,
                expires_ms: Some(3_600_000),
                fades: true,
            },
        );
        assert_eq!(user.aggregate(1), ("Busy".into(), "InACall".into()));
        user.preferred = Some(Preferred {
            availability: "DoNotDisturb".into(),
            activity: "DoNotDisturb".into(),
            expires_ms: 86_400_000,
            set_ms: 0,
        });
        assert_eq!(
            user.aggregate(1),
            ("DoNotDisturb".into(), "DoNotDisturb".into())
        );
    }

    #[test]
    fn an_app_session_fades_then_expires() {
        let mut user = GraphUser::default();
        user.sessions.insert(
            "app".into(),
            Session {
                availability: "Available".into(),
                activity: "Available".into(),
                last_refresh_ms: 0,
                expires_ms: Some(3_600_000),
                fades: true,
            },
        );
        assert_eq!(user.aggregate(299_999).1, "Available");
        assert_eq!(user.aggregate(300_000).1, "AvailableInactive");
        assert_eq!(user.aggregate(600_000), ("Away".into(), "Away".into()));
        assert_eq!(
            user.aggregate(3_600_000),
            ("Offline".into(), "Offline".into())
        );
    }

    #[test]
    fn out_of_office_sets_the_activity_where_graph_does() {
        let mut user = GraphUser::with_teams_client(0);
        user.out_of_office = true;
        assert_eq!(
            user.effective(1),
            ("Available".into(), "OutOfOffice".into(), true)
        );
    }
}
