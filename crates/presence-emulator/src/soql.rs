//! The small part of SOQL and SOSL the app uses: `SELECT f, … FROM Object [WHERE a = 'x'
//! [AND|OR b IN ('y', 'z')] [AND LastModifiedDate >= 2026-11-25T14:10:00Z] …]
//! [ORDER BY f [ASC|DESC]] [LIMIT n]`, and
//! `FIND {digits} IN PHONE FIELDS RETURNING Object(fields), …`.
//!
//! Literals: `'text'`, numbers, `true`/`false`/`null`, and unquoted dateTimes as SOQL writes
//! them (`YYYY-MM-DDThh:mm:ssZ` or `±hh:mm`, optional fraction), compared with dateTime
//! fields by instant.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub fields: Vec<String>,
    pub object: String,
    /// Conditions joined by the connectives (`AND`/`OR`, evaluated left to right).
    pub conditions: Vec<Condition>,
    pub connectives: Vec<String>,
    pub order_by: Option<(String, bool)>,
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub field: String,
    pub op: String,
    pub values: Vec<Value>,
}

fn tokens(text: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&ch) = chars.peek() {
        if ch.is_whitespace() {
            chars.next();
        } else if ch == '\'' {
            chars.next();
            let mut literal = String::from("'");
            let mut closed = false;
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(escaped) = chars.next() {
                        literal.push(escaped);
                    }
                } else if c == '\'' {
                    closed = true;
                    break;
                } else {
                    literal.push(c);
                }
            }
            if !closed {
                return Err("unterminated string literal".into());
            }
            out.push(literal);
        } else if "(),".contains(ch) {
            out.push(ch.to_string());
            chars.next();
        } else if "=!<>".contains(ch) {
            let mut op = String::new();
            while let Some(&c) = chars.peek() {
                if "=!<>".contains(c) {
                    op.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(op);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || "(),=!<>'".contains(c) {
                    break;
                }
                word.push(c);
                chars.next();
            }
            out.push(word);
        }
    }
    Ok(out)
}

/// The key under which a dateTime literal is held (as Unix ms) among the JSON values.
const DATETIME: &str = "$dateTimeMs";

fn literal(token: &str) -> Result<Value, String> {
    if let Some(text) = token.strip_prefix('\'') {
        return Ok(Value::String(text.to_string()));
    }
    if token.len() >= 20 && token.as_bytes().get(10) == Some(&b'T') {
        return chrono::DateTime::parse_from_rfc3339(token)
            .map(|at| serde_json::json!({ DATETIME: at.timestamp_millis() }))
            .map_err(|_| format!("invalid dateTime literal: {token}"));
    }
    match token.to_ascii_lowercase().as_str() {
        "true" => Ok(Value::Bool(true)),
        "false" => Ok(Value::Bool(false)),
        "null" => Ok(Value::Null),
        _ => token
            .parse::<f64>()
            .map(|n| serde_json::json!(n))
            .map_err(|_| format!("unexpected token: {token}")),
    }
}

/// Parses the supported SOQL subset; the error text becomes a `MALFORMED_QUERY` message.
pub fn parse(text: &str) -> Result<Query, String> {
    let tokens = tokens(text)?;
    let mut at = 0;
    let keyword =
        |at: usize, word: &str| tokens.get(at).is_some_and(|t| t.eq_ignore_ascii_case(word));
    if !keyword(0, "SELECT") {
        return Err("expecting SELECT".into());
    }
    at += 1;
    let mut fields = Vec::new();
    while at < tokens.len() && !keyword(at, "FROM") {
        if tokens[at] != "," {
            fields.push(tokens[at].clone());
        }
        at += 1;
    }
    if fields.is_empty() || !keyword(at, "FROM") {
        return Err("unexpected token: expecting FROM".into());
    }
    at += 1;
    let object = tokens.get(at).cloned().ok_or("missing object after FROM")?;
    at += 1;
    let mut conditions = Vec::new();
    let mut connectives = Vec::new();
    if keyword(at, "WHERE") {
        at += 1;
        loop {
            let field = tokens.get(at).cloned().ok_or("missing field in WHERE")?;
            let op = tokens.get(at + 1).cloned().ok_or("missing operator")?;
            at += 2;
            let mut values = Vec::new();
            if op.eq_ignore_ascii_case("IN") {
                if tokens.get(at).map(String::as_str) != Some("(") {
                    return Err("expecting ( after IN".into());
                }
                at += 1;
                while at < tokens.len() && tokens[at] != ")" {
                    if tokens[at] != "," {
                        values.push(literal(&tokens[at])?);
                    }
                    at += 1;
                }
                at += 1;
            } else if ["=", "!=", "<", ">", "<=", ">="].contains(&op.as_str()) {
                values.push(literal(tokens.get(at).ok_or("missing value")?)?);
                at += 1;
            } else {
                return Err(format!("unsupported operator {op}"));
            }
            conditions.push(Condition {
                field,
                op: op.to_ascii_uppercase(),
                values,
            });
            if keyword(at, "AND") || keyword(at, "OR") {
                connectives.push(tokens[at].to_ascii_uppercase());
                at += 1;
            } else {
                break;
            }
        }
    }
    let mut order_by = None;
    if keyword(at, "ORDER") && keyword(at + 1, "BY") {
        let field = tokens
            .get(at + 2)
            .cloned()
            .ok_or("missing ORDER BY field")?;
        at += 3;
        let mut ascending = true;
        if keyword(at, "DESC") {
            ascending = false;
            at += 1;
        } else if keyword(at, "ASC") {
            at += 1;
        }
        order_by = Some((field, ascending));
    }
    let mut limit = None;
    if keyword(at, "LIMIT") {
        limit = Some(
            tokens
                .get(at + 1)
                .and_then(|t| t.parse().ok())
                .ok_or("LIMIT needs a number")?,
        );
        at += 2;
    }
    if at < tokens.len() {
        return Err(format!("unexpected token: {}", tokens[at]));
    }
    Ok(Query {
        fields,
        object,
        conditions,
        connectives,
        order_by,
        limit,
    })
}

/// A record's dateTime field (`2026-11-25T14:10:00.505+0000`) as Unix ms.
fn record_datetime_ms(value: &Value) -> Option<i64> {
    chrono::DateTime::parse_from_str(value.as_str()?, "%Y-%m-%dT%H:%M:%S%.f%z")
        .ok()
        .map(|at| at.timestamp_millis())
}

fn compare(record_value: Option<&Value>, op: &str, value: &Value) -> bool {
    let left = record_value.unwrap_or(&Value::Null);
    if let Some(right) = value.get(DATETIME).and_then(Value::as_i64) {
        let Some(left) = record_datetime_ms(left) else {
            return false;
        };
        return match op {
            "=" => left == right,
            "!=" => left != right,
            "<" => left < right,
            ">" => left > right,
            "<=" => left <= right,
            _ => left >= right,
        };
    }
    match op {
        "=" => loose_eq(left, value),
        "!=" => !loose_eq(left, value),
        _ => {
            let (Some(a), Some(b)) = (as_number(left), as_number(value)) else {
                let (a, b) = (left.as_str().unwrap_or(""), value.as_str().unwrap_or(""));
                return match op {
                    "<" => a < b,
                    ">" => a > b,
                    "<=" => a <= b,
                    _ => a >= b,
                };
            };
            match op {
                "<" => a < b,
                ">" => a > b,
                "<=" => a <= b,
                _ => a >= b,
            }
        }
    }
}

fn as_number(value: &Value) -> Option<f64> {
    value.as_f64()
}

fn loose_eq(a: &Value, b: &Value) -> bool {
    match (as_number(a), as_number(b)) {
        (Some(x), Some(y)) => (x - y).abs() < f64::EPSILON,
        _ => a == b,
    }
}

impl Query {
    pub fn matches(&self, record: &serde_json::Map<String, Value>) -> bool {
        let mut result: Option<bool> = None;
        for (index, condition) in self.conditions.iter().enumerate() {
            let value = record.get(&condition.field);
            let this = if condition.op == "IN" {
                condition
                    .values
                    .iter()
                    .any(|v| loose_eq(value.unwrap_or(&Value::Null), v))
            } else {
                condition
                    .values
                    .first()
                    .is_some_and(|v| compare(value, &condition.op, v))
            };
            result = Some(
                match (
                    result,
                    index.checked_sub(1).and_then(|i| self.connectives.get(i)),
                ) {
                    (None, _) => this,
                    (Some(prev), Some(connective)) if connective == "OR" => prev || this,
                    (Some(prev), _) => prev && this,
                },
            );
        }
        result.unwrap_or(true)
    }
}

/// A parsed SOSL phone search.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    pub term: String,
    pub returning: Vec<(String, Vec<String>)>,
}

pub fn parse_search(text: &str) -> Result<Search, String> {
    let rest = text.trim();
    let rest = rest
        .get(..4)
        .filter(|head| head.eq_ignore_ascii_case("FIND"))
        .map(|_| rest[4..].trim_start())
        .ok_or("expecting FIND")?;
    let rest = rest.strip_prefix('{').ok_or("expecting { after FIND")?;
    let (term, rest) = rest.split_once('}').ok_or("unterminated search term")?;
    let upper = rest.to_ascii_uppercase();
    let returning_at = upper.find("RETURNING").ok_or("expecting RETURNING")?;
    let scope = upper[..returning_at].trim();
    if !scope.is_empty() && scope != "IN PHONE FIELDS" && scope != "IN ALL FIELDS" {
        return Err(format!("unsupported search scope {scope}"));
    }
    let mut returning = Vec::new();
    let list = &rest[returning_at + "RETURNING".len()..];
    let mut remaining = list.trim();
    while !remaining.is_empty() {
        let name_end = remaining.find(['(', ',']).unwrap_or(remaining.len());
        let name = remaining[..name_end].trim().to_string();
        remaining = &remaining[name_end..];
        let mut fields = vec!["Id".to_string()];
        if let Some(inner) = remaining.strip_prefix('(') {
            let (inside, after) = inner.split_once(')').ok_or("unterminated field list")?;
            fields = inside
                .split(',')
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty() && !f.to_ascii_uppercase().starts_with("LIMIT"))
                .collect();
            remaining = after;
        }
        if !name.is_empty() {
            returning.push((name, fields));
        }
        remaining = remaining.trim_start().trim_start_matches(',').trim_start();
        if remaining.to_ascii_uppercase().starts_with("LIMIT") {
            break;
        }
    }
    Ok(Search {
        term: term.trim().to_string(),
        returning,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_app_queries() {
        let q = parse("SELECT Id, State__c FROM Agent_Presence__c WHERE User__c = '005x' AND State__c IN ('A','B') ORDER BY Sort_Order__c DESC LIMIT 5").unwrap();
        assert_eq!(q.object, "Agent_Presence__c");
        assert_eq!(q.fields, vec!["Id", "State__c"]);
        assert_eq!(q.conditions.len(), 2);
        assert_eq!(q.limit, Some(5));
        let record = json!({"User__c": "005x", "State__c": "B"});
        assert!(q.matches(record.as_object().unwrap()));
        let record = json!({"User__c": "005x", "State__c": "C"});
        assert!(!q.matches(record.as_object().unwrap()));
    }

    #[test]
    fn compares_datetime_literals_with_datetime_fields_by_instant() {
        let q = parse("SELECT Id FROM Agent_Call__c WHERE LastModifiedDate >= 2026-11-25T14:10:00Z AND LastModifiedDate < 2026-11-25T15:10:00.500+01:00").unwrap();
        let at = |t: &str| json!({ "LastModifiedDate": t });
        assert!(q.matches(at("2026-11-25T14:10:00.000+0000").as_object().unwrap()));
        assert!(q.matches(at("2026-11-25T14:10:00.499+0000").as_object().unwrap()));
        assert!(!q.matches(at("2026-11-25T14:10:00.500+0000").as_object().unwrap()));
        assert!(!q.matches(at("2026-11-25T14:09:59.999+0000").as_object().unwrap()));
        assert!(
            !q.matches(json!({}).as_object().unwrap()),
            "no value, no match"
        );
        assert!(
            parse("SELECT Id FROM Task WHERE LastModifiedDate > 2026-13-45T99:00:00Z").is_err()
        );
    }

    #[test]
    fn rejects_what_it_does_not_know() {
        assert!(parse("DELETE FROM Task").is_err());
        assert!(parse("SELECT Id FROM Task WHERE Name LIKE 'x%'").is_err());
        assert!(parse("SELECT Id FROM Task WHERE Name = 'open").is_err());
    }

    #[test]
    fn parses_the_phone_search() {
        let s = parse_search("FIND {4155551212} IN PHONE FIELDS RETURNING Contact(Id, Name), Lead(Id, Name), Account(Id, Name)").unwrap();
        assert_eq!(s.term, "4155551212");
        assert_eq!(s.returning.len(), 3);
        assert_eq!(s.returning[1].0, "Lead");
    }
}
