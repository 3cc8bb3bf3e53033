//! Salesforce REST under `/services/data/`: versions, sObjects (get, create, update, upsert by
//! external id), SOQL query with `nextRecordsUrl`, the SOSL phone search, composite, limits.
//! Every response carries `Sforce-Limit-Info`; errors are Salesforce's error arrays.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

use crate::http::{gate, salesforce_error, AppState};
use crate::oauth::authenticate_subject;
use crate::schema::Schema;
use crate::soql;
use crate::world::{Api, World};

pub const API_VERSIONS: &[&str] = &["60.0", "61.0", "62.0", "63.0", "64.0"];

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
}

fn with_limit_info(world: &World, mut response: Response) -> Response {
    let value = format!(
        "api-usage={}/{}",
        world.api_usage, world.settings.api_daily_limit
    );
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert("Sforce-Limit-Info", value);
    }
    response
}

pub async fn versions() -> Response {
    let list: Vec<Value> = API_VERSIONS
        .iter()
        .map(|v| json!({ "label": format!("Release {v}"), "url": format!("/services/data/v{v}"), "version": v }))
        .collect();
    json_response(StatusCode::OK, Value::Array(list))
}

/// Every REST route under `/services/data/vNN.N/` lands here.
pub async fn dispatch(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    Path((version, rest)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let path = format!("/services/data/{version}/{rest}");
    let route = rest.split('/').next().unwrap_or("").to_string();
    if let Some(fault) = gate(&state, Api::Salesforce, &format!("{method} {route}"), &path).await {
        return fault;
    }
    let spent = {
        let world = state.world();
        world.api_usage >= world.settings.api_daily_limit
    };
    if spent {
        // The org's allowance for the rolling day is spent: refused, and not counted.
        let refused = crate::http::error_for(&state, Api::Salesforce, StatusCode::FORBIDDEN, None);
        return with_limit_info(&state.world(), refused);
    }
    let mut world = state.world();
    world.api_usage += 1;
    let response = handle(
        &mut world, &method, &headers, &version, &rest, &params, &body,
    );
    with_limit_info(&world, response)
}

#[allow(clippy::too_many_arguments)]
fn handle(
    world: &mut World,
    method: &Method,
    headers: &HeaderMap,
    version: &str,
    rest: &str,
    params: &HashMap<String, String>,
    body: &[u8],
) -> Response {
    let Some(number) = version
        .strip_prefix('v')
        .filter(|v| API_VERSIONS.contains(v))
    else {
        return salesforce_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
            None,
        );
    };
    let user = match authenticate_subject(world, Api::Salesforce, headers)
        .ok()
        .and_then(|(subject, _)| world.salesforce_user_of(subject))
    {
        Some(user) => user,
        None => {
            return salesforce_error(
                StatusCode::UNAUTHORIZED,
                "INVALID_SESSION_ID",
                "Session expired or invalid",
                None,
            )
        }
    };
    let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["limits"]) => json_response(
            StatusCode::OK,
            json!({
                "DailyApiRequests": { "Max": world.settings.api_daily_limit, "Remaining": world.settings.api_daily_limit.saturating_sub(world.api_usage) },
            }),
        ),
        ("GET", ["query"]) => query(
            world,
            number,
            params.get("q").map(String::as_str).unwrap_or(""),
            headers,
        ),
        ("GET", ["query", locator]) => query_more(world, number, locator),
        ("GET", ["search"]) => search(world, params.get("q").map(String::as_str).unwrap_or("")),
        ("POST", ["composite"]) => composite(world, number, headers, body),
        ("GET", ["sobjects", object, id]) => {
            get_record(world, number, object, id, params.get("fields"))
        }
        ("POST", ["sobjects", object]) => create(world, object, body, &user),
        ("PATCH", ["sobjects", object, id]) => update(world, object, id, body),
        ("PATCH", ["sobjects", object, field, value]) => {
            upsert(world, object, field, value, body, &user)
        }
        _ => salesforce_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
            None,
        ),
    }
}

fn attributes(number: &str, object: &str, id: &str) -> Value {
    json!({ "type": object, "url": format!("/services/data/v{number}/sobjects/{object}/{id}") })
}

fn parse_body(body: &[u8]) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(salesforce_error(
            StatusCode::BAD_REQUEST,
            "JSON_PARSER_ERROR",
            "The request body is not a JSON object.",
            None,
        )),
    }
}

/// Checks a write's fields against the package's schema as Salesforce does (unknown fields,
/// types, lengths, restricted picklists, ids; required fields on create); returns the fields.
fn validate(
    object: &str,
    mut fields: Map<String, Value>,
    for_create: bool,
) -> Result<Map<String, Value>, Response> {
    let Some(schema) = Schema::package().object(object) else {
        return Err(salesforce_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            &format!(
                "The requested resource does not exist: sObject type '{object}' is not supported."
            ),
            None,
        ));
    };
    fields.remove("attributes");
    for (key, value) in &fields {
        let Some(field) = schema.field(key) else {
            return Err(salesforce_error(
                StatusCode::BAD_REQUEST,
                "INVALID_FIELD",
                &format!("No such column '{key}' on sobject of type {object}"),
                Some(vec![key.clone()]),
            ));
        };
        if let Err(fault) = field.check(value) {
            return Err(salesforce_error(
                StatusCode::BAD_REQUEST,
                fault.error_code,
                &fault.message,
                Some(vec![key.clone()]),
            ));
        }
    }
    if object == "Task" && for_create && !fields.contains_key("Status") {
        fields.insert("Status".into(), json!("Not Started"));
    }
    if for_create {
        let missing: Vec<String> = schema
            .missing_required(&fields)
            .map(str::to_string)
            .collect();
        if !missing.is_empty() {
            return Err(salesforce_error(
                StatusCode::BAD_REQUEST,
                "REQUIRED_FIELD_MISSING",
                &format!("Required fields are missing: [{}]", missing.join(", ")),
                Some(missing),
            ));
        }
    }
    Ok(fields)
}

fn get_record(
    world: &World,
    number: &str,
    object: &str,
    id: &str,
    fields: Option<&String>,
) -> Response {
    let Some(record) = world.record(object, id) else {
        return salesforce_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
            None,
        );
    };
    let mut out = Map::new();
    out.insert("attributes".into(), attributes(number, object, id));
    match fields {
        Some(list) => {
            for field in list.split(',').map(str::trim) {
                out.insert(
                    field.to_string(),
                    record.get(field).cloned().unwrap_or(Value::Null),
                );
            }
        }
        None => {
            for (key, value) in record {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    json_response(StatusCode::OK, Value::Object(out))
}

fn create(world: &mut World, object: &str, body: &[u8], user: &str) -> Response {
    let fields = match parse_body(body).and_then(|f| validate(object, f, true)) {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    match insert(world, object, fields, user) {
        Ok(id) => json_response(
            StatusCode::CREATED,
            json!({ "id": id, "success": true, "errors": [] }),
        ),
        Err(response) => response,
    }
}

/// Inserts a validated record, owned by the calling user unless it names an owner (as
/// Salesforce makes the creator the owner); `NOT_FOUND` for an object the org does not have.
fn insert(
    world: &mut World,
    object: &str,
    mut fields: Map<String, Value>,
    user: &str,
) -> Result<String, Response> {
    if object_has_owner(object) && !fields.contains_key("OwnerId") {
        fields.insert("OwnerId".into(), json!(user));
    }
    world.insert_record(object, fields).ok_or_else(|| {
        salesforce_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
            None,
        )
    })
}

/// The objects whose records have an owner here (the others are the org's set-up).
fn object_has_owner(object: &str) -> bool {
    Schema::package()
        .object(object)
        .is_some_and(|schema| schema.has_owner())
}

fn update(world: &mut World, object: &str, id: &str, body: &[u8]) -> Response {
    let fields = match parse_body(body).and_then(|f| validate(object, f, false)) {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    if world.update_record(object, id, fields) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        salesforce_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
            None,
        )
    }
}

fn upsert(
    world: &mut World,
    object: &str,
    field: &str,
    value: &str,
    body: &[u8],
    user: &str,
) -> Response {
    if !Schema::package()
        .object(object)
        .is_some_and(|schema| schema.is_external_id(field))
    {
        return salesforce_error(
            StatusCode::BAD_REQUEST,
            "NOT_FOUND",
            &format!("Provided external ID field does not exist or is not accessible: {field}"),
            None,
        );
    }
    let mut fields = match parse_body(body).and_then(|f| validate(object, f, false)) {
        Ok(fields) => fields,
        Err(response) => return response,
    };
    let matches = world.find_by(object, field, value);
    match matches.as_slice() {
        [] => {
            fields.insert(field.to_string(), json!(value));
            let fields = match validate(object, fields, true) {
                Ok(fields) => fields,
                Err(response) => return response,
            };
            match insert(world, object, fields, user) {
                Ok(id) => json_response(
                    StatusCode::CREATED,
                    json!({ "id": id, "success": true, "errors": [], "created": true }),
                ),
                Err(response) => response,
            }
        }
        [id] => {
            let id = id.clone();
            world.update_record(object, &id, fields);
            StatusCode::NO_CONTENT.into_response()
        }
        many => json_response(
            StatusCode::MULTIPLE_CHOICES,
            Value::Array(
                many.iter()
                    .map(|id| json!(format!("/services/data/v62.0/sobjects/{object}/{id}")))
                    .collect(),
            ),
        ),
    }
}

fn batch_size(headers: &HeaderMap) -> usize {
    headers
        .get("Sforce-Query-Options")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .find_map(|part| part.trim().strip_prefix("batchSize="))
        })
        .and_then(|n| n.parse().ok())
        .map_or(2000, |n: usize| n.clamp(200, 2000))
}

fn query(world: &mut World, number: &str, text: &str, headers: &HeaderMap) -> Response {
    let parsed = match soql::parse(text) {
        Ok(parsed) => parsed,
        Err(message) => {
            return salesforce_error(StatusCode::BAD_REQUEST, "MALFORMED_QUERY", &message, None)
        }
    };
    let Some(schema) = Schema::package().object(&parsed.object) else {
        return salesforce_error(
            StatusCode::BAD_REQUEST,
            "INVALID_TYPE",
            &format!("sObject type '{}' is not supported.", parsed.object),
            None,
        );
    };
    // Which objects are read how often: what a client's caching saves shows here.
    world.count(&format!("salesforce soql {}", parsed.object));
    for field in parsed
        .fields
        .iter()
        .chain(parsed.conditions.iter().map(|c| &c.field))
    {
        if !schema.has_field(field) {
            return salesforce_error(
                StatusCode::BAD_REQUEST,
                "INVALID_FIELD",
                &format!("No such column '{field}' on entity '{}'.", parsed.object),
                None,
            );
        }
    }
    let mut rows: Vec<Map<String, Value>> = world
        .records
        .get(&parsed.object)
        .map(|records| {
            records
                .values()
                .filter(|r| parsed.matches(r))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    if let Some((field, ascending)) = &parsed.order_by {
        rows.sort_by(|a, b| {
            let (x, y) = (
                a.get(field).cloned().unwrap_or(Value::Null),
                b.get(field).cloned().unwrap_or(Value::Null),
            );
            let ordering = match (x.as_f64(), y.as_f64()) {
                (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
                _ => x.to_string().cmp(&y.to_string()),
            };
            if *ascending {
                ordering
            } else {
                ordering.reverse()
            }
        });
    }
    if let Some(limit) = parsed.limit {
        rows.truncate(limit);
    }
    let records: Vec<Value> = rows
        .iter()
        .map(|row| {
            let id = row.get("Id").and_then(Value::as_str).unwrap_or("");
            let mut out = Map::new();
            out.insert("attributes".into(), attributes(number, &parsed.object, id));
            for field in &parsed.fields {
                out.insert(
                    field.clone(),
                    row.get(field).cloned().unwrap_or(Value::Null),
                );
            }
            Value::Object(out)
        })
        .collect();
    let total = records.len();
    page(world, number, records, total, batch_size(headers))
}

/// Answers one page of `records` out of `total`; the rest waits behind a query locator.
fn page(
    world: &mut World,
    number: &str,
    mut records: Vec<Value>,
    total: usize,
    batch: usize,
) -> Response {
    if records.len() <= batch {
        return json_response(
            StatusCode::OK,
            json!({ "totalSize": total, "done": true, "records": records }),
        );
    }
    let rest = records.split_off(batch);
    let locator = format!("01g{}-{batch}", world.next_record);
    world.next_record += 1;
    world
        .query_locators
        .insert(locator.clone(), (rest, total, batch));
    json_response(
        StatusCode::OK,
        json!({
            "totalSize": total,
            "done": false,
            "nextRecordsUrl": format!("/services/data/v{number}/query/{locator}"),
            "records": records,
        }),
    )
}

fn query_more(world: &mut World, number: &str, locator: &str) -> Response {
    let Some((records, total, batch)) = world.query_locators.remove(locator) else {
        return salesforce_error(
            StatusCode::BAD_REQUEST,
            "INVALID_QUERY_LOCATOR",
            "invalid query locator",
            None,
        );
    };
    page(world, number, records, total, batch)
}

fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

fn search(world: &World, text: &str) -> Response {
    let parsed = match soql::parse_search(text) {
        Ok(parsed) => parsed,
        Err(message) => {
            return salesforce_error(StatusCode::BAD_REQUEST, "MALFORMED_SEARCH", &message, None)
        }
    };
    let wanted = digits(&parsed.term);
    if wanted.len() < 2 {
        return salesforce_error(
            StatusCode::BAD_REQUEST,
            "MALFORMED_SEARCH",
            "search term must be longer than one character",
            None,
        );
    }
    let mut found = Vec::new();
    for (object, fields) in &parsed.returning {
        let Some(records) = world.records.get(object) else {
            continue;
        };
        for record in records.values() {
            let phone_match = ["Phone", "MobilePhone"].iter().any(|field| {
                record
                    .get(*field)
                    .and_then(Value::as_str)
                    .map(digits)
                    .is_some_and(|stored| {
                        !stored.is_empty()
                            && (stored.ends_with(&wanted) || wanted.ends_with(&stored))
                    })
            });
            if phone_match {
                let id = record.get("Id").and_then(Value::as_str).unwrap_or("");
                let mut out = Map::new();
                out.insert("attributes".into(), json!({ "type": object, "url": format!("/services/data/v62.0/sobjects/{object}/{id}") }));
                for field in fields {
                    out.insert(
                        field.clone(),
                        record.get(field).cloned().unwrap_or(Value::Null),
                    );
                }
                found.push(Value::Object(out));
            }
        }
    }
    json_response(StatusCode::OK, json!({ "searchRecords": found }))
}

fn composite(world: &mut World, number: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let request: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(_) => {
            return salesforce_error(
                StatusCode::BAD_REQUEST,
                "JSON_PARSER_ERROR",
                "The request body is not JSON.",
                None,
            )
        }
    };
    let Some(items) = request.get("compositeRequest").and_then(Value::as_array) else {
        return salesforce_error(
            StatusCode::BAD_REQUEST,
            "INVALID_INPUT",
            "compositeRequest is required",
            None,
        );
    };
    if items.len() > 25 {
        return salesforce_error(
            StatusCode::BAD_REQUEST,
            "LIMIT_EXCEEDED",
            "Composite requests are limited to 25 subrequests.",
            None,
        );
    }
    let mut results: Vec<Value> = Vec::new();
    let mut references: HashMap<String, Value> = HashMap::new();
    for item in items {
        let method = item
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or("GET")
            .to_uppercase();
        let mut url = item
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        for (reference, value) in &references {
            if let Some(id) = value.get("id").and_then(Value::as_str) {
                url = url.replace(&format!("@{{{reference}.id}}"), id);
            }
        }
        let reference_id = item
            .get("referenceId")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let sub_body = item.get("body").map(|b| b.to_string()).unwrap_or_default();
        let (path, query_string) = url.split_once('?').unwrap_or((&url, ""));
        let prefix = format!("/services/data/v{number}/");
        let Some(rest) = path.strip_prefix(&prefix) else {
            results.push(json!({ "body": [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}], "httpHeaders": {}, "httpStatusCode": 404, "referenceId": reference_id }));
            continue;
        };
        let params: HashMap<String, String> = query_string
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_string(), v.replace('+', " ")))
            .collect();
        let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
        let response = handle(
            world,
            &method,
            headers,
            &format!("v{number}"),
            rest,
            &params,
            sub_body.as_bytes(),
        );
        let status = response.status().as_u16();
        let body = futures_body_to_value(response);
        if (200..300).contains(&status) {
            references.insert(reference_id.clone(), body.clone());
        }
        results.push(json!({ "body": body, "httpHeaders": {}, "httpStatusCode": status, "referenceId": reference_id }));
    }
    json_response(StatusCode::OK, json!({ "compositeResponse": results }))
}

/// Reads a body built by this module (always complete and in memory).
fn futures_body_to_value(response: Response) -> Value {
    use http_body_util::BodyExt as _;
    let body = response.into_body();
    let collected = futures_util::FutureExt::now_or_never(body.collect());
    match collected {
        Some(Ok(bytes)) => serde_json::from_slice(&bytes.to_bytes()).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}
