//! Schema-driven fuzzing for Kubernetes structural schemas (the OpenAPI v3 subset CRDs use).
//!
//! The API server accepts any object that conforms to a CRD's `openAPIV3Schema`, prunes the
//! fields the schema does not declare and stores the rest. The operator then has to deserialize
//! whatever was stored. This module lets a property test play API server:
//!
//! * [`conforms`] validates a JSON value the way the API server's schema validation does;
//! * [`prune`] removes what the API server would drop before storing (unknown fields, nulls of
//!   non-nullable fields); [`apply_defaults`] fills in `default`s as the API server does;
//! * [`arbitrary`] generates values that conform to a schema, biased towards edge cases;
//! * [`mutate`] starts from a valid example and replaces, adds and removes parts of it through the
//!   schema, so every case is still something the API server accepts;
//! * [`crd_schema`] finds the schema of a kind in a list of CustomResourceDefinitions.
//!
//! Only `proptest` and `serde_json` are used. Unknown keywords are treated as unconstrained and
//! unexpected schema shapes never panic: the worst case is a less thorough generator.
//!
//! Not covered (neither checked nor generated): `x-kubernetes-validations` (CEL rules),
//! `multipleOf`, formats other than `date` and `date-time` (Kubernetes also checks e.g. `uuid`,
//! `email`, `byte`), ObjectMeta validation of `metadata`, and regular-expression features beyond
//! the common subset (see [`Regex`]): patterns using them are not enforced by [`conforms`].

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::strategy::Union;
use serde_json::{Map, Value};

/// Prefix of the unknown fields [`arbitrary`] and [`mutate`] inject; [`prune`] must remove them
/// wherever the schema does not preserve unknown fields.
pub const UNKNOWN_FIELD_PREFIX: &str = "fuzzUnknown";

/// Beyond this nesting depth the generator produces minimal valid values, so that generation of
/// deeply nested (or accidentally self-similar) schemas terminates quickly.
const MAX_DEPTH: usize = 8;

/// Upper bound on generated array lengths when the schema gives no `maxItems`.
const DEFAULT_MAX_ITEMS: usize = 4;

/// How many candidates a constrained strategy draws before falling back to a minimal value.
const RETRIES: usize = 4;

/// Fields every resource (and every `x-kubernetes-embedded-resource`) has without declaring them.
const RESOURCE_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

/// Integers that break narrowing conversions: the generator picks them often, which is what finds
/// a `u32` field whose schema has no `maximum`.
const EDGE_INTEGERS: [i64; 16] = [
    0,
    1,
    -1,
    i32::MAX as i64,
    i32::MAX as i64 + 1,
    i32::MIN as i64,
    i32::MIN as i64 - 1,
    u32::MAX as i64,
    u32::MAX as i64 + 1,
    1 << 40,
    1 << 53,
    (1 << 53) + 1,
    i64::MAX - 1,
    i64::MAX,
    i64::MIN,
    i64::MIN + 1,
];

/// Strings that tend to confuse parsers and naive string handling.
const TRICKY_STRINGS: [&str; 16] = [
    "",
    " ",
    "null",
    "true",
    "0",
    "-1",
    "1e3",
    "ns/name",
    "a/b/c",
    "{domain}",
    "-",
    "_",
    "ümlaut",
    "日本語",
    "🦀",
    "\t\n",
];

// ---------------------------------------------------------------------------------------------
// Schema accessors: every keyword is optional and may have an unexpected shape.
// ---------------------------------------------------------------------------------------------

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn type_of(schema: &Value) -> Option<&str> {
    schema.get("type").and_then(Value::as_str)
}

fn nullable(schema: &Value) -> bool {
    flag(schema, "nullable")
}

fn int_or_string(schema: &Value) -> bool {
    flag(schema, "x-kubernetes-int-or-string")
}

fn preserves_unknown(schema: &Value) -> bool {
    flag(schema, "x-kubernetes-preserve-unknown-fields")
}

fn embedded(schema: &Value) -> bool {
    flag(schema, "x-kubernetes-embedded-resource")
}

fn properties(schema: &Value) -> Option<&Map<String, Value>> {
    schema.get("properties").and_then(Value::as_object)
}

fn property<'a>(schema: &'a Value, name: &str) -> Option<&'a Value> {
    properties(schema).and_then(|p| p.get(name))
}

fn required(schema: &Value) -> BTreeSet<String> {
    let names = schema.get("required").and_then(Value::as_array);
    names
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// The schema of undeclared fields when `additionalProperties` is a schema (a map type).
fn additional_schema(schema: &Value) -> Option<&Value> {
    schema.get("additionalProperties").filter(|v| v.is_object())
}

/// `additionalProperties: false` forbids undeclared fields (Kubernetes rejects such CRDs, but a
/// hand-written schema may still say it).
fn forbids_additional(schema: &Value) -> bool {
    schema.get("additionalProperties") == Some(&Value::Bool(false))
}

/// Whether undeclared fields of this object are kept rather than pruned.
fn keeps_undeclared(schema: &Value) -> bool {
    preserves_unknown(schema) || schema.get("additionalProperties") == Some(&Value::Bool(true))
}

fn items(schema: &Value) -> Option<&Value> {
    schema.get("items").filter(|v| v.is_object())
}

fn usize_keyword(schema: &Value, key: &str) -> Option<usize> {
    let value = schema.get(key)?;
    let n = value
        .as_u64()
        .or_else(|| value.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))?;
    Some(usize::try_from(n).unwrap_or(usize::MAX))
}

fn str_keyword<'a>(schema: &'a Value, key: &str) -> Option<&'a str> {
    schema.get(key).and_then(Value::as_str)
}

fn branches<'a>(schema: &'a Value, key: &str) -> &'a [Value] {
    schema
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn has_combinators(schema: &Value) -> bool {
    ["allOf", "anyOf", "oneOf"]
        .iter()
        .any(|k| !branches(schema, k).is_empty())
        || schema.get("not").is_some_and(Value::is_object)
}

/// A numeric bound: its value and whether it is exclusive. OpenAPI v3.0 (what Kubernetes uses)
/// spells exclusivity as `exclusiveMinimum: true`; a numeric `exclusiveMinimum` (JSON Schema
/// 2019) is accepted as well.
#[derive(Clone, Copy, Debug)]
struct Bound {
    value: f64,
    exclusive: bool,
}

fn bounds(schema: &Value, inclusive_key: &str, exclusive_key: &str) -> Vec<Bound> {
    let mut found = Vec::new();
    if let Some(value) = schema.get(inclusive_key).and_then(Value::as_f64) {
        found.push(Bound {
            value,
            exclusive: flag(schema, exclusive_key),
        });
    }
    if let Some(value) = schema.get(exclusive_key).and_then(Value::as_f64) {
        found.push(Bound {
            value,
            exclusive: true,
        });
    }
    found
}

fn lower_bounds(schema: &Value) -> Vec<Bound> {
    bounds(schema, "minimum", "exclusiveMinimum")
}

fn upper_bounds(schema: &Value) -> Vec<Bound> {
    bounds(schema, "maximum", "exclusiveMaximum")
}

// ---------------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------------

/// One step of a JSON path. Ordering matters for [`mutate`]: applying operations in reverse
/// path order touches descendants and later array items before their ancestors and earlier
/// items, so no operation invalidates the path of another.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Seg {
    Key(String),
    Index(usize),
}

fn render_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) if is_plain_key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Key(k) => out.push_str(&format!("[{}]", Value::from(k.as_str()))),
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    if out.is_empty() {
        out.push_str("<root>");
    }
    out
}

fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A value for error messages: JSON, cut short so multi-kilobyte strings stay readable.
fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 80 {
        text
    } else {
        let head: String = text.chars().take(77).collect();
        format!("{head}...")
    }
}

fn show_bound(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e18 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

// ---------------------------------------------------------------------------------------------
// conforms
// ---------------------------------------------------------------------------------------------

/// Validates `value` against a Kubernetes structural schema, as the API server does after
/// pruning. Returns every violation, each prefixed with its JSON path, joined by `"; "`.
///
/// Fields the schema does not declare are *not* errors (the API server prunes them instead of
/// rejecting them) unless `additionalProperties: false`. Nulls are errors unless `nullable` (the
/// API server drops nulls of non-nullable fields before validating: run [`prune`] first to
/// model that). Integer formats (`int32`, `uint32`, ...) are informational in Kubernetes and not
/// enforced; `date` and `date-time` are. Patterns use the subset [`Regex`] understands; a pattern
/// outside it is not enforced.
pub fn conforms(schema: &Value, value: &Value) -> Result<(), String> {
    let mut errors = Vec::new();
    check(schema, value, &mut Vec::new(), &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

fn check(schema: &Value, value: &Value, path: &mut Vec<Seg>, errors: &mut Vec<String>) {
    if value.is_null() {
        // A schema without a type says nothing about null.
        let typed = type_of(schema).is_some() || int_or_string(schema);
        if typed && !nullable(schema) {
            errors.push(format!("{}: null but not nullable", render_path(path)));
        }
        return;
    }
    if !check_type(schema, value, path, errors) {
        // Every other check assumes the right type; one error per node is enough.
        return;
    }
    check_enum(schema, value, path, errors);
    match value {
        Value::String(s) => check_string(schema, s, path, errors),
        Value::Number(_) => check_number(schema, value, path, errors),
        Value::Array(a) => check_array(schema, a, path, errors),
        Value::Object(m) => check_object(schema, m, path, errors),
        _ => {}
    }
    check_combinators(schema, value, path, errors);
}

fn is_integer(value: &Value) -> bool {
    match value {
        Value::Number(n) => {
            n.is_i64()
                || n.is_u64()
                || n.as_f64()
                    .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
        }
        _ => false,
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) if is_integer(value) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check_type(schema: &Value, value: &Value, path: &[Seg], errors: &mut Vec<String>) -> bool {
    let (ok, expected) = if int_or_string(schema) {
        (is_integer(value) || value.is_string(), "integer or string")
    } else {
        match type_of(schema) {
            Some("object") => (value.is_object(), "object"),
            Some("array") => (value.is_array(), "array"),
            Some("string") => (value.is_string(), "string"),
            Some("integer") => (is_integer(value), "integer"),
            Some("number") => (value.is_number(), "number"),
            Some("boolean") => (value.is_boolean(), "boolean"),
            _ => (true, ""),
        }
    };
    if !ok {
        errors.push(format!(
            "{}: expected {expected}, got {} {}",
            render_path(path),
            json_type(value),
            show(value)
        ));
    }
    ok
}

fn check_enum(schema: &Value, value: &Value, path: &[Seg], errors: &mut Vec<String>) {
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            errors.push(format!(
                "{}: {} is not one of {}",
                render_path(path),
                show(value),
                show(&Value::Array(allowed.clone()))
            ));
        }
    }
}

fn check_string(schema: &Value, s: &str, path: &[Seg], errors: &mut Vec<String>) {
    // Kubernetes counts Unicode code points, not bytes or UTF-16 units.
    let length = s.chars().count();
    if let Some(min) = usize_keyword(schema, "minLength") {
        if length < min {
            errors.push(format!(
                "{}: length {length} is below minLength {min}",
                render_path(path)
            ));
        }
    }
    if let Some(max) = usize_keyword(schema, "maxLength") {
        if length > max {
            errors.push(format!(
                "{}: length {length} is above maxLength {max}",
                render_path(path)
            ));
        }
    }
    if let Some(pattern) = str_keyword(schema, "pattern") {
        // `None`: a pattern outside the supported subset, deliberately not enforced.
        if let Some(regex) = cached_regex(pattern) {
            if !regex.is_match(s) {
                errors.push(format!(
                    "{}: {} does not match pattern {pattern}",
                    render_path(path),
                    show(&Value::from(s))
                ));
            }
        }
    }
    let format_ok = match str_keyword(schema, "format") {
        Some("date") => is_date(s),
        Some("date-time") => is_date_time(s),
        _ => true,
    };
    if !format_ok {
        errors.push(format!(
            "{}: {} is not a valid {}",
            render_path(path),
            show(&Value::from(s)),
            str_keyword(schema, "format").unwrap_or_default()
        ));
    }
}

/// Compares a JSON number with a bound exactly: integers are compared as integers, because an
/// `f64` cannot tell 2^53 from 2^53 + 1.
fn compare(value: &Value, bound: f64) -> Option<Ordering> {
    let as_int = value
        .as_i64()
        .map(i128::from)
        .or_else(|| value.as_u64().map(i128::from));
    match as_int {
        Some(v) if bound.fract() == 0.0 && bound.abs() < 1e30 => Some(v.cmp(&(bound as i128))),
        Some(v) => (v as f64).partial_cmp(&bound),
        None => value.as_f64()?.partial_cmp(&bound),
    }
}

fn check_number(schema: &Value, value: &Value, path: &[Seg], errors: &mut Vec<String>) {
    for bound in lower_bounds(schema) {
        let ord = compare(value, bound.value);
        if ord == Some(Ordering::Less) || (bound.exclusive && ord == Some(Ordering::Equal)) {
            let what = if bound.exclusive {
                "is not above exclusive minimum"
            } else {
                "is below minimum"
            };
            errors.push(format!(
                "{}: {value} {what} {}",
                render_path(path),
                show_bound(bound.value)
            ));
        }
    }
    for bound in upper_bounds(schema) {
        let ord = compare(value, bound.value);
        if ord == Some(Ordering::Greater) || (bound.exclusive && ord == Some(Ordering::Equal)) {
            let what = if bound.exclusive {
                "is not below exclusive maximum"
            } else {
                "is above maximum"
            };
            errors.push(format!(
                "{}: {value} {what} {}",
                render_path(path),
                show_bound(bound.value)
            ));
        }
    }
}

fn check_array(schema: &Value, array: &[Value], path: &mut Vec<Seg>, errors: &mut Vec<String>) {
    let here = render_path(path);
    if let Some(min) = usize_keyword(schema, "minItems") {
        if array.len() < min {
            errors.push(format!(
                "{here}: {} items, below minItems {min}",
                array.len()
            ));
        }
    }
    if let Some(max) = usize_keyword(schema, "maxItems") {
        if array.len() > max {
            errors.push(format!(
                "{here}: {} items, above maxItems {max}",
                array.len()
            ));
        }
    }
    if let Some(duplicate) = list_duplicate(schema, array) {
        errors.push(format!("{here}: duplicate item {}", show(duplicate)));
    }
    if let Some(item_schema) = items(schema) {
        for (i, item) in array.iter().enumerate() {
            path.push(Seg::Index(i));
            check(item_schema, item, path, errors);
            path.pop();
        }
    }
}

/// `x-kubernetes-list-type: set` items, and `map` items' key fields, must be unique.
fn list_duplicate<'a>(schema: &Value, array: &'a [Value]) -> Option<&'a Value> {
    let key_of = |item: &Value| -> Value {
        match str_keyword(schema, "x-kubernetes-list-type") {
            Some("map") => {
                let keys = branches(schema, "x-kubernetes-list-map-keys");
                let fields = keys.iter().filter_map(Value::as_str);
                Value::Array(
                    fields
                        .map(|k| item.get(k).cloned().unwrap_or_default())
                        .collect(),
                )
            }
            _ => item.clone(),
        }
    };
    if !matches!(
        str_keyword(schema, "x-kubernetes-list-type"),
        Some("set" | "map")
    ) {
        return None;
    }
    let mut seen: Vec<Value> = Vec::new();
    for item in array {
        let key = key_of(item);
        if seen.contains(&key) {
            return Some(item);
        }
        seen.push(key);
    }
    None
}

fn check_object(
    schema: &Value,
    object: &Map<String, Value>,
    path: &mut Vec<Seg>,
    errors: &mut Vec<String>,
) {
    let root = path.is_empty();
    for (key, value) in object {
        path.push(Seg::Key(key.clone()));
        if let Some(sub) = property(schema, key) {
            check(sub, value, path, errors);
        } else if let Some(sub) = additional_schema(schema) {
            check(sub, value, path, errors);
        } else if forbids_additional(schema)
            && !preserves_unknown(schema)
            && !((root || embedded(schema)) && RESOURCE_FIELDS.contains(&key.as_str()))
        {
            errors.push(format!("{}: unknown field", render_path(path)));
        }
        path.pop();
    }
    let here = render_path(path);
    for name in required(schema) {
        if !object.contains_key(&name) {
            errors.push(format!("{here}: missing required field {name:?}"));
        }
    }
    if let Some(min) = usize_keyword(schema, "minProperties") {
        if object.len() < min {
            errors.push(format!(
                "{here}: {} fields, below minProperties {min}",
                object.len()
            ));
        }
    }
    if let Some(max) = usize_keyword(schema, "maxProperties") {
        if object.len() > max {
            errors.push(format!(
                "{here}: {} fields, above maxProperties {max}",
                object.len()
            ));
        }
    }
    if embedded(schema) {
        check_embedded(schema, object, &here, errors);
    }
}

/// An embedded resource needs a non-empty `apiVersion` and `kind`; `metadata` must be an object.
fn check_embedded(
    schema: &Value,
    object: &Map<String, Value>,
    here: &str,
    errors: &mut Vec<String>,
) {
    for field in ["apiVersion", "kind"] {
        if property(schema, field).is_some() {
            continue; // declared: validated like any other property
        }
        match object.get(field) {
            Some(Value::String(s)) if !s.is_empty() => {}
            _ => errors.push(format!(
                "{here}: embedded resource needs a non-empty {field}"
            )),
        }
    }
    if let Some(metadata) = object.get("metadata") {
        if property(schema, "metadata").is_none() && !metadata.is_object() {
            errors.push(format!("{here}.metadata: expected object"));
        }
    }
}

fn passes(schema: &Value, value: &Value, path: &mut Vec<Seg>) -> bool {
    let mut errors = Vec::new();
    check(schema, value, path, &mut errors);
    errors.is_empty()
}

fn check_combinators(schema: &Value, value: &Value, path: &mut Vec<Seg>, errors: &mut Vec<String>) {
    for branch in branches(schema, "allOf") {
        check(branch, value, path, errors);
    }
    let any_of = branches(schema, "anyOf");
    if !any_of.is_empty() && !any_of.iter().any(|b| passes(b, value, path)) {
        errors.push(format!("{}: matches no schema of anyOf", render_path(path)));
    }
    let one_of = branches(schema, "oneOf");
    if !one_of.is_empty() {
        let matching = one_of.iter().filter(|b| passes(b, value, path)).count();
        if matching != 1 {
            errors.push(format!(
                "{}: matches {matching} schemas of oneOf, not exactly one",
                render_path(path)
            ));
        }
    }
    if let Some(not) = schema.get("not").filter(|n| n.is_object()) {
        if passes(not, value, path) {
            errors.push(format!("{}: matches the schema of not", render_path(path)));
        }
    }
}

fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses exactly `width` ASCII digits.
fn digits(s: &str, width: usize) -> Option<u32> {
    (s.len() == width && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// `YYYY-MM-DD` with a real day of a real month (what Kubernetes' `date` format checks).
fn is_date(s: &str) -> bool {
    let mut parts = s.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    match (digits(y, 4), digits(m, 2), digits(d, 2)) {
        (Some(y), Some(m), Some(d)) => {
            (1..=12).contains(&m) && (1..=days_in_month(y, m)).contains(&d)
        }
        _ => false,
    }
}

/// RFC 3339 `date-time`: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`. Kubernetes (via Go's
/// parser) is slightly more lenient; this stricter form is what the generator produces.
fn is_date_time(s: &str) -> bool {
    let Some((date, time)) = s.split_once('T') else {
        return false;
    };
    if !is_date(date) || time.len() < 9 || !time.is_char_boundary(8) {
        return false;
    }
    let (clock, rest) = time.split_at(8);
    if !is_clock(clock, true) {
        return false;
    }
    let zone = match rest.strip_prefix('.') {
        Some(fraction) => {
            let digits_len = fraction.bytes().take_while(u8::is_ascii_digit).count();
            if digits_len == 0 {
                return false;
            }
            &fraction[digits_len..]
        }
        None => rest,
    };
    zone == "Z"
        || (zone.len() == 6
            && (zone.starts_with('+') || zone.starts_with('-'))
            && is_clock(&zone[1..], false))
}

/// `HH:MM:SS` (with seconds) or `HH:MM`.
fn is_clock(s: &str, seconds: bool) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    let limits: &[u32] = if seconds { &[23, 59, 59] } else { &[23, 59] };
    parts.len() == limits.len()
        && parts
            .iter()
            .zip(limits)
            .all(|(part, max)| digits(part, 2).is_some_and(|v| v <= *max))
}

// ---------------------------------------------------------------------------------------------
// prune and defaults
// ---------------------------------------------------------------------------------------------

/// What the API server does before storing a custom resource: removes fields the schema does
/// not declare (unless `x-kubernetes-preserve-unknown-fields` at that level, or
/// `additionalProperties` gives their schema, in which case it recurses with it) and drops null
/// values of non-nullable fields. `value` is treated as a resource root: its `apiVersion`,
/// `kind` and `metadata` are always kept (and `metadata` is left alone), as are those of
/// `x-kubernetes-embedded-resource` objects.
pub fn prune(schema: &Value, value: &mut Value) {
    prune_node(schema, value, true);
}

fn prune_node(schema: &Value, value: &mut Value, resource_root: bool) {
    match value {
        Value::Object(object) => prune_object(schema, object, resource_root),
        Value::Array(array) => {
            // Null items are not pruned: the API server only drops null *fields*.
            if let Some(item_schema) = items(schema) {
                for item in array {
                    prune_node(item_schema, item, false);
                }
            }
        }
        _ => {}
    }
}

fn prune_object(schema: &Value, object: &mut Map<String, Value>, resource_root: bool) {
    let keeps_resource_fields = resource_root || embedded(schema);
    let keys: Vec<String> = object.keys().cloned().collect();
    for key in keys {
        if keeps_resource_fields && RESOURCE_FIELDS.contains(&key.as_str()) {
            continue; // identity and metadata are the API server's business, not the schema's
        }
        match property(schema, &key).or_else(|| additional_schema(schema)) {
            Some(sub) => {
                if object.get(&key).is_some_and(Value::is_null) && !nullable(sub) {
                    object.remove(&key);
                } else if let Some(child) = object.get_mut(&key) {
                    prune_node(sub, child, false);
                }
            }
            None if keeps_undeclared(schema) => {}
            None => {
                object.remove(&key);
            }
        }
    }
}

/// Fills in `default`s the way the API server does when it reads or writes an object: a missing
/// field (or a null one that is not nullable) with a `default` gets it, then defaulting goes on
/// inside it. Run it after [`prune`] to get what the operator reads back.
pub fn apply_defaults(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(object) => {
            if let Some(props) = properties(schema) {
                for (name, sub) in props {
                    let absent = match object.get(name) {
                        None => true,
                        Some(Value::Null) => !nullable(sub),
                        Some(_) => false,
                    };
                    if let (true, Some(default)) = (absent, sub.get("default")) {
                        object.insert(name.clone(), default.clone());
                    }
                }
            }
            for (key, child) in object.iter_mut() {
                if let Some(sub) = property(schema, key).or_else(|| additional_schema(schema)) {
                    apply_defaults(sub, child);
                }
            }
        }
        Value::Array(array) => {
            if let Some(item_schema) = items(schema) {
                for item in array {
                    apply_defaults(item_schema, item);
                }
            }
        }
        _ => {}
    }
}

/// `spec.versions[0].schema.openAPIV3Schema` of the CRD whose `spec.names.kind` is `kind`.
pub fn crd_schema<'a>(crds: &'a [Value], kind: &str) -> Option<&'a Value> {
    crds.iter()
        .find(|crd| crd.pointer("/spec/names/kind").and_then(Value::as_str) == Some(kind))?
        .pointer("/spec/versions/0/schema/openAPIV3Schema")
}

// ---------------------------------------------------------------------------------------------
// arbitrary
// ---------------------------------------------------------------------------------------------

/// A strategy for values that conform to `schema` (before pruning: objects sometimes carry
/// 1–2 undeclared fields named `fuzzUnknown…`, which [`prune`] removes).
///
/// Integers come from `minimum`..`maximum` when given, otherwise from the whole `i64` range, with
/// a strong bias towards edge cases (0, ±1, 2^31, 2^32, 2^40, 2^53, `i64::MAX`, `i64::MIN`, the
/// bounds themselves). Strings honour `enum`, `pattern`, `minLength`/`maxLength` and the `date`
/// and `date-time` formats; unconstrained strings include empty, unicode and multi-kilobyte
/// ones. Nullable values are sometimes null. When a constraint cannot be met by construction
/// (patterns, `anyOf`/`oneOf`/`allOf`/`not`, list uniqueness, property counts), a few candidates
/// are drawn and the first conforming one is used, falling back to a minimal value.
pub fn arbitrary(schema: &Value) -> BoxedStrategy<Value> {
    generate(schema, 0)
}

fn generate(schema: &Value, depth: usize) -> BoxedStrategy<Value> {
    if depth > MAX_DEPTH {
        return Just(minimal(schema)).boxed();
    }
    let mut strategy = generate_non_null(schema, depth);
    if needs_check(schema) {
        strategy = first_conforming(strategy, schema);
    }
    if nullable(schema) {
        prop_oneof![1 => Just(Value::Null), 6 => strategy].boxed()
    } else {
        strategy
    }
}

/// Constraints the generators below do not guarantee by construction.
fn needs_check(schema: &Value) -> bool {
    let exclusive_number = type_of(schema) == Some("number")
        && lower_bounds(schema)
            .iter()
            .chain(&upper_bounds(schema))
            .any(|b| b.exclusive);
    schema.get("pattern").is_some()
        || has_combinators(schema)
        || matches!(
            str_keyword(schema, "x-kubernetes-list-type"),
            Some("set" | "map")
        )
        || schema.get("minProperties").is_some()
        || schema.get("maxProperties").is_some()
        || exclusive_number
}

/// Draws a few candidates and keeps the first that conforms. Unlike `prop_filter`, this never
/// aborts a test run with "too many rejects" when a constraint is hard to meet; shrinking stays
/// valid because every shrunk candidate set goes through the same choice.
fn first_conforming(candidates: BoxedStrategy<Value>, schema: &Value) -> BoxedStrategy<Value> {
    let schema = schema.clone();
    let fallback = fallback(&schema);
    proptest::collection::vec(candidates, RETRIES)
        .prop_map(move |drawn| {
            drawn
                .into_iter()
                .find(|v| conforms(&schema, v).is_ok())
                .unwrap_or_else(|| fallback.clone())
        })
        .boxed()
}

/// A minimal value for the fallback: of the schema itself, or of one of its `anyOf`/`oneOf`
/// branches merged in (a minimal object rarely satisfies `oneOf: [{required: [a]}, ...]`).
fn fallback(schema: &Value) -> Value {
    let plain = minimal(schema);
    if conforms(schema, &plain).is_ok() {
        return plain;
    }
    let base = without_combinators(schema);
    branches(schema, "anyOf")
        .iter()
        .chain(branches(schema, "oneOf"))
        .map(|branch| {
            let mut merged = base.clone();
            merge_schema(&mut merged, branch);
            minimal(&merged)
        })
        .find(|candidate| conforms(schema, candidate).is_ok())
        .unwrap_or(plain)
}

fn without_combinators(schema: &Value) -> Value {
    let mut base = schema.clone();
    if let Some(object) = base.as_object_mut() {
        for key in ["anyOf", "oneOf", "not"] {
            object.remove(key);
        }
    }
    // allOf applies together with the rest: merge it in.
    for branch in branches(schema, "allOf") {
        merge_schema(&mut base, branch);
    }
    if let Some(object) = base.as_object_mut() {
        object.remove("allOf");
    }
    base
}

fn generate_non_null(schema: &Value, depth: usize) -> BoxedStrategy<Value> {
    if has_combinators(schema) {
        return generate_combinators(schema, depth);
    }
    if let Some(values) = enum_values(schema) {
        return proptest::sample::select(values).boxed();
    }
    if int_or_string(schema) {
        return prop_oneof![generate_integer(schema), generate_string(schema)].boxed();
    }
    match type_of(schema) {
        Some("object") => generate_object(schema, depth),
        Some("array") => generate_array(schema, depth),
        Some("string") => generate_string(schema),
        Some("integer") => generate_integer(schema),
        Some("number") => generate_number(schema),
        Some("boolean") => any::<bool>().prop_map(Value::Bool).boxed(),
        _ if properties(schema).is_some() || additional_schema(schema).is_some() => {
            generate_object(schema, depth)
        }
        _ if preserves_unknown(schema) => any_json_object(),
        _ => any_json(),
    }
}

/// The non-null entries of `enum`, if there are any.
fn enum_values(schema: &Value) -> Option<Vec<Value>> {
    let values: Vec<Value> = schema
        .get("enum")?
        .as_array()?
        .iter()
        .filter(|v| !v.is_null())
        .cloned()
        .collect();
    (!values.is_empty()).then_some(values)
}

/// Kubernetes only allows value validations in `anyOf`/`oneOf`/`allOf`, so a branch merged into
/// the main schema is a good candidate generator; [`first_conforming`] (applied by the caller)
/// sorts out `oneOf` overlaps and `not`.
fn generate_combinators(schema: &Value, depth: usize) -> BoxedStrategy<Value> {
    let base = without_combinators(schema);
    let choices: Vec<BoxedStrategy<Value>> = branches(schema, "anyOf")
        .iter()
        .chain(branches(schema, "oneOf"))
        .map(|branch| {
            let mut merged = base.clone();
            merge_schema(&mut merged, branch);
            generate_non_null(&merged, depth)
        })
        .collect();
    if choices.is_empty() {
        generate_non_null(&base, depth)
    } else {
        Union::new(choices).boxed()
    }
}

fn merge_schema(base: &mut Value, branch: &Value) {
    let (Some(base), Some(branch)) = (base.as_object_mut(), branch.as_object()) else {
        return;
    };
    for (key, value) in branch {
        match (key.as_str(), base.get_mut(key)) {
            ("required", Some(Value::Array(existing))) => {
                for name in value.as_array().into_iter().flatten() {
                    if !existing.contains(name) {
                        existing.push(name.clone());
                    }
                }
            }
            ("properties", Some(existing @ Value::Object(_))) => {
                for (name, sub) in value.as_object().into_iter().flatten() {
                    match existing.get_mut(name) {
                        Some(target) => merge_schema(target, sub),
                        None => {
                            if let Some(map) = existing.as_object_mut() {
                                map.insert(name.clone(), sub.clone());
                            }
                        }
                    }
                }
            }
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

fn generate_object(schema: &Value, depth: usize) -> BoxedStrategy<Value> {
    let declared: Map<String, Value> = properties(schema).cloned().unwrap_or_default();
    let required = required(schema);
    let mut fields: Vec<BoxedStrategy<Option<(String, Value)>>> = Vec::new();
    if embedded(schema) {
        fields.extend(embedded_resource_fields(&declared));
    }
    for (name, sub) in &declared {
        let value = generate(sub, depth + 1);
        let key = name.clone();
        fields.push(if required.contains(name) {
            value.prop_map(move |v| Some((key.clone(), v))).boxed()
        } else {
            proptest::option::weighted(0.5, value)
                .prop_map(move |v| v.map(|v| (key.clone(), v)))
                .boxed()
        });
    }
    for name in required.iter().filter(|n| !declared.contains_key(*n)) {
        // Required but undeclared: only meaningful with a map or preserved fields.
        let value = match additional_schema(schema) {
            Some(sub) => generate(sub, depth + 1),
            None => any_json(),
        };
        let key = name.clone();
        fields.push(value.prop_map(move |v| Some((key.clone(), v))).boxed());
    }
    let extra = undeclared_fields(schema, depth);
    (fields, extra)
        .prop_map(move |(fields, extra)| {
            let mut object = Map::new();
            // An undeclared key that happens to be a declared name would carry a value that does
            // not fit the declared schema.
            for (key, value) in extra {
                if !declared.contains_key(&key) {
                    object.insert(key, value);
                }
            }
            for (key, value) in fields.into_iter().flatten() {
                object.insert(key, value);
            }
            Value::Object(object)
        })
        .boxed()
}

/// Map entries (`additionalProperties`), preserved unknown fields, or occasionally 1–2 unknown
/// fields the API server will prune.
fn undeclared_fields(schema: &Value, depth: usize) -> BoxedStrategy<Vec<(String, Value)>> {
    if let Some(sub) = additional_schema(schema) {
        let min = usize_keyword(schema, "minProperties").unwrap_or(0);
        let max = usize_keyword(schema, "maxProperties").unwrap_or(min.max(3));
        let entries = proptest::collection::btree_map(
            map_key(),
            generate(sub, depth + 1),
            min..=max.clamp(min, min + 3),
        );
        return entries.prop_map(|m| m.into_iter().collect()).boxed();
    }
    if keeps_undeclared(schema) {
        return proptest::collection::vec((map_key(), any_json()), 0..=2).boxed();
    }
    if forbids_additional(schema) {
        return Just(Vec::new()).boxed();
    }
    let unknown = (unknown_key(), any_json());
    prop_oneof![
        4 => Just(Vec::new()),
        1 => proptest::collection::vec(unknown, 1..=2),
    ]
    .boxed()
}

/// `apiVersion`, `kind` and `metadata` of an embedded resource, unless the schema declares them.
fn embedded_resource_fields(
    declared: &Map<String, Value>,
) -> Vec<BoxedStrategy<Option<(String, Value)>>> {
    let api_version =
        proptest::sample::select(vec!["v1", "apps/v1", "batch/v1", "example.com/v1alpha1"]);
    let kind = proptest::sample::select(vec!["ConfigMap", "Secret", "Deployment", "Widget"]);
    let metadata = dns_label().prop_map(|name| serde_json::json!({ "name": name }));
    let candidates: Vec<(&str, BoxedStrategy<Value>)> = vec![
        ("apiVersion", api_version.prop_map(Value::from).boxed()),
        ("kind", kind.prop_map(Value::from).boxed()),
        ("metadata", metadata.boxed()),
    ];
    candidates
        .into_iter()
        .filter(|(name, _)| !declared.contains_key(*name))
        .map(|(name, value)| value.prop_map(move |v| Some((name.to_owned(), v))).boxed())
        .collect()
}

fn generate_array(schema: &Value, depth: usize) -> BoxedStrategy<Value> {
    let empty = Value::Object(Map::new());
    let item_schema = items(schema).unwrap_or(&empty);
    let min = usize_keyword(schema, "minItems").unwrap_or(0);
    let max = usize_keyword(schema, "maxItems");
    // Long arrays cost time without finding more: stay near minItems, but try maxItems exactly
    // when it is small.
    let upper = max
        .unwrap_or(usize::MAX)
        .min(min.saturating_add(DEFAULT_MAX_ITEMS))
        .max(min);
    let item = generate(item_schema, depth + 1);
    let mut choices = vec![(
        4,
        proptest::collection::vec(item.clone(), min..=upper)
            .prop_map(Value::Array)
            .boxed(),
    )];
    if min == 0 {
        choices.push((1, Just(Value::Array(Vec::new())).boxed()));
    }
    if let Some(max) = max.filter(|m| *m > upper && *m <= 32) {
        let full = proptest::collection::vec(item, max).prop_map(Value::Array);
        choices.push((1, full.boxed()));
    }
    Union::new_weighted(choices).boxed()
}

/// The integer range a schema allows, clamped to `i64`.
fn integer_range(schema: &Value) -> (i64, i64) {
    let mut low = i64::MIN;
    for bound in lower_bounds(schema) {
        let b = if bound.exclusive && bound.value.fract() == 0.0 {
            (bound.value as i64).saturating_add(1)
        } else {
            bound.value.ceil() as i64
        };
        low = low.max(b);
    }
    let mut high = i64::MAX;
    for bound in upper_bounds(schema) {
        let b = if bound.exclusive && bound.value.fract() == 0.0 {
            (bound.value as i64).saturating_sub(1)
        } else {
            bound.value.floor() as i64
        };
        high = high.min(b);
    }
    (low, high)
}

fn generate_integer(schema: &Value) -> BoxedStrategy<Value> {
    let (low, high) = integer_range(schema);
    if low > high {
        return Just(minimal(schema)).boxed();
    }
    let mut edges: Vec<i64> = EDGE_INTEGERS
        .iter()
        .copied()
        .chain([low, high, low.saturating_add(1), high.saturating_sub(1)])
        .filter(|v| (low..=high).contains(v))
        .collect();
    edges.sort_unstable();
    edges.dedup();
    // Small values near zero (or near the lower bound when zero is out of range) look like what
    // people write; the full range and the edges find overflows.
    let near_low = high.min(0).saturating_sub(1000).max(low);
    let near_high = high.min(near_low.saturating_add(2000));
    prop_oneof![
        3 => proptest::sample::select(edges),
        2 => low..=high,
        2 => near_low..=near_high,
    ]
    .prop_map(Value::from)
    .boxed()
}

fn generate_number(schema: &Value) -> BoxedStrategy<Value> {
    let low = lower_bounds(schema)
        .iter()
        .map(|b| b.value)
        .fold(f64::MIN, f64::max);
    let high = upper_bounds(schema)
        .iter()
        .map(|b| b.value)
        .fold(f64::MAX, f64::min);
    if low > high {
        return Just(minimal(schema)).boxed();
    }
    let edges: Vec<f64> = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        1.5,
        0.1,
        1e-300,
        f64::MIN_POSITIVE,
        9_007_199_254_740_993.0,
        1e308,
        -1e308,
        f64::MAX,
        f64::MIN,
        low,
        high,
    ]
    .into_iter()
    .filter(|v| (low..=high).contains(v))
    .collect();
    let finite = proptest::num::f64::NORMAL
        | proptest::num::f64::SUBNORMAL
        | proptest::num::f64::ZERO
        | proptest::num::f64::POSITIVE
        | proptest::num::f64::NEGATIVE;
    let small = (-1000i32..=1000).prop_map(|v| f64::from(v) / 4.0);
    let mut choices = vec![
        (2, finite.prop_map(move |v| v.clamp(low, high)).boxed()),
        (2, small.prop_map(move |v| v.clamp(low, high)).boxed()),
    ];
    if !edges.is_empty() {
        choices.push((3, proptest::sample::select(edges).boxed()));
    }
    Union::new_weighted(choices).prop_map(Value::from).boxed()
}

fn generate_string(schema: &Value) -> BoxedStrategy<Value> {
    if let Some(pattern) = str_keyword(schema, "pattern") {
        return pattern_string(pattern).prop_map(Value::String).boxed();
    }
    let strings = match str_keyword(schema, "format") {
        Some("date") => date().boxed(),
        Some("date-time") => date_time().boxed(),
        _ => {
            let min = usize_keyword(schema, "minLength").unwrap_or(0);
            let max = usize_keyword(schema, "maxLength").unwrap_or(usize::MAX);
            free_string(min, max)
        }
    };
    strings.prop_map(Value::String).boxed()
}

fn chars_to_string(chars: Vec<char>) -> String {
    chars.into_iter().collect()
}

fn ident_char() -> BoxedStrategy<char> {
    let alphabet: Vec<char> = "abcdefghijklmnopqrstuvwxyz0123456789-_./:ABCXYZ"
        .chars()
        .collect();
    proptest::sample::select(alphabet).boxed()
}

/// Strings of `min..=max` code points: identifier-like, arbitrary unicode, multi-kilobyte, and
/// a few tricky fixed ones.
fn free_string(min: usize, max: usize) -> BoxedStrategy<String> {
    if min > max {
        return Just("a".repeat(min)).boxed();
    }
    let fit = |low: usize, high: usize| {
        let (low, high) = (low.max(min), high.min(max));
        (low <= high).then_some(low..=high)
    };
    let mut choices: Vec<(u32, BoxedStrategy<String>)> = Vec::new();
    if let Some(range) = fit(0, 16) {
        let s = proptest::collection::vec(ident_char(), range).prop_map(chars_to_string);
        choices.push((4, s.boxed()));
    }
    if let Some(range) = fit(0, 40) {
        let s = proptest::collection::vec(any::<char>(), range).prop_map(chars_to_string);
        choices.push((2, s.boxed()));
    }
    if let Some(range) = fit(256, 4096) {
        // A repeated short unit: one value tree per character would make every case slow.
        let unit = proptest::collection::vec(any::<char>(), 1..=8);
        let s = (unit, range)
            .prop_map(|(unit, length)| unit.into_iter().cycle().take(length).collect());
        choices.push((1, s.boxed()));
    }
    let tricky: Vec<String> = TRICKY_STRINGS
        .iter()
        .filter(|s| (min..=max).contains(&s.chars().count()))
        .map(|s| (*s).to_owned())
        .collect();
    if !tricky.is_empty() {
        choices.push((1, proptest::sample::select(tricky).boxed()));
    }
    if choices.is_empty() {
        // Only long strings fit, but not in the ranges above.
        let s = proptest::collection::vec(ident_char(), min..=max.min(min + 64));
        choices.push((1, s.prop_map(chars_to_string).boxed()));
    }
    Union::new_weighted(choices).boxed()
}

/// Mostly plausible years, sometimes the extremes `YYYY` allows.
fn year() -> BoxedStrategy<u32> {
    prop_oneof![
        4 => 1970u32..=2100,
        1 => 0u32..=9999,
        1 => proptest::sample::select(vec![0u32, 1, 1969, 1970, 2000, 2038, 9999]),
    ]
    .boxed()
}

fn date() -> impl Strategy<Value = String> {
    (year(), 1u32..=12, 1u32..=31).prop_map(|(y, m, d)| {
        // Clamping rather than rejecting makes month ends (and 29 February) common.
        format!("{y:04}-{m:02}-{:02}", d.min(days_in_month(y, m)))
    })
}

fn date_time() -> impl Strategy<Value = String> {
    let fraction = proptest::option::weighted(
        0.3,
        proptest::collection::vec(proptest::char::range('0', '9'), 1..=9),
    );
    let zone = prop_oneof![
        3 => Just("Z".to_owned()),
        1 => (proptest::bool::ANY, 0u32..=23, 0u32..=59).prop_map(|(plus, h, m)| {
            format!("{}{h:02}:{m:02}", if plus { '+' } else { '-' })
        }),
    ];
    (date(), 0u32..=23, 0u32..=59, 0u32..=59, fraction, zone).prop_map(
        |(date, h, m, s, fraction, zone)| {
            let fraction = fraction.map_or(String::new(), |f| format!(".{}", chars_to_string(f)));
            format!("{date}T{h:02}:{m:02}:{s:02}{fraction}{zone}")
        },
    )
}

/// Strings matching `pattern`. The pattern is parsed by [`Regex`] and re-rendered for proptest's
/// `string_regex` without anchors (which proptest cannot generate) and with `\d`, `\w`, `\s` as
/// the ASCII classes Kubernetes (Go's RE2) means, not the Unicode ones proptest would use. An
/// unanchored side gets a random prefix or suffix now and then, since the API server accepts
/// those too. Whether the result really matches (and fits length and format) is checked by the
/// caller through [`first_conforming`].
fn pattern_string(pattern: &str) -> BoxedStrategy<String> {
    let Some(regex) = cached_regex(pattern) else {
        // Outside the supported subset: conforms() does not enforce it, so let proptest try the
        // raw pattern (anchors stripped), else anything goes.
        let stripped = pattern.strip_prefix('^').unwrap_or(pattern);
        let stripped = stripped.strip_suffix('$').unwrap_or(stripped);
        return match proptest::string::string_regex(stripped) {
            Ok(strategy) => strategy.boxed(),
            Err(_) => free_string(0, 64),
        };
    };
    let core = match proptest::string::string_regex(&regex.render_for_generation()) {
        Ok(strategy) => strategy.boxed(),
        Err(_) => Just(regex.sample().unwrap_or_default()).boxed(),
    };
    let affix = |allowed: bool| -> BoxedStrategy<String> {
        if allowed {
            prop_oneof![4 => Just(String::new()), 1 => free_string(1, 8)].boxed()
        } else {
            Just(String::new()).boxed()
        }
    };
    let prefix = affix(!regex.anchored_start());
    let suffix = affix(!regex.anchored_end());
    (prefix, core, suffix)
        .prop_map(|(p, c, s)| format!("{p}{c}{s}"))
        .boxed()
}

fn dns_label() -> impl Strategy<Value = String> {
    let alphabet: Vec<char> = "abcdefghijklmnopqrstuvwxyz0123456789".chars().collect();
    proptest::collection::vec(proptest::sample::select(alphabet), 0..=20)
        .prop_map(|rest| format!("x{}", chars_to_string(rest)))
}

/// Keys of `additionalProperties` maps: label-like, resource-name-like, and arbitrary ones.
fn map_key() -> BoxedStrategy<String> {
    let known = vec![
        "cpu",
        "memory",
        "pods",
        "requests.cpu",
        "limits.memory",
        "nvidia.com/gpu",
        "app.kubernetes.io/name",
        "",
    ];
    prop_oneof![
        2 => proptest::sample::select(known).prop_map(str::to_owned),
        2 => proptest::collection::vec(ident_char(), 1..=12).prop_map(chars_to_string),
        1 => proptest::collection::vec(any::<char>(), 0..=12).prop_map(chars_to_string),
    ]
    .boxed()
}

fn unknown_key() -> impl Strategy<Value = String> {
    (0u32..1000).prop_map(|n| format!("{UNKNOWN_FIELD_PREFIX}{n}"))
}

fn any_json_leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        proptest::sample::select(EDGE_INTEGERS.to_vec()).prop_map(Value::from),
        (-1000i64..1000).prop_map(Value::from),
        (-1000i32..1000).prop_map(|v| Value::from(f64::from(v) / 8.0)),
        free_string(0, 20).prop_map(Value::String),
    ]
    .boxed()
}

/// Small arbitrary JSON (what preserved unknown fields may hold).
fn any_json() -> BoxedStrategy<Value> {
    any_json_leaf()
        .prop_recursive(2, 12, 3, |inner| {
            let key = proptest::collection::vec(ident_char(), 1..=8).prop_map(chars_to_string);
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..=3).prop_map(Value::Array),
                proptest::collection::btree_map(key, inner, 0..=3)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
        .boxed()
}

fn any_json_object() -> BoxedStrategy<Value> {
    proptest::collection::vec((map_key(), any_json()), 0..=3)
        .prop_map(|entries| Value::Object(entries.into_iter().collect()))
        .boxed()
}

/// A small deterministic value that conforms to `schema` where that is easy: used beyond
/// [`MAX_DEPTH`] and as the fallback of constrained generators.
fn minimal(schema: &Value) -> Value {
    if nullable(schema) {
        return Value::Null;
    }
    if let Some(first) = enum_values(schema).and_then(|v| v.into_iter().next()) {
        return first;
    }
    if int_or_string(schema) {
        return minimal_integer(schema);
    }
    match type_of(schema) {
        Some("object") => minimal_object(schema),
        Some("array") => {
            let count = usize_keyword(schema, "minItems").unwrap_or(0).min(64);
            let empty = Value::Object(Map::new());
            let item = minimal(items(schema).unwrap_or(&empty));
            Value::Array(vec![item; count])
        }
        Some("string") => Value::String(minimal_string(schema)),
        Some("integer") => minimal_integer(schema),
        Some("number") => {
            let low = lower_bounds(schema)
                .iter()
                .map(|b| b.value)
                .fold(f64::MIN, f64::max);
            let high = upper_bounds(schema)
                .iter()
                .map(|b| b.value)
                .fold(f64::MAX, f64::min);
            Value::from(0.0f64.max(low).min(high))
        }
        Some("boolean") => Value::Bool(false),
        _ if properties(schema).is_some() || preserves_unknown(schema) => minimal_object(schema),
        _ => Value::Null,
    }
}

fn minimal_integer(schema: &Value) -> Value {
    let (low, high) = integer_range(schema);
    Value::from(0i64.max(low).min(high.max(low)))
}

fn minimal_object(schema: &Value) -> Value {
    let mut object = Map::new();
    if embedded(schema) {
        object.insert("apiVersion".into(), "v1".into());
        object.insert("kind".into(), "ConfigMap".into());
        object.insert("metadata".into(), serde_json::json!({ "name": "x" }));
    }
    let empty = Value::Object(Map::new());
    for name in required(schema) {
        let sub = property(schema, &name)
            .or_else(|| additional_schema(schema))
            .unwrap_or(&empty);
        object.insert(name, minimal(sub));
    }
    if let Some(sub) = additional_schema(schema) {
        let wanted = usize_keyword(schema, "minProperties").unwrap_or(0).min(64);
        for i in 0..wanted.saturating_sub(object.len()) {
            object.insert(format!("k{i}"), minimal(sub));
        }
    }
    Value::Object(object)
}

fn minimal_string(schema: &Value) -> String {
    if let Some(sample) = str_keyword(schema, "pattern")
        .and_then(cached_regex)
        .and_then(|r| r.sample())
    {
        return sample;
    }
    match str_keyword(schema, "format") {
        Some("date") => "2000-01-01".to_owned(),
        Some("date-time") => "2000-01-01T00:00:00Z".to_owned(),
        _ => "a".repeat(usize_keyword(schema, "minLength").unwrap_or(0).min(4096)),
    }
}

// ---------------------------------------------------------------------------------------------
// mutate
// ---------------------------------------------------------------------------------------------

/// A place in an example where [`mutate`] can change something.
#[derive(Clone, Debug)]
enum Site {
    /// Replace the node at the path with `arbitrary(schema)`.
    Replace(Vec<Seg>, Arc<Value>),
    /// Remove an optional field, a map entry or an array item.
    Remove(Vec<Seg>),
    /// Add an absent optional field (the path ends with its name).
    AddField(Vec<Seg>, Arc<Value>),
    /// Add a random key to the `additionalProperties` map at the path.
    AddEntry(Vec<Seg>, Arc<Value>),
    /// Add an unknown field to the object at the path (the API server prunes it).
    AddUnknown(Vec<Seg>),
    /// Append an item to the array at the path.
    Append(Vec<Seg>, Arc<Value>),
}

#[derive(Clone, Debug)]
enum Op {
    Set(Vec<Seg>, Value),
    Remove(Vec<Seg>),
    Append(Vec<Seg>, Value),
}

impl Op {
    fn path(&self) -> &[Seg] {
        match self {
            Op::Set(path, _) | Op::Remove(path) | Op::Append(path, _) => path,
        }
    }

    /// The object or array the operation changes.
    fn container(&self) -> &[Seg] {
        match self {
            Op::Set(path, _) | Op::Remove(path) => path.split_last().map_or(&[], |(_, p)| p),
            Op::Append(path, _) => path,
        }
    }
}

/// A strategy that starts from the valid `example` and, walking it together with `schema`,
/// changes a few randomly chosen places (at least one per case): replaces nodes with
/// `arbitrary(sub_schema)`, adds absent optional fields, removes optional ones, adds and removes
/// map entries, appends and removes array items (within `minItems`/`maxItems`) and injects
/// unknown fields. The root's `apiVersion`, `kind` and `metadata` are kept as in the example.
///
/// Every change is checked with [`conforms`] and undone if it broke the document, so the result
/// conforms whenever the example does (before pruning: injected unknown fields are still there).
pub fn mutate(schema: &Value, example: &Value) -> BoxedStrategy<Value> {
    let schema = Arc::new(schema.clone());
    let example = Arc::new(example.clone());
    let mut sites = Vec::new();
    collect_sites(&schema, &example, &mut Vec::new(), true, &mut sites);
    if sites.is_empty() {
        return Just((*example).clone()).boxed();
    }
    // Roughly one change per eight places, so documents stay recognisable.
    let most = (sites.len() / 8).clamp(1, 16);
    // Only a conforming example can be kept conforming; otherwise changes are applied unchecked.
    let guard = conforms(&schema, &example).is_ok();
    proptest::sample::subsequence(sites, 1..=most)
        .prop_flat_map(|chosen| chosen.into_iter().map(site_strategy).collect::<Vec<_>>())
        .prop_map(move |ops| apply_ops(&schema, &example, guard, ops))
        .boxed()
}

fn child(path: &[Seg], seg: Seg) -> Vec<Seg> {
    let mut path = path.to_vec();
    path.push(seg);
    path
}

fn collect_sites(
    schema: &Value,
    node: &Value,
    path: &mut Vec<Seg>,
    root: bool,
    sites: &mut Vec<Site>,
) {
    if !root {
        sites.push(Site::Replace(path.clone(), Arc::new(schema.clone())));
    }
    match node {
        Value::Object(object) => collect_object_sites(schema, object, path, root, sites),
        Value::Array(array) => {
            let Some(item_schema) = items(schema) else {
                return;
            };
            for (i, item) in array.iter().enumerate() {
                path.push(Seg::Index(i));
                sites.push(Site::Remove(path.clone()));
                collect_sites(item_schema, item, path, false, sites);
                path.pop();
            }
            sites.push(Site::Append(path.clone(), Arc::new(item_schema.clone())));
        }
        _ => {}
    }
}

fn collect_object_sites(
    schema: &Value,
    object: &Map<String, Value>,
    path: &mut Vec<Seg>,
    root: bool,
    sites: &mut Vec<Site>,
) {
    let required = required(schema);
    // The root's (and an embedded resource's) identity stays as in the example.
    let fixed = |key: &str| {
        (root || (embedded(schema) && property(schema, key).is_none()))
            && RESOURCE_FIELDS.contains(&key)
    };
    for (key, value) in object {
        if fixed(key) {
            continue;
        }
        let sub = property(schema, key).or_else(|| additional_schema(schema));
        // Undeclared (unknown or preserved) fields have no schema to mutate them through.
        let Some(sub) = sub else { continue };
        path.push(Seg::Key(key.clone()));
        if !required.contains(key) {
            sites.push(Site::Remove(path.clone()));
        }
        collect_sites(sub, value, path, false, sites);
        path.pop();
    }
    for (key, sub) in properties(schema).into_iter().flatten() {
        if !object.contains_key(key) && !fixed(key) {
            let at = child(path, Seg::Key(key.clone()));
            sites.push(Site::AddField(at, Arc::new(sub.clone())));
        }
    }
    if let Some(sub) = additional_schema(schema) {
        sites.push(Site::AddEntry(path.clone(), Arc::new(sub.clone())));
    } else if !keeps_undeclared(schema) && !forbids_additional(schema) {
        sites.push(Site::AddUnknown(path.clone()));
    }
}

fn site_strategy(site: Site) -> BoxedStrategy<Op> {
    match site {
        Site::Replace(path, schema) | Site::AddField(path, schema) => arbitrary(&schema)
            .prop_map(move |v| Op::Set(path.clone(), v))
            .boxed(),
        Site::Remove(path) => Just(Op::Remove(path)).boxed(),
        Site::AddEntry(path, schema) => (map_key(), arbitrary(&schema))
            .prop_map(move |(k, v)| Op::Set(child(&path, Seg::Key(k)), v))
            .boxed(),
        Site::AddUnknown(path) => (unknown_key(), any_json())
            .prop_map(move |(k, v)| Op::Set(child(&path, Seg::Key(k)), v))
            .boxed(),
        Site::Append(path, schema) => arbitrary(&schema)
            .prop_map(move |v| Op::Append(path.clone(), v))
            .boxed(),
    }
}

/// Applies operations deepest and last first (reverse path order), so that removing an array
/// item or replacing an ancestor never invalidates the path of an operation still to come. An
/// operation that makes the document stop conforming (a removal below `minItems`, a replacement
/// whose generator fell back to a non-conforming value, ...) is undone.
fn apply_ops(schema: &Value, example: &Value, guard: bool, mut ops: Vec<Op>) -> Value {
    ops.sort_by(|a, b| b.path().cmp(a.path()));
    let mut document = example.clone();
    for op in ops {
        let container = op.container().to_vec();
        // Only the container changes: back up (and later re-check) just that.
        let Some(before) = node_mut(&mut document, &container).map(|n| n.clone()) else {
            continue;
        };
        apply_op(&mut document, op);
        if guard && !region_conforms(schema, &document, &container) {
            if let Some(node) = node_mut(&mut document, &container) {
                *node = before;
            }
        }
    }
    document
}

/// Whether the document still conforms after a change inside the node at `container`. An
/// operation can only break constraints of that node (item and field counts, uniqueness,
/// `required`) or of its own value, so checking the node suffices, unless an ancestor has
/// `anyOf`/`oneOf`/`allOf`/`not`, which may look deeper: then the whole document is checked.
fn region_conforms(schema: &Value, document: &Value, container: &[Seg]) -> bool {
    let mut sub = schema;
    let mut node = document;
    for seg in container {
        if has_combinators(sub) {
            return conforms(schema, document).is_ok();
        }
        let next = match (seg, node) {
            (Seg::Key(k), Value::Object(object)) => property(sub, k)
                .or_else(|| additional_schema(sub))
                .zip(object.get(k)),
            (Seg::Index(i), Value::Array(array)) => items(sub).zip(array.get(*i)),
            _ => None,
        };
        let Some((next_schema, next_node)) = next else {
            return conforms(schema, document).is_ok();
        };
        sub = next_schema;
        node = next_node;
    }
    let mut errors = Vec::new();
    check(sub, node, &mut container.to_vec(), &mut errors);
    errors.is_empty()
}

fn node_mut<'a>(mut node: &'a mut Value, path: &[Seg]) -> Option<&'a mut Value> {
    for seg in path {
        node = match (seg, node) {
            (Seg::Key(k), Value::Object(object)) => object.get_mut(k)?,
            (Seg::Index(i), Value::Array(array)) => array.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(node)
}

fn apply_op(document: &mut Value, op: Op) {
    match op {
        Op::Set(path, value) => {
            let Some((last, parent)) = path.split_last() else {
                return;
            };
            match (last, node_mut(document, parent)) {
                (Seg::Key(k), Some(Value::Object(object))) => {
                    object.insert(k.clone(), value);
                }
                (Seg::Index(i), Some(Value::Array(array))) if *i < array.len() => {
                    array[*i] = value;
                }
                _ => {}
            }
        }
        Op::Remove(path) => {
            let Some((last, parent)) = path.split_last() else {
                return;
            };
            match (last, node_mut(document, parent)) {
                (Seg::Key(k), Some(Value::Object(object))) => {
                    object.remove(k);
                }
                (Seg::Index(i), Some(Value::Array(array))) if *i < array.len() => {
                    array.remove(*i);
                }
                _ => {}
            }
        }
        Op::Append(path, value) => {
            if let Some(Value::Array(array)) = node_mut(document, &path) {
                array.push(value);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A small regular-expression engine for `pattern`
// ---------------------------------------------------------------------------------------------

/// The subset of ECMA/RE2 regular expressions CRD patterns use: literals, `.`, classes
/// (`[a-z0-9_]`, negated, with `\d`, `\w`, `\s` inside, POSIX `[:alpha:]`-style names), `\d \D \w
/// \W \s \S`, escapes (`\.`, `\t`, `\x41`, `\x{41}`, `\u0041`), groups (`(…)`, `(?:…)`, named),
/// alternation, `* + ? {n} {n,} {n,m}` (lazy or not), and the anchors `^ $ \A \z`. Lookaround,
/// backreferences, word boundaries, flags and Unicode classes (`\p{…}`) are not supported:
/// [`Regex::new`] rejects them and such patterns are not enforced.
///
/// Matching is a Pike VM (a Thompson NFA simulation): linear in the input, so multi-kilobyte
/// strings cannot make validation blow up. `pattern` is a search (unanchored unless `^`/`$`),
/// as in Kubernetes. Why not the `regex` crate: this file may only depend on proptest and
/// serde_json, and the `regex-syntax` parser inside proptest is not re-exported.
#[derive(Debug)]
struct Regex {
    ast: Re,
    program: Vec<Inst>,
}

#[derive(Clone, Debug)]
enum Re {
    Empty,
    Char(char),
    /// `.`: any character but a newline.
    Any,
    Class(Vec<(char, char)>, bool),
    Start,
    End,
    Concat(Vec<Re>),
    Alt(Vec<Re>),
    Repeat(Box<Re>, u32, Option<u32>),
}

#[derive(Clone, Debug)]
enum Inst {
    Char(char),
    Any,
    Class(Vec<(char, char)>, bool),
    Start,
    End,
    Split(usize, usize),
    Jmp(usize),
    Match,
}

/// Repetitions are compiled by copying; beyond this many instructions a pattern is unsupported
/// (this also bounds the recursion depth of the matcher).
const MAX_PROGRAM: usize = 4_096;

thread_local! {
    static REGEX_CACHE: RefCell<HashMap<String, Option<Rc<Regex>>>> = RefCell::new(HashMap::new());
}

/// Compiled patterns are cached: validation runs them for every node of every case.
fn cached_regex(pattern: &str) -> Option<Rc<Regex>> {
    REGEX_CACHE.with(|cache| {
        cache
            .borrow_mut()
            .entry(pattern.to_owned())
            .or_insert_with(|| Regex::new(pattern).ok().map(Rc::new))
            .clone()
    })
}

impl Regex {
    fn new(pattern: &str) -> Result<Regex, String> {
        let mut parser = RegexParser {
            chars: pattern.chars().collect(),
            pos: 0,
        };
        let ast = parser.alternation()?;
        if parser.pos != parser.chars.len() {
            return Err(format!("unexpected {:?}", parser.chars[parser.pos]));
        }
        let mut program = Vec::new();
        compile(&ast, &mut program)?;
        program.push(Inst::Match);
        Ok(Regex { ast, program })
    }

    fn is_match(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        let mut seen = vec![usize::MAX; self.program.len()];
        let mut current: Vec<usize> = Vec::new();
        let mut next: Vec<usize> = Vec::new();
        for pos in 0..=chars.len() {
            // A new thread at every position: `pattern` is a search, not a full match.
            if self.add_thread(&mut current, &mut seen, 0, pos, chars.len()) {
                return true;
            }
            let Some(&c) = chars.get(pos) else {
                break;
            };
            next.clear();
            for &pc in &current {
                let advances = match &self.program[pc] {
                    Inst::Char(x) => *x == c,
                    Inst::Any => c != '\n',
                    Inst::Class(ranges, negated) => class_contains(ranges, c) != *negated,
                    _ => false,
                };
                if advances && self.add_thread(&mut next, &mut seen, pc + 1, pos + 1, chars.len()) {
                    return true;
                }
            }
            std::mem::swap(&mut current, &mut next);
        }
        false
    }

    /// Follows empty transitions from `pc` at `pos`; true when `Match` is reachable.
    fn add_thread(
        &self,
        list: &mut Vec<usize>,
        seen: &mut [usize],
        pc: usize,
        pos: usize,
        len: usize,
    ) -> bool {
        if seen[pc] == pos {
            return false;
        }
        seen[pc] = pos;
        match &self.program[pc] {
            Inst::Match => true,
            Inst::Jmp(target) => self.add_thread(list, seen, *target, pos, len),
            Inst::Split(a, b) => {
                self.add_thread(list, seen, *a, pos, len)
                    || self.add_thread(list, seen, *b, pos, len)
            }
            Inst::Start => pos == 0 && self.add_thread(list, seen, pc + 1, pos, len),
            Inst::End => pos == len && self.add_thread(list, seen, pc + 1, pos, len),
            Inst::Char(_) | Inst::Any | Inst::Class(..) => {
                list.push(pc);
                false
            }
        }
    }

    fn anchored_start(&self) -> bool {
        starts_anchored(&self.ast)
    }

    fn anchored_end(&self) -> bool {
        ends_anchored(&self.ast)
    }

    /// A short string that matches, if the simple construction finds one.
    fn sample(&self) -> Option<String> {
        let mut out = String::new();
        sample_into(&self.ast, &mut out)?;
        self.is_match(&out).then_some(out)
    }

    /// The pattern in a form proptest's `string_regex` generates from: no anchors, every
    /// character escaped, ASCII-only shorthand classes.
    fn render_for_generation(&self) -> String {
        let mut out = String::new();
        render(&self.ast, &mut out);
        out
    }
}

fn class_contains(ranges: &[(char, char)], c: char) -> bool {
    ranges.iter().any(|(low, high)| (*low..=*high).contains(&c))
}

fn starts_anchored(re: &Re) -> bool {
    match re {
        Re::Start => true,
        Re::Concat(items) => items.first().is_some_and(starts_anchored),
        Re::Alt(branches) => branches.iter().all(starts_anchored),
        _ => false,
    }
}

fn ends_anchored(re: &Re) -> bool {
    match re {
        Re::End => true,
        Re::Concat(items) => items.last().is_some_and(ends_anchored),
        Re::Alt(branches) => branches.iter().all(ends_anchored),
        _ => false,
    }
}

fn compile(re: &Re, program: &mut Vec<Inst>) -> Result<(), String> {
    if program.len() > MAX_PROGRAM {
        return Err("pattern too large".into());
    }
    match re {
        Re::Empty => {}
        Re::Char(c) => program.push(Inst::Char(*c)),
        Re::Any => program.push(Inst::Any),
        Re::Class(ranges, negated) => program.push(Inst::Class(ranges.clone(), *negated)),
        Re::Start => program.push(Inst::Start),
        Re::End => program.push(Inst::End),
        Re::Concat(items) => {
            for item in items {
                compile(item, program)?;
            }
        }
        Re::Alt(branches) => compile_alternation(branches, program)?,
        Re::Repeat(sub, min, max) => compile_repeat(sub, *min, *max, program)?,
    }
    Ok(())
}

fn compile_alternation(branches: &[Re], program: &mut Vec<Inst>) -> Result<(), String> {
    let Some((last, rest)) = branches.split_last() else {
        return Ok(());
    };
    let mut jumps = Vec::new();
    for branch in rest {
        let split = program.len();
        program.push(Inst::Split(split + 1, 0));
        compile(branch, program)?;
        jumps.push(program.len());
        program.push(Inst::Jmp(0));
        let after = program.len();
        program[split] = Inst::Split(split + 1, after);
    }
    compile(last, program)?;
    let end = program.len();
    for jump in jumps {
        program[jump] = Inst::Jmp(end);
    }
    Ok(())
}

fn compile_repeat(
    sub: &Re,
    min: u32,
    max: Option<u32>,
    program: &mut Vec<Inst>,
) -> Result<(), String> {
    for _ in 0..min {
        compile(sub, program)?;
    }
    match max {
        None => {
            // loop: Split(body, out); body; Jmp(loop)
            let split = program.len();
            program.push(Inst::Split(split + 1, 0));
            compile(sub, program)?;
            program.push(Inst::Jmp(split));
            let out = program.len();
            program[split] = Inst::Split(split + 1, out);
        }
        Some(max) => {
            let mut splits = Vec::new();
            for _ in min..max {
                splits.push(program.len());
                program.push(Inst::Split(0, 0));
                compile(sub, program)?;
            }
            let out = program.len();
            for split in splits {
                program[split] = Inst::Split(split + 1, out);
            }
        }
    }
    Ok(())
}

fn sample_into(re: &Re, out: &mut String) -> Option<()> {
    match re {
        Re::Empty | Re::Start | Re::End => {}
        Re::Char(c) => out.push(*c),
        Re::Any => out.push('a'),
        Re::Class(ranges, false) => out.push(ranges.first()?.0),
        Re::Class(ranges, true) => {
            out.push("a0A_-. ~".chars().find(|c| !class_contains(ranges, *c))?);
        }
        Re::Concat(items) => {
            for item in items {
                sample_into(item, out)?;
            }
        }
        Re::Alt(branches) => {
            let first = branches.iter().find_map(|b| {
                let mut s = String::new();
                sample_into(b, &mut s).map(|_| s)
            })?;
            out.push_str(&first);
        }
        Re::Repeat(sub, min, _) => {
            for _ in 0..(*min).min(1000) {
                sample_into(sub, out)?;
            }
        }
    }
    Some(())
}

fn render_char(c: char, out: &mut String) {
    if c.is_ascii_alphanumeric() {
        out.push(c);
    } else {
        out.push_str(&format!("\\x{{{:x}}}", c as u32));
    }
}

fn render(re: &Re, out: &mut String) {
    match re {
        Re::Empty | Re::Start | Re::End => {}
        Re::Char(c) => render_char(*c, out),
        Re::Any => out.push('.'),
        Re::Class(ranges, negated) => {
            out.push('[');
            if *negated {
                out.push('^');
            }
            for (low, high) in ranges {
                render_char(*low, out);
                if low != high {
                    out.push('-');
                    render_char(*high, out);
                }
            }
            out.push(']');
        }
        Re::Concat(items) => items.iter().for_each(|item| render(item, out)),
        Re::Alt(branches) => {
            out.push_str("(?:");
            for (i, branch) in branches.iter().enumerate() {
                if i > 0 {
                    out.push('|');
                }
                render(branch, out);
            }
            out.push(')');
        }
        Re::Repeat(sub, min, max) => {
            out.push_str("(?:");
            render(sub, out);
            out.push(')');
            match max {
                Some(max) => out.push_str(&format!("{{{min},{max}}}")),
                None => out.push_str(&format!("{{{min},}}")),
            }
        }
    }
}

const DIGIT: &[(char, char)] = &[('0', '9')];
const WORD: &[(char, char)] = &[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')];
const SPACE: &[(char, char)] = &[('\t', '\n'), ('\x0c', '\r'), (' ', ' ')];

/// What a backslash escape stands for.
enum Escape {
    Char(char),
    Class(&'static [(char, char)], bool),
    Start,
    End,
}

struct RegexParser {
    chars: Vec<char>,
    pos: usize,
}

impl RegexParser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        let found = self.peek() == Some(c);
        if found {
            self.pos += 1;
        }
        found
    }

    fn alternation(&mut self) -> Result<Re, String> {
        let mut branches = vec![self.concatenation()?];
        while self.eat('|') {
            branches.push(self.concatenation()?);
        }
        Ok(if branches.len() == 1 {
            branches.remove(0)
        } else {
            Re::Alt(branches)
        })
    }

    fn concatenation(&mut self) -> Result<Re, String> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            items.push(self.quantified(atom)?);
        }
        Ok(match items.len() {
            0 => Re::Empty,
            1 => items.remove(0),
            _ => Re::Concat(items),
        })
    }

    fn atom(&mut self) -> Result<Re, String> {
        match self.next().ok_or("unexpected end")? {
            '(' => self.group(),
            '[' => self.class(),
            '.' => Ok(Re::Any),
            '^' => Ok(Re::Start),
            '$' => Ok(Re::End),
            '\\' => Ok(match self.escape(false)? {
                Escape::Char(c) => Re::Char(c),
                Escape::Class(ranges, negated) => Re::Class(ranges.to_vec(), negated),
                Escape::Start => Re::Start,
                Escape::End => Re::End,
            }),
            c @ ('*' | '+' | '?') => Err(format!("nothing to repeat before {c:?}")),
            c => Ok(Re::Char(c)),
        }
    }

    fn group(&mut self) -> Result<Re, String> {
        if self.eat('?') {
            if self.eat('P') || self.peek() == Some('<') {
                // Named group: (?P<name>…) or (?<name>…).
                if !self.eat('<') {
                    return Err("bad group name".into());
                }
                while self.next().ok_or("unterminated group name")? != '>' {}
            } else if !self.eat(':') {
                return Err("lookaround and flags are not supported".into());
            }
        }
        let inner = self.alternation()?;
        if !self.eat(')') {
            return Err("missing )".into());
        }
        Ok(inner)
    }

    fn quantified(&mut self, mut atom: Re) -> Result<Re, String> {
        loop {
            let (min, max, width) = match self.peek() {
                Some('*') => (0, None, 1),
                Some('+') => (1, None, 1),
                Some('?') => (0, Some(1), 1),
                Some('{') => match self.counted() {
                    Some(counted) => counted,
                    // Not a valid `{n,m}`: a literal brace, as in RE2.
                    None => return Ok(atom),
                },
                _ => return Ok(atom),
            };
            self.pos += width;
            if max.is_some_and(|max| max < min) {
                return Err("bad repetition range".into());
            }
            self.eat('?'); // lazy: the same for matching
            atom = Re::Repeat(Box::new(atom), min, max);
        }
    }

    /// Parses `{n}`, `{n,}` or `{n,m}` at the cursor: the bounds and the quantifier's length.
    fn counted(&self) -> Option<(u32, Option<u32>, usize)> {
        let rest: String = self.chars[self.pos..].iter().collect();
        let end = rest.find('}')?;
        let inner = &rest[1..end];
        let parse = |s: &str| -> Option<u32> {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        let (min, max) = match inner.split_once(',') {
            None => {
                let n = parse(inner)?;
                (n, Some(n))
            }
            Some((low, "")) => (parse(low)?, None),
            Some((low, high)) => (parse(low)?, Some(parse(high)?)),
        };
        Some((min, max, rest[..=end].chars().count()))
    }

    fn escape(&mut self, in_class: bool) -> Result<Escape, String> {
        let c = self.next().ok_or("trailing backslash")?;
        Ok(match c {
            'd' => Escape::Class(DIGIT, false),
            'D' => Escape::Class(DIGIT, true),
            'w' => Escape::Class(WORD, false),
            'W' => Escape::Class(WORD, true),
            's' => Escape::Class(SPACE, false),
            'S' => Escape::Class(SPACE, true),
            't' => Escape::Char('\t'),
            'n' => Escape::Char('\n'),
            'r' => Escape::Char('\r'),
            'f' => Escape::Char('\x0c'),
            'v' => Escape::Char('\x0b'),
            'A' if !in_class => Escape::Start,
            'z' if !in_class => Escape::End,
            'x' => Escape::Char(self.hex_escape()?),
            'u' => Escape::Char(self.fixed_hex(4)?),
            c if c.is_ascii_punctuation() || c == ' ' => Escape::Char(c),
            c => return Err(format!("unsupported escape \\{c}")),
        })
    }

    fn hex_escape(&mut self) -> Result<char, String> {
        if self.eat('{') {
            let mut hex = String::new();
            loop {
                match self.next().ok_or("unterminated \\x{")? {
                    '}' => break,
                    c => hex.push(c),
                }
            }
            return hex_char(&hex);
        }
        self.fixed_hex(2)
    }

    fn fixed_hex(&mut self, width: usize) -> Result<char, String> {
        let hex: String = (0..width).filter_map(|_| self.next()).collect();
        hex_char(&hex)
    }

    fn class(&mut self) -> Result<Re, String> {
        let negated = self.eat('^');
        let mut ranges = Vec::new();
        let mut first = true;
        loop {
            let c = self.next().ok_or("missing ]")?;
            if c == ']' && !first {
                break;
            }
            first = false;
            let low = match c {
                '\\' => match self.escape(true)? {
                    Escape::Char(c) => c,
                    Escape::Class(class, false) => {
                        ranges.extend_from_slice(class);
                        continue;
                    }
                    _ => return Err("negated class inside a class".into()),
                },
                '[' if self.peek() == Some(':') => {
                    ranges.extend_from_slice(self.posix_class()?);
                    continue;
                }
                c => c,
            };
            let is_range = self.peek() == Some('-') && self.chars.get(self.pos + 1) != Some(&']');
            if !is_range {
                ranges.push((low, low));
                continue;
            }
            self.pos += 1; // the '-'
            let high = match self.next().ok_or("missing ]")? {
                '\\' => match self.escape(true)? {
                    Escape::Char(c) => c,
                    _ => return Err("class as range end".into()),
                },
                c => c,
            };
            if high < low {
                return Err("bad class range".into());
            }
            ranges.push((low, high));
        }
        Ok(Re::Class(ranges, negated))
    }

    fn posix_class(&mut self) -> Result<&'static [(char, char)], String> {
        let rest: String = self.chars[self.pos..].iter().collect();
        let end = rest.find(":]").ok_or("unterminated [:class:]")?;
        let name = &rest[1..end];
        self.pos += rest[..end + 2].chars().count();
        Ok(match name {
            "digit" => DIGIT,
            "alpha" => &[('A', 'Z'), ('a', 'z')],
            "alnum" => &[('0', '9'), ('A', 'Z'), ('a', 'z')],
            "upper" => &[('A', 'Z')],
            "lower" => &[('a', 'z')],
            "space" => &[('\t', '\r'), (' ', ' ')],
            "xdigit" => &[('0', '9'), ('A', 'F'), ('a', 'f')],
            "word" => WORD,
            _ => return Err(format!("unsupported [:{name}:]")),
        })
    }
}

fn hex_char(hex: &str) -> Result<char, String> {
    u32::from_str_radix(hex, 16)
        .ok()
        .and_then(char::from_u32)
        .ok_or_else(|| format!("bad hex escape {hex:?}"))
}
