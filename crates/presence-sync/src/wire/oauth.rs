//! The Salesforce device flow's answers (its parameters are its own, so it is spoken directly;
//! Entra's device flow and every token answer are read by the `oauth2` crate).

use serde::Deserialize;

/// The answer to `response_type=device_code`.
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceCodeStart {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    /// Seconds between polls (default 5).
    #[serde(default)]
    pub interval: Option<u64>,
}

/// An OAuth error answer (`authorization_pending`, `slow_down`, `access_denied`, …).
#[derive(Debug, Clone, Deserialize)]
pub struct OAuthErrorAnswer {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_device_flow_answers_read_as_salesforce_sends_them() {
        let start: DeviceCodeStart = serde_json::from_str(
            r#"{"device_code":"d","user_code":"ABCD-EFGH","verification_uri":"https://login.example/setup/connect","interval":5}"#,
        )
        .expect("parses");
        assert_eq!(
            (start.user_code.as_str(), start.interval),
            ("ABCD-EFGH", Some(5))
        );
        assert!(serde_json::from_str::<DeviceCodeStart>(r#"{"user_code":"x"}"#).is_err());
        let pending: OAuthErrorAnswer =
            serde_json::from_str(r#"{"error":"authorization_pending","error_description":"wait"}"#)
                .expect("parses");
        assert_eq!(pending.error, "authorization_pending");
    }
}
