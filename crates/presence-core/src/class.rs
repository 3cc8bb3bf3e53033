//! Classes, icons and the out-of-office overlay: the small closed set that decides how a state
//! looks and how calls are handled (RULES.md section 1).

use serde::{Deserialize, Serialize};

/// The class of a presence. Decides the icon and call handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PresenceClass {
    Available,
    Away,
    DoNotDisturb,
    Busy,
    Offline,
    LoggedOut,
    Unknown,
}

impl PresenceClass {
    /// The classes a configured Salesforce state may have (Unknown is never configured).
    pub const CONFIGURABLE: &'static [PresenceClass] = &[
        PresenceClass::Available,
        PresenceClass::Away,
        PresenceClass::DoNotDisturb,
        PresenceClass::Busy,
        PresenceClass::Offline,
        PresenceClass::LoggedOut,
    ];

    /// Parses the `Class__c` picklist value of `Call_Center_Presence_State__c`.
    pub fn parse(raw: &str) -> Option<Self> {
        let all = [
            ("Available", PresenceClass::Available),
            ("Away", PresenceClass::Away),
            ("DoNotDisturb", PresenceClass::DoNotDisturb),
            ("Busy", PresenceClass::Busy),
            ("Offline", PresenceClass::Offline),
            ("LoggedOut", PresenceClass::LoggedOut),
            ("Unknown", PresenceClass::Unknown),
        ];
        all.iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(raw.trim()))
            .map(|(_, class)| *class)
    }

    /// True where direct calls are never signalled (C1).
    pub fn blocks_calls(self) -> bool {
        matches!(self, PresenceClass::DoNotDisturb | PresenceClass::LoggedOut)
    }
}

/// The icon the tray and panel show. One per class and overlay; every icon has a text label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IconId {
    /// Green dot.
    Available,
    /// Green dot with the OOO mark.
    AvailableOutOfOffice,
    /// Yellow dot.
    Away,
    /// Red "no entry".
    DoNotDisturb,
    /// Red dot.
    Busy,
    /// Red ring: busy and out of office.
    BusyOutOfOffice,
    /// Purple OOO mark.
    OutOfOffice,
    /// Grey cross.
    Offline,
    /// Grey cross with the "no connection to Teams" indicator.
    LoggedOut,
    /// Grey question mark.
    Unknown,
}

impl IconId {
    /// The file stem of the icon under `icons/presence/`.
    pub fn file_stem(self) -> &'static str {
        match self {
            IconId::Available => "available",
            IconId::AvailableOutOfOffice => "available-out-of-office",
            IconId::Away => "away",
            IconId::DoNotDisturb => "do-not-disturb",
            IconId::Busy => "busy",
            IconId::BusyOutOfOffice => "busy-out-of-office",
            IconId::OutOfOffice => "out-of-office",
            IconId::Offline => "offline",
            IconId::LoggedOut => "logged-out",
            IconId::Unknown => "unknown",
        }
    }
}

/// How a class looks with or without the out-of-office overlay: the icon, and the label to show
/// instead of the state's own label when the overlay changes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appearance {
    pub icon: IconId,
    /// `Some` when the overlay replaces the state's label ("Available, out of office").
    pub overlay_label: Option<&'static str>,
    /// Whether the out-of-office overlay is visible (DND hides it in Salesforce, tray and panel).
    pub shows_out_of_office: bool,
}

/// The appearance of a class with the out-of-office overlay applied (RULES.md section 1).
pub fn appearance(class: PresenceClass, out_of_office: bool) -> Appearance {
    let plain = |icon| Appearance {
        icon,
        overlay_label: None,
        shows_out_of_office: false,
    };
    let overlaid = |icon, label| Appearance {
        icon,
        overlay_label: Some(label),
        shows_out_of_office: true,
    };
    match (class, out_of_office) {
        (PresenceClass::Available, false) => plain(IconId::Available),
        (PresenceClass::Available, true) => {
            overlaid(IconId::AvailableOutOfOffice, "Available, out of office")
        }
        (PresenceClass::Busy, false) => plain(IconId::Busy),
        (PresenceClass::Busy, true) => overlaid(IconId::BusyOutOfOffice, "Busy, out of office"),
        (PresenceClass::Away, false) => plain(IconId::Away),
        (PresenceClass::Offline, false) => plain(IconId::Offline),
        (PresenceClass::Away | PresenceClass::Offline, true) => {
            overlaid(IconId::OutOfOffice, "Out of office")
        }
        // Teams shows "Do Not Disturb, Out Of Office"; we show Do Not Disturb alone.
        (PresenceClass::DoNotDisturb, _) => plain(IconId::DoNotDisturb),
        (PresenceClass::LoggedOut, _) => plain(IconId::LoggedOut),
        (PresenceClass::Unknown, _) => plain(IconId::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_office_overlays_follow_the_rules_table() {
        let cases = [
            (
                PresenceClass::Available,
                IconId::AvailableOutOfOffice,
                Some("Available, out of office"),
            ),
            (
                PresenceClass::Busy,
                IconId::BusyOutOfOffice,
                Some("Busy, out of office"),
            ),
            (
                PresenceClass::Away,
                IconId::OutOfOffice,
                Some("Out of office"),
            ),
            (
                PresenceClass::Offline,
                IconId::OutOfOffice,
                Some("Out of office"),
            ),
            (PresenceClass::DoNotDisturb, IconId::DoNotDisturb, None),
        ];
        for (class, icon, label) in cases {
            let shown = appearance(class, true);
            assert_eq!(shown.icon, icon, "{class:?}");
            assert_eq!(shown.overlay_label, label, "{class:?}");
        }
    }

    #[test]
    fn every_class_has_a_distinct_icon_without_overlay() {
        let mut icons: Vec<_> = PresenceClass::CONFIGURABLE
            .iter()
            .chain([PresenceClass::Unknown].iter())
            .map(|class| appearance(*class, false).icon)
            .collect();
        icons.dedup();
        assert_eq!(icons.len(), 7);
    }

    #[test]
    fn class_names_parse_case_insensitively() {
        assert_eq!(
            PresenceClass::parse("donotdisturb"),
            Some(PresenceClass::DoNotDisturb)
        );
        assert_eq!(
            PresenceClass::parse(" LoggedOut "),
            Some(PresenceClass::LoggedOut)
        );
        assert_eq!(PresenceClass::parse("Sleeping"), None);
    }
}
