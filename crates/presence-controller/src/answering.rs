//! The Call Center's answering rule for direct calls that are not signalled, declined or not
//! answered (`Unanswered_Calls__c`), read at start, with its overflow target resolved
//! (`Overflow_Target__c`: a Teams user's UPN, found in Entra, or an E.164 number) and its
//! closing prompt (`End_Prompt_Url__c`, else the settings' `closing_prompt`). A rule that
//! cannot be used (an unknown value, a target that is neither, a package without the fields)
//! is said loudly and the agent's Teams takes those calls: calls still go somewhere sensible.

use presence_sync::salesforce::SalesforceClient;
use serde_json::{Map, Value};

use crate::flow::Unanswered;
use crate::graph::GraphClient;

/// Where a transfer goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A Teams user (their Entra object id).
    User(String),
    /// A phone number, E.164.
    Phone(String),
}

/// The answering rule as the controller applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answering {
    pub unanswered: Unanswered,
    /// The overflow target, when the rule is `Overflow`.
    pub overflow: Option<Target>,
    /// The prompt played before the end, when the rule is `EndWithPrompt`.
    pub closing_prompt: String,
}

/// What the Call Center record says, before the target is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Phone(String),
    Upn(String),
}

/// Reads `Overflow_Target__c`: `+` and 7 to 15 digits (spaces, dots and dashes allowed) is
/// a number; something with an `@` is a user; anything else is refused with the reason.
pub fn parse_target(text: &str) -> Result<Written, String> {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix('+') {
        let digits: String = rest
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        if (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Written::Phone(format!("+{digits}")));
        }
        return Err(format!(
            "{text:?} is not an E.164 number (+ and 7 to 15 digits)"
        ));
    }
    match text.split_once('@') {
        Some((name, domain)) if !name.is_empty() && domain.contains('.') => {
            Ok(Written::Upn(text.to_string()))
        }
        _ => Err(format!(
            "{text:?} is neither a Teams user's sign-in name (someone@contoso.com) nor a phone number (+14155550199)"
        )),
    }
}

impl Answering {
    fn agent_teams(closing_prompt: &str) -> Self {
        Self {
            unanswered: Unanswered::AgentTeams,
            overflow: None,
            closing_prompt: closing_prompt.to_string(),
        }
    }

    /// Reads the rule of the Call Center the apps use (the first by name).
    pub async fn load(
        salesforce: &SalesforceClient,
        graph: &GraphClient,
        default_prompt: &str,
    ) -> Self {
        let page = salesforce
            .query::<Map<String, Value>>(
                "SELECT Unanswered_Calls__c, Overflow_Target__c, End_Prompt_Url__c FROM Call_Center__c ORDER BY Name LIMIT 1",
            )
            .await;
        let record = match page {
            Ok(page) => page.records.into_iter().next().unwrap_or_default(),
            Err(error) => {
                tracing::error!("the Call Center's answering rule cannot be read ({error}): unanswered calls go to the agent's Teams");
                return Self::agent_teams(default_prompt);
            }
        };
        let text = |field: &str| {
            record
                .get(field)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|t| !t.is_empty())
        };
        let closing_prompt = text("End_Prompt_Url__c")
            .unwrap_or(default_prompt)
            .to_string();
        match text("Unanswered_Calls__c") {
            None | Some("AgentTeams") => Self::agent_teams(&closing_prompt),
            Some("EndWithPrompt") => Self {
                unanswered: Unanswered::EndWithPrompt,
                overflow: None,
                closing_prompt,
            },
            Some("Overflow") => {
                let target = match text("Overflow_Target__c").map(parse_target) {
                    None => Err("Overflow_Target__c is empty".to_string()),
                    Some(Err(why)) => Err(why),
                    Some(Ok(Written::Phone(number))) => Ok(Target::Phone(number)),
                    Some(Ok(Written::Upn(upn))) => graph
                        .user_id(&upn)
                        .await
                        .map(Target::User)
                        .map_err(|e| format!("{upn} is not found in Entra: {e}")),
                };
                match target {
                    Ok(target) => {
                        tracing::info!("unanswered direct calls go to {target:?}");
                        Self {
                            unanswered: Unanswered::Overflow,
                            overflow: Some(target),
                            closing_prompt,
                        }
                    }
                    Err(why) => {
                        tracing::error!("the Call Center's overflow target cannot be used ({why}): unanswered calls go to the agent's Teams");
                        Self::agent_teams(&closing_prompt)
                    }
                }
            }
            Some(other) => {
                tracing::error!("the Call Center's Unanswered_Calls__c {other:?} is not AgentTeams, Overflow or EndWithPrompt: unanswered calls go to the agent's Teams");
                Self::agent_teams(&closing_prompt)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overflow_target_is_a_number_or_a_user_and_anything_else_says_why() {
        assert_eq!(
            parse_target(" +1 (415) 555-0199 "),
            Ok(Written::Phone("+14155550199".into()))
        );
        assert_eq!(
            parse_target("grace@contoso.example"),
            Ok(Written::Upn("grace@contoso.example".into()))
        );
        for bad in [
            "+12",
            "+1415555019912345678",
            "+1415abc0199",
            "grace",
            "@contoso",
            "grace@local",
            "",
        ] {
            assert!(parse_target(bad).is_err(), "{bad:?}");
        }
        assert!(parse_target("0800 123")
            .unwrap_err()
            .contains("neither a Teams user"));
    }
}
