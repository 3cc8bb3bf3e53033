//! The emulated org's Salesforce schema, read from our package's metadata in `salesforce/`
//! (embedded at build time): each custom object's fields with their types, lengths, picklist
//! values, external ids and required flags, the custom fields the package adds to standard
//! objects (`Activity` fields appear on `Task`), and the PushTopics the package's setup creates.
//! The standard objects we touch are described here, as far as we use them. The org therefore
//! accepts exactly what an org with the package installed accepts, and refuses the rest with
//! Salesforce's error codes.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use serde_json::Value;

include!(concat!(env!("OUT_DIR"), "/package_files.rs"));

/// A field's type, with what Salesforce checks on a write.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    Text {
        length: usize,
    },
    Number {
        precision: u32,
        scale: u32,
    },
    Checkbox,
    DateTime,
    Date,
    /// A Url field: text of at most 255 characters (the org does not check the form).
    Url,
    Picklist {
        values: Vec<String>,
        restricted: bool,
    },
    Lookup {
        to: String,
    },
    /// `Name` of an object whose name field is an Auto Number: set by the org, never written.
    AutoNumber {
        display_format: String,
    },
    /// A standard field we do not model further.
    Standard,
}

/// One field of an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub label: String,
    pub kind: FieldKind,
    pub required: bool,
    pub external_id: bool,
    pub unique: bool,
}

/// One object: its fields by API name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SObject {
    pub name: String,
    pub custom: bool,
    pub fields: BTreeMap<String, Field>,
}

/// A PushTopic of the package: its name, object and the fields its query selects.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicDefinition {
    pub name: String,
    pub object: String,
    pub fields: Vec<String>,
}

/// The org's schema.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema {
    objects: BTreeMap<String, SObject>,
    topics: Vec<TopicDefinition>,
}

/// A package file that cannot be used; names the file and the fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct SchemaError {
    pub file: String,
    pub problem: String,
}

/// Why a field value is refused, as Salesforce's REST API says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldFault {
    pub error_code: &'static str,
    pub message: String,
}

/// Fields every record of a custom object has besides the package's.
const CUSTOM_OBJECT_STANDARD_FIELDS: &[&str] = &["OwnerId"];
/// Fields every record has and that queries may name; the org sets them.
pub const SYSTEM_FIELDS: &[&str] = &["Id", "CreatedDate", "LastModifiedDate"];
/// Where a package file's object lies: `…/objects/<Object>/…`.
const OBJECTS_DIRECTORY: &str = "/objects/";

impl Schema {
    /// The schema of the package this emulator was built with.
    pub fn package() -> &'static Schema {
        static PACKAGE: OnceLock<Schema> = OnceLock::new();
        PACKAGE.get_or_init(|| {
            // The same files pass `make salesforce-check` and this crate's tests, which parse
            // them with `from_files` and fail on any fault; a fault here cannot reach a binary.
            Schema::from_files(
                PACKAGE_FILES
                    .iter()
                    .map(|(p, t)| (p.to_string(), t.to_string())),
            )
            .unwrap_or_else(|error| {
                tracing::error!(%error, "the embedded Salesforce package is broken");
                Schema::standard_only()
            })
        })
    }

    /// The package files the build embeds, as paths under `salesforce/`.
    pub fn package_file_paths() -> impl Iterator<Item = &'static str> {
        PACKAGE_FILES.iter().map(|(path, _)| *path)
    }

    /// Reads a package checkout (the `salesforce/` directory), as the build embeds it.
    pub fn from_dir(salesforce: &Path) -> Result<Schema, SchemaError> {
        let mut files = Vec::new();
        for (path, _) in PACKAGE_FILES {
            let full = salesforce.join(path);
            match std::fs::read_to_string(&full) {
                Ok(text) => files.push((path.to_string(), text)),
                // A file the package no longer has is not an error: that is the point of reading.
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => {
                    return Err(SchemaError {
                        file: full.display().to_string(),
                        problem: error.to_string(),
                    })
                }
            }
        }
        Schema::from_files(files)
    }

    /// Builds the schema from package files (path under `salesforce/`, contents).
    pub fn from_files(
        files: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Schema, SchemaError> {
        let mut schema = Schema::standard_only();
        let mut topics_file = None;
        for (path, text) in files {
            if path.ends_with(".json") {
                topics_file = Some((path, text));
                continue;
            }
            let fault = |problem: String| SchemaError {
                file: path.clone(),
                problem,
            };
            let object_name = path
                .split(OBJECTS_DIRECTORY)
                .nth(1)
                .and_then(|rest| rest.split('/').next())
                .ok_or_else(|| fault("not under an objects/ directory".into()))?
                .to_string();
            let document = roxmltree::Document::parse(&text).map_err(|e| fault(e.to_string()))?;
            let root = document.root_element();
            // Fields of Activity are stored there and appear on Task (and Event).
            let target = if object_name == "Activity" {
                "Task".to_string()
            } else {
                object_name.clone()
            };
            let object = schema
                .objects
                .entry(target.clone())
                .or_insert_with(|| SObject::custom(&target));
            match root.tag_name().name() {
                "CustomObject" => {
                    let name_field = child(root, "nameField")
                        .ok_or_else(|| fault("the object has no <nameField>".into()))?;
                    let label = text_of(name_field, "label").unwrap_or("Name").to_string();
                    let kind = match text_of(name_field, "type") {
                        Some("AutoNumber") => FieldKind::AutoNumber {
                            display_format: text_of(name_field, "displayFormat")
                                .unwrap_or("{0}")
                                .to_string(),
                        },
                        Some("Text") => FieldKind::Text { length: 80 },
                        other => return Err(fault(format!("name field of type {other:?}"))),
                    };
                    object.insert(Field {
                        name: "Name".into(),
                        label,
                        required: matches!(kind, FieldKind::Text { .. }),
                        kind,
                        external_id: false,
                        unique: false,
                    });
                }
                "CustomField" => object.insert(parse_field(root).map_err(fault)?),
                other => return Err(fault(format!("unexpected root element <{other}>"))),
            }
        }
        if let Some((path, text)) = topics_file {
            schema.topics = parse_topics(&schema, &text).map_err(|problem| SchemaError {
                file: path,
                problem,
            })?;
        }
        Ok(schema)
    }

    /// The standard objects we use, without the package.
    fn standard_only() -> Schema {
        let mut objects = BTreeMap::new();
        let standard = |name: &str, fields: &[&str]| {
            let mut object = SObject {
                name: name.into(),
                custom: false,
                fields: BTreeMap::new(),
            };
            for field in fields {
                object.insert(Field::standard(field));
            }
            object
        };
        let mut task = standard(
            "Task",
            &[
                "Subject",
                "TaskSubtype",
                "CallDisposition",
                "CallDurationInSeconds",
                "CallObject",
                "WhoId",
                "WhatId",
                "ActivityDate",
                "Status",
                "Priority",
                "Description",
                "OwnerId",
            ],
        );
        task.insert(Field {
            kind: FieldKind::Picklist {
                values: vec!["Inbound".into(), "Outbound".into(), "Internal".into()],
                restricted: true,
            },
            label: "Call Type".into(),
            ..Field::standard("CallType")
        });
        for object in [
            task,
            standard(
                "Contact",
                &[
                    "FirstName",
                    "LastName",
                    "Name",
                    "Phone",
                    "MobilePhone",
                    "AccountId",
                ],
            ),
            standard(
                "Lead",
                &[
                    "FirstName",
                    "LastName",
                    "Name",
                    "Company",
                    "Phone",
                    "MobilePhone",
                ],
            ),
            standard("Account", &["Name", "Phone"]),
            standard("User", &["Name", "Username", "Email", "IsActive"]),
        ] {
            objects.insert(object.name.clone(), object);
        }
        Schema {
            objects,
            topics: Vec::new(),
        }
    }

    pub fn object(&self, name: &str) -> Option<&SObject> {
        self.objects.get(name)
    }

    pub fn objects(&self) -> impl Iterator<Item = &SObject> {
        self.objects.values()
    }

    /// The package's PushTopics, as its setup creates them.
    pub fn topics(&self) -> &[TopicDefinition] {
        &self.topics
    }
}

impl SObject {
    fn custom(name: &str) -> SObject {
        let mut object = SObject {
            name: name.into(),
            custom: name.ends_with("__c"),
            fields: BTreeMap::new(),
        };
        if object.custom {
            for field in CUSTOM_OBJECT_STANDARD_FIELDS {
                object.insert(Field::standard(field));
            }
        }
        object
    }

    fn insert(&mut self, field: Field) {
        self.fields.insert(field.name.clone(), field);
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.get(name)
    }

    /// Whether a query or a write may name the field.
    pub fn has_field(&self, name: &str) -> bool {
        SYSTEM_FIELDS.contains(&name) || self.fields.contains_key(name)
    }

    /// Whether the object's records have an owner (custom objects and Task).
    pub fn has_owner(&self) -> bool {
        self.fields.contains_key("OwnerId")
    }

    pub fn is_external_id(&self, name: &str) -> bool {
        self.field(name).is_some_and(|f| f.external_id)
    }

    /// The required fields a new record lacks (the org fills auto numbers itself).
    pub fn missing_required<'a>(
        &'a self,
        record: &'a serde_json::Map<String, Value>,
    ) -> impl Iterator<Item = &'a str> {
        self.fields
            .values()
            .filter(|f| f.required && record.get(&f.name).is_none_or(Value::is_null))
            .map(|f| f.name.as_str())
    }
}

impl Field {
    fn standard(name: &str) -> Field {
        Field {
            name: name.into(),
            label: name.into(),
            kind: FieldKind::Standard,
            required: false,
            external_id: false,
            unique: false,
        }
    }

    /// Checks a value written to this field as Salesforce does; `null` clears a field that is
    /// not required.
    pub fn check(&self, value: &Value) -> Result<(), FieldFault> {
        let label = &self.label;
        let wrong_type = |expected: &str| FieldFault {
            error_code: "JSON_PARSER_ERROR",
            message: format!("Cannot deserialize instance of {expected} from {value} for {label}"),
        };
        if value.is_null() {
            if self.required {
                return Err(FieldFault {
                    error_code: "REQUIRED_FIELD_MISSING",
                    message: format!("Required fields are missing: [{}]", self.name),
                });
            }
            return Ok(());
        }
        match &self.kind {
            FieldKind::Standard => Ok(()),
            FieldKind::AutoNumber { .. } => Err(FieldFault {
                error_code: "INVALID_FIELD_FOR_INSERT_UPDATE",
                message: format!("Unable to create/update fields: {}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.", self.name),
            }),
            FieldKind::Text { length } => {
                let text = value.as_str().ok_or_else(|| wrong_type("string"))?;
                if text.chars().count() > *length {
                    return Err(FieldFault {
                        error_code: "STRING_TOO_LONG",
                        message: format!("{label}: data value too large: {text} (max length={length})"),
                    });
                }
                Ok(())
            }
            FieldKind::Url => {
                let text = value.as_str().ok_or_else(|| wrong_type("string"))?;
                if text.chars().count() > 255 {
                    return Err(FieldFault {
                        error_code: "STRING_TOO_LONG",
                        message: format!("{label}: data value too large: {text} (max length=255)"),
                    });
                }
                Ok(())
            }
            FieldKind::Number { precision, scale } => {
                let number = value.as_f64().ok_or_else(|| wrong_type("double"))?;
                let integer_digits = if number.abs() < 1.0 {
                    0
                } else {
                    number.abs().log10().floor() as u32 + 1
                };
                if integer_digits > precision.saturating_sub(*scale) {
                    return Err(FieldFault {
                        error_code: "NUMBER_OUTSIDE_VALID_RANGE",
                        message: format!("{label}: value outside of valid range on numeric field: {number}"),
                    });
                }
                Ok(())
            }
            FieldKind::Checkbox => value.as_bool().map(|_| ()).ok_or_else(|| wrong_type("boolean")),
            FieldKind::DateTime | FieldKind::Date => {
                let text = value.as_str().ok_or_else(|| wrong_type("date"))?;
                let valid = if self.kind == FieldKind::Date {
                    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok()
                } else {
                    is_salesforce_datetime(text)
                };
                if valid {
                    Ok(())
                } else {
                    Err(wrong_type("datetime"))
                }
            }
            FieldKind::Picklist { values, restricted } => {
                let text = value.as_str().ok_or_else(|| wrong_type("string"))?;
                if *restricted && !values.iter().any(|v| v == text) {
                    return Err(FieldFault {
                        error_code: "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        message: format!("{label}: bad value for restricted picklist field: {text}"),
                    });
                }
                Ok(())
            }
            FieldKind::Lookup { .. } => {
                let text = value.as_str().ok_or_else(|| wrong_type("string"))?;
                let well_formed = matches!(text.len(), 15 | 18)
                    && text.chars().all(|c| c.is_ascii_alphanumeric());
                if !well_formed {
                    return Err(FieldFault {
                        error_code: "MALFORMED_ID",
                        message: format!("{label}: id value of incorrect type: {text}"),
                    });
                }
                Ok(())
            }
        }
    }
}

/// An Auto Number's text: the `{000}` part of the display format holds the number, padded to
/// its width (`AP-{000000}`, 7 → `AP-000007`).
pub fn format_auto_number(display_format: &str, number: u64) -> String {
    let (Some(open), Some(close)) = (display_format.find('{'), display_format.find('}')) else {
        return format!("{display_format}{number}");
    };
    if close < open {
        return format!("{display_format}{number}");
    }
    let width = close - open - 1;
    format!(
        "{}{number:0width$}{}",
        &display_format[..open],
        &display_format[close + 1..]
    )
}

/// A dateTime as the REST API takes it: ISO 8601 with an offset (`Z`, `+00:00` or `+0000`).
fn is_salesforce_datetime(text: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(text).is_ok()
        || chrono::DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z").is_ok()
}

fn child<'a, 'input>(
    node: roxmltree::Node<'a, 'input>,
    name: &str,
) -> Option<roxmltree::Node<'a, 'input>> {
    node.children().find(|c| c.has_tag_name(name))
}

fn text_of<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> Option<&'a str> {
    child(node, name).and_then(|c| c.text()).map(str::trim)
}

fn parse_field(root: roxmltree::Node) -> Result<Field, String> {
    let name = text_of(root, "fullName").ok_or("the field has no <fullName>")?;
    let flag = |element: &str| text_of(root, element) == Some("true");
    let number = |element: &str| -> Result<u32, String> {
        text_of(root, element)
            .ok_or_else(|| format!("{name} has no <{element}>"))?
            .parse()
            .map_err(|_| format!("{name}: <{element}> is not a number"))
    };
    let kind = match text_of(root, "type") {
        Some("Text") => FieldKind::Text {
            length: number("length")? as usize,
        },
        Some("Number") => FieldKind::Number {
            precision: number("precision")?,
            scale: number("scale")?,
        },
        Some("Checkbox") => FieldKind::Checkbox,
        Some("Url") => FieldKind::Url,
        Some("DateTime") => FieldKind::DateTime,
        Some("Date") => FieldKind::Date,
        Some("Lookup") => FieldKind::Lookup {
            to: text_of(root, "referenceTo")
                .ok_or_else(|| format!("{name}: a Lookup without <referenceTo>"))?
                .to_string(),
        },
        Some("Picklist") => {
            let value_set = child(root, "valueSet").ok_or(format!("{name} has no <valueSet>"))?;
            let values = child(value_set, "valueSetDefinition")
                .map(|definition| {
                    definition
                        .children()
                        .filter(|c| c.has_tag_name("value"))
                        .filter_map(|v| text_of(v, "fullName").map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            FieldKind::Picklist {
                values,
                restricted: text_of(value_set, "restricted") == Some("true"),
            }
        }
        other => return Err(format!("{name}: field type {other:?} is not emulated")),
    };
    Ok(Field {
        name: name.to_string(),
        label: text_of(root, "label").unwrap_or(name).to_string(),
        kind,
        required: flag("required"),
        external_id: flag("externalId"),
        unique: flag("unique"),
    })
}

/// The PushTopic file (`PresenceBridgePushTopics.json`): each topic's query is read as the
/// Streaming API reads it: `SELECT Id, f, … FROM Object`, every field the object's.
fn parse_topics(schema: &Schema, text: &str) -> Result<Vec<TopicDefinition>, String> {
    #[derive(serde::Deserialize)]
    struct File {
        topics: Vec<Topic>,
    }
    #[derive(serde::Deserialize)]
    struct Topic {
        name: String,
        query: String,
    }
    let file: File = serde_json::from_str(text).map_err(|e| e.to_string())?;
    file.topics
        .into_iter()
        .map(|topic| {
            let query = crate::soql::parse(&topic.query)
                .map_err(|e| format!("{}: the query does not parse: {e}", topic.name))?;
            let object = schema
                .object(&query.object)
                .ok_or_else(|| format!("{}: unknown object {}", topic.name, query.object))?;
            if let Some(field) = query.fields.iter().find(|f| !object.has_field(f)) {
                return Err(format!(
                    "{}: unknown field {}.{field}",
                    topic.name, object.name
                ));
            }
            Ok(TopicDefinition {
                name: topic.name,
                object: query.object,
                fields: query.fields,
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
