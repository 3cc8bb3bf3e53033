//! Identifiers as the clouds make them: Salesforce 18-character ids with the right key
//! prefixes and checksum suffix, GUIDs, opaque tokens.

/// Key prefixes of the objects the emulator serves.
pub fn key_prefix(sobject: &str) -> Option<&'static str> {
    Some(match sobject {
        "User" => "005",
        "Contact" => "003",
        "Lead" => "00Q",
        "Account" => "001",
        "Task" => "00T",
        "Agent_Presence__c" => "a01",
        "Agent_Call__c" => "a02",
        "Call_Center_Presence_State__c" => "a03",
        "Call_Center__c" => "a04",
        _ => return None,
    })
}

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A Salesforce id: 3-character key prefix, pod `5g0`, a base-62 counter, and the
/// 3-character case-safe suffix computed as Salesforce does.
pub fn salesforce_id(prefix: &str, counter: u64) -> String {
    let mut digits = [b'0'; 9];
    let mut n = counter;
    for slot in digits.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    let mut id = String::with_capacity(18);
    id.push_str(prefix);
    id.push_str("5g0");
    id.push_str(std::str::from_utf8(&digits).unwrap_or("000000000"));
    id.truncate(15);
    let suffix = case_safe_suffix(&id);
    id.push_str(&suffix);
    id
}

/// The 3-character suffix that turns a 15-character id into its 18-character form.
pub fn case_safe_suffix(id15: &str) -> String {
    const MAP: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    id15.as_bytes()
        .chunks(5)
        .take(3)
        .map(|chunk| {
            let bits = chunk
                .iter()
                .enumerate()
                .filter(|(_, byte)| byte.is_ascii_uppercase())
                .fold(0usize, |acc, (i, _)| acc | (1 << i));
            MAP[bits] as char
        })
        .collect()
}

/// True for a well-formed 18-character id whose suffix matches.
pub fn is_valid_id(id: &str) -> bool {
    id.len() == 18
        && id.bytes().all(|b| b.is_ascii_alphanumeric())
        && case_safe_suffix(&id[..15]) == id[15..]
}

pub fn guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An opaque token with a recognisable prefix.
pub fn token(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        uuid::Uuid::new_v4().simple().to_string() + &uuid::Uuid::new_v4().simple().to_string()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_matches_salesforce_for_a_known_id() {
        // 001A0000006Vm9r → 001A0000006Vm9rIAC (from Salesforce's documentation examples)
        assert_eq!(case_safe_suffix("001A0000006Vm9r"), "IAC");
    }

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let a = salesforce_id("a01", 1);
        let b = salesforce_id("a01", 2);
        assert_ne!(a, b);
        assert!(is_valid_id(&a), "{a}");
        assert!(a.starts_with("a01"));
        assert_eq!(a.len(), 18);
    }
}
