//! The Teams vocabulary: Graph's `availability` and `activity` values, parsed
//! case-insensitively, with every unknown value kept (for the log) and mapped to Unknown.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::class::PresenceClass;

macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)+
            /// A value Graph sent that this version does not know; kept verbatim for the log.
            Unrecognised(String),
        }

        impl $name {
            /// Every value this version knows, in Graph's spelling.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),+];

            /// Parses a Graph value, ignoring ASCII case. Never fails: an unknown value becomes
            /// [`Self::Unrecognised`].
            pub fn parse(raw: &str) -> Self {
                let trimmed = raw.trim();
                $(
                    if trimmed.eq_ignore_ascii_case(stringify!($variant)) {
                        return $name::$variant;
                    }
                )+
                $name::Unrecognised(trimmed.to_string())
            }

            /// Graph's PascalCase spelling (the raw text for an unrecognised value).
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => stringify!($variant),)+
                    $name::Unrecognised(raw) => raw,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(deserializer)?;
                Ok($name::parse(&raw))
            }
        }
    };
}

vocabulary! {
    /// Graph `presence.availability`.
    Availability {
        Available, AvailableIdle, Away, BeRightBack, Busy, BusyIdle, DoNotDisturb, Offline,
        PresenceUnknown,
    }
}

vocabulary! {
    /// Graph `presence.activity`. Includes the values seen outside the documented list
    /// (`AvailableInactive` from the session fade, `Focusing`).
    Activity {
        Available, Away, BeRightBack, Busy, DoNotDisturb, InACall, InAConferenceCall, Inactive,
        InAMeeting, Offline, OffWork, OutOfOffice, PresenceUnknown, Presenting,
        UrgentInterruptionsOnly, Focusing, AvailableInactive,
    }
}

/// An (availability, activity) pair: what is written to Teams or what a state stands for there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TeamsPair {
    pub availability: Availability,
    pub activity: Activity,
}

impl TeamsPair {
    pub fn new(availability: Availability, activity: Activity) -> Self {
        Self {
            availability,
            activity,
        }
    }

    /// Parses both halves case-insensitively.
    pub fn parse(availability: &str, activity: &str) -> Self {
        Self::new(Availability::parse(availability), Activity::parse(activity))
    }

    /// True for the pairs a person (and `setUserPreferredPresence`) can set; every other pair is
    /// app-configured (set by Teams or Outlook) and can be shown but never selected or written.
    pub fn is_user_configured(&self) -> bool {
        use Activity as Act;
        use Availability as Av;
        matches!(
            (&self.availability, &self.activity),
            (Av::Available, Act::Available)
                | (Av::Busy, Act::Busy)
                | (Av::DoNotDisturb, Act::DoNotDisturb)
                | (Av::BeRightBack, Act::BeRightBack)
                | (Av::Away, Act::Away)
                | (Av::Offline, Act::OffWork)
        )
    }

    /// The class this Teams value falls in (RULES.md section 1). Teams never yields LoggedOut.
    pub fn class(&self) -> PresenceClass {
        match self.availability {
            Availability::Available | Availability::AvailableIdle => PresenceClass::Available,
            Availability::Away | Availability::BeRightBack => PresenceClass::Away,
            Availability::DoNotDisturb => PresenceClass::DoNotDisturb,
            Availability::Busy | Availability::BusyIdle => PresenceClass::Busy,
            Availability::Offline => PresenceClass::Offline,
            Availability::PresenceUnknown | Availability::Unrecognised(_) => {
                // "OffWork" is an Offline activity whatever the availability says.
                if self.activity == Activity::OffWork {
                    PresenceClass::Offline
                } else {
                    PresenceClass::Unknown
                }
            }
        }
    }

    /// The pair with idle variants folded into their base (`AvailableIdle` → `Available`,
    /// `BusyIdle` → `Busy`, `InAConferenceCall` → `InACall`, the Available fade → `Available`),
    /// so that mapping to Salesforce states sees one spelling per meaning.
    pub fn normalised(&self) -> TeamsPair {
        let availability = match &self.availability {
            Availability::AvailableIdle => Availability::Available,
            Availability::BusyIdle => Availability::Busy,
            other => other.clone(),
        };
        let activity = match (&availability, &self.activity) {
            (_, Activity::InAConferenceCall) => Activity::InACall,
            (Availability::Available, Activity::Inactive | Activity::AvailableInactive) => {
                Activity::Available
            }
            (Availability::Busy, Activity::Inactive) => Activity::Busy,
            (_, other) => other.clone(),
        };
        TeamsPair::new(availability, activity)
    }
}

impl fmt::Display for TeamsPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.availability, self.activity)
    }
}

/// What Graph reports for the agent: the pair plus the Outlook out-of-office flag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TeamsPresence {
    pub pair: TeamsPair,
    /// `outOfOfficeSettings.isOutOfOffice`, or activity `OutOfOffice`.
    pub out_of_office: bool,
    /// Graph's `sequenceNumber`: a lexicographically sortable version stamp, when sent.
    #[serde(default)]
    pub sequence: Option<String>,
}

impl TeamsPresence {
    /// Builds a presence from Graph's raw fields; `OutOfOffice` as the activity also counts as
    /// out of office.
    pub fn from_graph(availability: &str, activity: &str, is_out_of_office: bool) -> Self {
        let pair = TeamsPair::parse(availability, activity);
        let out_of_office = is_out_of_office || pair.activity == Activity::OutOfOffice;
        Self {
            pair,
            out_of_office,
            sequence: None,
        }
    }

    pub fn new(pair: TeamsPair, out_of_office: bool) -> Self {
        Self {
            pair,
            out_of_office,
            sequence: None,
        }
    }

    /// The same presence stamped with Graph's `sequenceNumber`.
    pub fn with_sequence(mut self, sequence: impl Into<String>) -> Self {
        self.sequence = Some(sequence.into());
        self
    }

    pub fn class(&self) -> PresenceClass {
        self.pair.class()
    }

    /// The unrecognised values in this presence, for the log.
    pub fn unrecognised_values(&self) -> Vec<String> {
        let mut raw = Vec::new();
        if let Availability::Unrecognised(value) = &self.pair.availability {
            raw.push(format!("availability {value:?}"));
        }
        if let Activity::Unrecognised(value) = &self.pair.activity {
            raw.push(format!("activity {value:?}"));
        }
        raw
    }
}

/// Orders two Graph `sequenceNumber`s. They are documented as lexicographically sortable;
/// comparing the length first also orders plain decimal counters correctly.
pub fn sequence_is_newer(candidate: &str, than: &str) -> bool {
    (candidate.len(), candidate) > (than.len(), than)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_value_round_trips_in_any_case() {
        for value in Availability::KNOWN {
            let text = value.as_str();
            assert_eq!(&Availability::parse(&text.to_lowercase()), value);
            assert_eq!(&Availability::parse(&text.to_uppercase()), value);
            assert_eq!(&Availability::parse(text), value);
        }
        for value in Activity::KNOWN {
            let text = value.as_str();
            assert_eq!(&Activity::parse(&text.to_lowercase()), value);
            assert_eq!(&Activity::parse(text), value);
        }
    }

    #[test]
    fn camel_case_from_newer_docs_parses_like_pascal_case() {
        assert_eq!(Activity::parse("inACall"), Activity::InACall);
        assert_eq!(
            Availability::parse("doNotDisturb"),
            Availability::DoNotDisturb
        );
    }

    #[test]
    fn unknown_values_are_kept_and_fall_in_the_unknown_class() {
        let presence = TeamsPresence::from_graph("Teleporting", "Beaming", false);
        assert_eq!(presence.class(), PresenceClass::Unknown);
        assert_eq!(presence.unrecognised_values().len(), 2);
        assert_eq!(presence.pair.availability.as_str(), "Teleporting");
    }

    #[test]
    fn only_the_six_user_configured_pairs_are_settable() {
        let settable = [
            ("Available", "Available"),
            ("Busy", "Busy"),
            ("DoNotDisturb", "DoNotDisturb"),
            ("BeRightBack", "BeRightBack"),
            ("Away", "Away"),
            ("Offline", "OffWork"),
        ];
        for (availability, activity) in settable {
            assert!(TeamsPair::parse(availability, activity).is_user_configured());
        }
        let app_configured = [
            ("Busy", "InACall"),
            ("Busy", "InAConferenceCall"),
            ("Busy", "InAMeeting"),
            ("DoNotDisturb", "Presenting"),
            ("DoNotDisturb", "Focusing"),
            ("Away", "OutOfOffice"),
            ("Available", "OutOfOffice"),
        ];
        for (availability, activity) in app_configured {
            assert!(!TeamsPair::parse(availability, activity).is_user_configured());
        }
    }

    #[test]
    fn classes_follow_the_rules_table() {
        let table = [
            ("Available", "Available", PresenceClass::Available),
            ("AvailableIdle", "Inactive", PresenceClass::Available),
            ("Away", "Away", PresenceClass::Away),
            ("BeRightBack", "BeRightBack", PresenceClass::Away),
            ("DoNotDisturb", "Presenting", PresenceClass::DoNotDisturb),
            ("DoNotDisturb", "Focusing", PresenceClass::DoNotDisturb),
            (
                "DoNotDisturb",
                "UrgentInterruptionsOnly",
                PresenceClass::DoNotDisturb,
            ),
            ("Busy", "InACall", PresenceClass::Busy),
            ("Busy", "InAConferenceCall", PresenceClass::Busy),
            ("BusyIdle", "Inactive", PresenceClass::Busy),
            ("Busy", "InAMeeting", PresenceClass::Busy),
            ("Offline", "OffWork", PresenceClass::Offline),
            ("PresenceUnknown", "PresenceUnknown", PresenceClass::Unknown),
            ("PresenceUnknown", "OffWork", PresenceClass::Offline),
        ];
        for (availability, activity, class) in table {
            assert_eq!(
                TeamsPair::parse(availability, activity).class(),
                class,
                "{availability}/{activity}"
            );
        }
    }

    #[test]
    fn out_of_office_activity_sets_the_overlay() {
        assert!(TeamsPresence::from_graph("Away", "OutOfOffice", false).out_of_office);
        assert!(TeamsPresence::from_graph("Available", "Available", true).out_of_office);
        assert!(!TeamsPresence::from_graph("Available", "Available", false).out_of_office);
    }
}
