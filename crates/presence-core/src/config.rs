//! The Call Center presence configuration as data: the states an agent can be in, what each
//! means for Teams and for calls, and the Call Center's settings. Parsed from the same shape as
//! our Salesforce package's `Call_Center_Presence_State__c` records, validated once with clear
//! errors, and used by the engine only in its validated form ([`CallCenter`]).

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::class::PresenceClass;
use crate::teams::{Activity, Availability, TeamsPair, TeamsPresence};

/// The shipped default configuration, embedded in the binary. One file for app and package:
/// the Salesforce package ships it as a static resource its setup loads into the org.
pub const SHIPPED_DEFAULT_JSON: &str = include_str!(
    "../../../salesforce/force-app/main/default/staticresources/PresenceBridgeDefaultCallCenter.json"
);

/// Longest state label accepted (Salesforce `Name` fields hold 80 characters).
pub const MAX_LABEL_CHARS: usize = 80;

/// Longest wrap-up accepted, in seconds (W1: 1 to 999, 0 = off).
pub const MAX_WRAP_UP_SECONDS: u32 = 999;

/// One configured presence state (`Call_Center_Presence_State__c`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceStateDef {
    /// `Name`: the label shown everywhere.
    pub label: String,
    /// `Class__c`.
    pub class: PresenceClass,
    /// `Teams_Availability__c` / `Teams_Activity__c`: for a selectable state, the target written
    /// to Teams; for a display-only state, the Teams value it stands for. `None` for Logout.
    pub teams: Option<TeamsPair>,
    /// `Selectable__c`: whether the agent can pick it (tray, panel, Salesforce).
    pub selectable: bool,
    /// `Signals_Inbound__c`: whether direct calls are signalled in this state.
    pub signals_inbound: bool,
    /// `Allows_Outbound__c`: whether the agent may place calls in this state.
    pub allows_outbound: bool,
    /// `Sort_Order__c`: order in menus, and precedence when two states share a Teams value.
    pub sort_order: u32,
}

impl PresenceStateDef {
    /// The value written to Teams for this state, if it can be written at all: only
    /// user-configured pairs can (S2, S3).
    pub fn teams_target(&self) -> Option<&TeamsPair> {
        self.teams.as_ref().filter(|pair| pair.is_user_configured())
    }
}

/// Which way presence flows (S1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncDirection {
    Both,
    SalesforceToTeams,
    TeamsToSalesforce,
}

impl SyncDirection {
    pub fn writes_teams(self) -> bool {
        matches!(self, SyncDirection::Both | SyncDirection::SalesforceToTeams)
    }

    pub fn follows_teams(self) -> bool {
        matches!(self, SyncDirection::Both | SyncDirection::TeamsToSalesforce)
    }
}

/// The Call Center record's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallCenterSettings {
    /// `Wrap_Up_Seconds__c`: 0 = off, 1 to 999 (W1).
    pub wrap_up_seconds: u32,
    /// How much one click on "extend" adds to a running wrap-up (W2).
    pub wrap_up_extend_seconds: u32,
    /// `Presence_Routing__c`: queue calls only while Available (C5).
    pub presence_routing: bool,
    /// `Sync_Direction__c` (S1).
    pub sync_direction: SyncDirection,
    /// `Log_Missed_Calls__c` (G1).
    pub log_missed_calls: bool,
    /// Quitting the app logs out first (L7).
    pub logout_on_quit: bool,
    /// The state taken when a call is answered (C7).
    pub on_call_state: String,
    /// The state held during wrap-up (W1).
    pub wrap_up_state: String,
}

/// The engine's timers and limits. Not part of the Call Center record: these are app settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timing {
    /// How long a value we wrote is remembered as ours (S4: minutes, since Teams lags).
    pub echo_window_ms: u64,
    /// After a Teams change was synced, further Teams changes wait until they have held this
    /// long (S4: rapid flips are debounced).
    pub teams_settle_ms: u64,
    /// Interval of the periodic drift repair (S7).
    pub drift_repair_ms: u64,
    /// Interval of the Graph presence-session keep-alive; must stay under 5 minutes (S2).
    pub teams_session_keepalive_ms: u64,
    /// Interval of the `Agent_Presence__c` heartbeat (L7).
    pub heartbeat_ms: u64,
    /// Teams poll interval while the agent is active, on a call or just changed state.
    pub teams_poll_active_ms: u64,
    /// Teams poll interval when idle.
    pub teams_poll_idle_ms: u64,
    /// How long after activity the fast poll lasts.
    pub active_window_ms: u64,
    /// This app's share of the tenant's presence budget, as the shortest interval between two
    /// polls (1,500 requests per 30 s shared by every agent of the tenant).
    pub teams_poll_floor_ms: u64,
    /// The slowest the poll may be paced down to while Graph throttles the tenant's presence
    /// reads (each 429 doubles the gap between reads, up to this).
    pub teams_poll_throttled_max_ms: u64,
    /// First retry delay after a failure.
    pub retry_base_ms: u64,
    /// Longest computed retry delay.
    pub retry_cap_ms: u64,
    /// Longest server-requested wait (`Retry-After`) honoured; longer values are clamped.
    pub retry_after_cap_ms: u64,
    /// Consecutive transient failures after which a link counts as Disconnected (K1).
    pub failures_before_disconnected: u32,
    /// How long quitting waits for the logout writes (L7).
    pub quit_grace_ms: u64,
    /// Recent and blocked calls kept for the panel.
    pub recent_calls_kept: usize,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            echo_window_ms: 10 * 60_000,
            teams_settle_ms: 3_000,
            drift_repair_ms: 5 * 60_000,
            teams_session_keepalive_ms: 4 * 60_000,
            heartbeat_ms: 30_000,
            teams_poll_active_ms: 1_000,
            teams_poll_idle_ms: 5_000,
            active_window_ms: 60_000,
            teams_poll_floor_ms: 1_000,
            teams_poll_throttled_max_ms: 60_000,
            retry_base_ms: 1_000,
            retry_cap_ms: 5 * 60_000,
            retry_after_cap_ms: 15 * 60_000,
            failures_before_disconnected: 3,
            quit_grace_ms: 3_000,
            recent_calls_kept: 20,
        }
    }
}

impl Timing {
    pub(crate) fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }

    /// Checks the timers against the limits the rules and the clouds set.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let graph_session_timeout_ms = 5 * 60_000;
        if self.teams_session_keepalive_ms == 0
            || self.teams_session_keepalive_ms >= graph_session_timeout_ms
        {
            return Err(ConfigError::Timing(format!(
                "teams_session_keepalive_ms is {} but must be between 1 and {} (Graph drops an app session after 5 minutes)",
                self.teams_session_keepalive_ms,
                graph_session_timeout_ms - 1
            )));
        }
        let positive = [
            ("echo_window_ms", self.echo_window_ms),
            ("drift_repair_ms", self.drift_repair_ms),
            ("heartbeat_ms", self.heartbeat_ms),
            ("teams_poll_active_ms", self.teams_poll_active_ms),
            ("teams_poll_idle_ms", self.teams_poll_idle_ms),
            (
                "teams_poll_throttled_max_ms",
                self.teams_poll_throttled_max_ms,
            ),
            ("retry_base_ms", self.retry_base_ms),
            ("retry_cap_ms", self.retry_cap_ms),
            ("retry_after_cap_ms", self.retry_after_cap_ms),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(ConfigError::Timing(format!(
                "{name} must be greater than 0"
            )));
        }
        if self.retry_cap_ms < self.retry_base_ms {
            return Err(ConfigError::Timing(
                "retry_cap_ms must not be below retry_base_ms".into(),
            ));
        }
        if self.failures_before_disconnected == 0 {
            return Err(ConfigError::Timing(
                "failures_before_disconnected must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// A configuration as written (settings file, Salesforce records), before validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallCenterConfig {
    pub states: Vec<PresenceStateDef>,
    pub settings: CallCenterSettings,
}

/// Why a configuration was refused. Each message names the state or setting at fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("the configuration could not be read: {0}")]
    Unreadable(String),
    #[error("the configuration has no presence states")]
    NoStates,
    #[error("state #{position} has an empty label")]
    EmptyLabel { position: usize },
    #[error("state label {label:?} is longer than {MAX_LABEL_CHARS} characters")]
    LabelTooLong { label: String },
    #[error("state label {label:?} is used twice (labels are compared ignoring case)")]
    DuplicateLabel { label: String },
    #[error("state {label:?} has class Unknown, which is for Teams values only")]
    UnknownClass { label: String },
    #[error("state {label:?} is selectable but its Teams target {pair} cannot be set (only Available/Available, Busy/Busy, DoNotDisturb/DoNotDisturb, BeRightBack/BeRightBack, Away/Away and Offline/OffWork can)")]
    UnsettableTeamsTarget { label: String, pair: String },
    #[error("there is no Logout state (a state of class LoggedOut); rule L1 needs one")]
    MissingLogout,
    #[error("there is more than one LoggedOut state: {labels:?}")]
    SeveralLogouts { labels: Vec<String> },
    #[error("the Logout state {label:?} must be selectable (rule L1)")]
    LogoutNotSelectable { label: String },
    #[error("the Logout state {label:?} must have no Teams value: logging out hands Teams back to itself (rule L3)")]
    LogoutWithTeamsTarget { label: String },
    #[error("state {label:?} of class {class:?} cannot signal inbound calls (rule C1)")]
    SignalsWhileBlocking { label: String, class: PresenceClass },
    #[error("state {label:?} of class {class:?} cannot allow outbound calls (rule C3)")]
    OutboundWhileBlocking { label: String, class: PresenceClass },
    #[error("setting {setting} names state {label:?}, which is not configured")]
    MissingNamedState {
        setting: &'static str,
        label: String,
    },
    #[error("the on-call state {label:?} needs a Teams target that can be set (rule S2 writes Busy/Busy)")]
    OnCallStateNotWritable { label: String },
    #[error("the wrap-up state {label:?} must be of class DoNotDisturb (rule W1)")]
    WrapUpStateNotDoNotDisturb { label: String },
    #[error("wrap_up_seconds is {value}; it must be 0 (off) or 1 to {MAX_WRAP_UP_SECONDS}")]
    WrapUpOutOfRange { value: u32 },
    #[error("no state other than Logout can be selected")]
    NothingSelectable,
    #[error("timing: {0}")]
    Timing(String),
}

impl CallCenterConfig {
    /// Parses a configuration from JSON, rejecting unknown keys.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        serde_json::from_str(text).map_err(|error| ConfigError::Unreadable(error.to_string()))
    }

    /// The shipped default set, unvalidated (for editing or display).
    pub fn shipped_default_unvalidated() -> Self {
        // The embedded file is part of the build and covered by tests; a broken one must not
        // ship, so this is the one place a parse failure is a programming error.
        #[allow(clippy::expect_used)]
        Self::from_json(SHIPPED_DEFAULT_JSON).expect("the shipped default configuration parses")
    }

    /// The shipped default set, validated.
    pub fn shipped_default() -> CallCenter {
        #[allow(clippy::expect_used)]
        Self::shipped_default_unvalidated()
            .validate()
            .expect("the shipped default configuration is valid")
    }

    /// Checks every rule a configuration must meet and returns the validated form.
    pub fn validate(self) -> Result<CallCenter, ConfigError> {
        if self.states.is_empty() {
            return Err(ConfigError::NoStates);
        }
        let mut seen = HashSet::new();
        for (index, state) in self.states.iter().enumerate() {
            let label = state.label.trim();
            if label.is_empty() {
                return Err(ConfigError::EmptyLabel {
                    position: index + 1,
                });
            }
            if label.chars().count() > MAX_LABEL_CHARS {
                return Err(ConfigError::LabelTooLong {
                    label: label.to_string(),
                });
            }
            if !seen.insert(label.to_lowercase()) {
                return Err(ConfigError::DuplicateLabel {
                    label: label.to_string(),
                });
            }
            validate_state(state)?;
        }
        let logouts: Vec<&PresenceStateDef> = self
            .states
            .iter()
            .filter(|state| state.class == PresenceClass::LoggedOut)
            .collect();
        let logout = match logouts.as_slice() {
            [] => return Err(ConfigError::MissingLogout),
            [one] => *one,
            many => {
                return Err(ConfigError::SeveralLogouts {
                    labels: many.iter().map(|state| state.label.clone()).collect(),
                })
            }
        };
        if !logout.selectable {
            return Err(ConfigError::LogoutNotSelectable {
                label: logout.label.clone(),
            });
        }
        if logout.teams.is_some() {
            return Err(ConfigError::LogoutWithTeamsTarget {
                label: logout.label.clone(),
            });
        }
        if !self
            .states
            .iter()
            .any(|state| state.selectable && state.class != PresenceClass::LoggedOut)
        {
            return Err(ConfigError::NothingSelectable);
        }
        let settings = &self.settings;
        if settings.wrap_up_seconds > MAX_WRAP_UP_SECONDS {
            return Err(ConfigError::WrapUpOutOfRange {
                value: settings.wrap_up_seconds,
            });
        }
        let find = |setting: &'static str, label: &str| {
            self.states
                .iter()
                .find(|state| state.label.trim().eq_ignore_ascii_case(label.trim()))
                .ok_or_else(|| ConfigError::MissingNamedState {
                    setting,
                    label: label.to_string(),
                })
        };
        let on_call = find("on_call_state", &settings.on_call_state)?;
        if on_call.teams_target().is_none() {
            return Err(ConfigError::OnCallStateNotWritable {
                label: on_call.label.clone(),
            });
        }
        let wrap_up = find("wrap_up_state", &settings.wrap_up_state)?;
        if wrap_up.class != PresenceClass::DoNotDisturb {
            return Err(ConfigError::WrapUpStateNotDoNotDisturb {
                label: wrap_up.label.clone(),
            });
        }
        let on_call_label = on_call.label.trim().to_string();
        let wrap_up_label = wrap_up.label.trim().to_string();
        let logout_label = logout.label.trim().to_string();
        let mut states: Vec<PresenceStateDef> = self
            .states
            .into_iter()
            .map(|mut state| {
                state.label = state.label.trim().to_string();
                state
            })
            .collect();
        states.sort_by_key(|state| state.sort_order);
        Ok(CallCenter {
            states,
            settings: self.settings,
            on_call_label,
            wrap_up_label,
            logout_label,
        })
    }
}

fn validate_state(state: &PresenceStateDef) -> Result<(), ConfigError> {
    let label = state.label.trim().to_string();
    if state.class == PresenceClass::Unknown {
        return Err(ConfigError::UnknownClass { label });
    }
    if state.selectable {
        if let Some(pair) = &state.teams {
            if !pair.is_user_configured() {
                return Err(ConfigError::UnsettableTeamsTarget {
                    label,
                    pair: pair.to_string(),
                });
            }
        }
    }
    if state.class.blocks_calls() && state.signals_inbound {
        return Err(ConfigError::SignalsWhileBlocking {
            label,
            class: state.class,
        });
    }
    if state.class.blocks_calls() && state.allows_outbound {
        return Err(ConfigError::OutboundWhileBlocking {
            label,
            class: state.class,
        });
    }
    Ok(())
}

/// A validated Call Center configuration. The only way to get one is
/// [`CallCenterConfig::validate`], so the engine never meets a broken configuration (it is
/// written as its [`CallCenterConfig`], and read back through the same validation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "CallCenterConfig", try_from = "CallCenterConfig")]
pub struct CallCenter {
    states: Vec<PresenceStateDef>,
    settings: CallCenterSettings,
    on_call_label: String,
    wrap_up_label: String,
    logout_label: String,
}

impl From<CallCenter> for CallCenterConfig {
    fn from(call_center: CallCenter) -> Self {
        CallCenterConfig {
            states: call_center.states,
            settings: call_center.settings,
        }
    }
}

impl TryFrom<CallCenterConfig> for CallCenter {
    type Error = ConfigError;

    fn try_from(config: CallCenterConfig) -> Result<Self, ConfigError> {
        config.validate()
    }
}

impl CallCenter {
    /// Every state, in sort order.
    pub fn states(&self) -> &[PresenceStateDef] {
        &self.states
    }

    pub fn settings(&self) -> &CallCenterSettings {
        &self.settings
    }

    /// The state with this label, compared ignoring case and surrounding spaces.
    pub fn state(&self, label: &str) -> Option<&PresenceStateDef> {
        let wanted = label.trim();
        self.states
            .iter()
            .find(|state| state.label.eq_ignore_ascii_case(wanted))
    }

    pub fn logout(&self) -> &PresenceStateDef {
        self.named(&self.logout_label)
    }

    pub fn on_call(&self) -> &PresenceStateDef {
        self.named(&self.on_call_label)
    }

    pub fn wrap_up(&self) -> &PresenceStateDef {
        self.named(&self.wrap_up_label)
    }

    fn named(&self, label: &str) -> &PresenceStateDef {
        // Validation proved these labels exist; fall back to the first state rather than panic
        // should that ever stop being true.
        self.state(label).unwrap_or(&self.states[0])
    }

    /// The states the agent can pick, in sort order (tray menu, panel).
    pub fn selectable(&self) -> impl Iterator<Item = &PresenceStateDef> {
        self.states.iter().filter(|state| state.selectable)
    }

    /// The Salesforce state a Teams presence selects (S3), or `None` when nothing maps to it
    /// (an Unknown presence). Out of office counts as the overlay of the base state, except that
    /// away or offline while out of office is the display-only "Out of Office" state when one is
    /// configured.
    pub fn state_for_teams(&self, presence: &TeamsPresence) -> Option<&PresenceStateDef> {
        let mut pair = presence.pair.normalised();
        if pair.activity == Activity::OutOfOffice {
            pair.activity = base_activity(&pair.availability)?;
        }
        let class = pair.class();
        if class == PresenceClass::Unknown {
            return None;
        }
        if presence.out_of_office && matches!(class, PresenceClass::Away | PresenceClass::Offline) {
            let ooo = TeamsPair::new(Availability::Away, Activity::OutOfOffice);
            if let Some(state) = self.with_teams_value(&ooo) {
                return Some(state);
            }
        }
        self.with_teams_value(&pair).or_else(|| {
            self.states.iter().find(|state| {
                state
                    .teams
                    .as_ref()
                    .is_some_and(|teams| teams.availability == pair.availability)
            })
        })
    }

    fn with_teams_value(&self, pair: &TeamsPair) -> Option<&PresenceStateDef> {
        self.states
            .iter()
            .find(|state| state.teams.as_ref() == Some(pair))
    }
}

/// The activity that goes with an availability when Graph reports `OutOfOffice` as activity.
fn base_activity(availability: &Availability) -> Option<Activity> {
    Some(match availability {
        Availability::Available | Availability::AvailableIdle => Activity::Available,
        Availability::Away => Activity::Away,
        Availability::BeRightBack => Activity::BeRightBack,
        Availability::Busy | Availability::BusyIdle => Activity::Busy,
        Availability::DoNotDisturb => Activity::DoNotDisturb,
        Availability::Offline => Activity::OffWork,
        Availability::PresenceUnknown | Availability::Unrecognised(_) => return None,
    })
}
