//! Is the live object already what we want? Server-side apply would answer by writing; this
//! answers by reading, so a reconcile that finds nothing to change sends no write.

use serde_json::Value;

/// True when every field of `desired` is present in `live` with the same meaning. Fields the
/// API server or other controllers add (defaults, status, extra labels) do not matter.
pub fn contains(live: &Value, desired: &Value) -> bool {
    within(live, desired, false)
}

/// Keys under which values are resource quantities (requests, limits, quota, LimitRange
/// defaults), which the API server canonicalises. Anywhere else a string is compared as written,
/// so `"1.0"` and `"1"` in an environment variable stay different.
const QUANTITY_KEYS: &[&str] = &[
    "requests",
    "limits",
    "hard",
    "default",
    "defaultRequest",
    "max",
    "min",
];

fn within(live: &Value, desired: &Value, quantities: bool) -> bool {
    match (live, desired) {
        (_, Value::Null) => true,
        (Value::Object(l), Value::Object(d)) => d.iter().all(|(k, dv)| match l.get(k) {
            Some(lv) => within(lv, dv, quantities || QUANTITY_KEYS.contains(&k.as_str())),
            None => is_empty(dv),
        }),
        (Value::Array(l), Value::Array(d)) => {
            l.len() == d.len() && l.iter().zip(d).all(|(lv, dv)| within(lv, dv, quantities))
        }
        (Value::Null, d) => is_empty(d),
        (Value::String(l), Value::String(d)) => l == d || (quantities && same_quantity(l, d)),
        (Value::Number(l), Value::String(d)) | (Value::String(d), Value::Number(l)) => {
            quantities && same_quantity(&l.to_string(), d)
        }
        (l, d) => l == d,
    }
}

/// The API server drops empty maps and lists in some places and keeps them in others.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// The API server canonicalises quantities (`0.5` → `500m`, `1024Mi` → `1Gi`); compare values.
fn same_quantity(a: &str, b: &str) -> bool {
    match (quantity(a), quantity(b)) {
        (Some(x), Some(y)) => (x - y).abs() <= f64::EPSILON * x.abs().max(y.abs()).max(1.0),
        _ => false,
    }
}

fn quantity(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    if number.is_empty() {
        return None;
    }
    let n: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => {
            let exp: i32 = suffix.strip_prefix(['e', 'E'])?.parse().ok()?;
            10f64.powi(exp)
        }
    };
    Some(n * factor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extra_live_fields_do_not_matter() {
        let live = json!({"metadata": {"name": "a", "uid": "u", "labels": {"x": "1", "y": "2"}}, "spec": {"a": 1, "b": 2}, "status": {}});
        assert!(contains(
            &live,
            &json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"a": 1}})
        ));
    }

    #[test]
    fn changed_or_missing_fields_matter() {
        let live = json!({"spec": {"a": 1, "list": [1, 2]}});
        assert!(!contains(&live, &json!({"spec": {"a": 2}})));
        assert!(!contains(&live, &json!({"spec": {"c": 1}})));
        assert!(!contains(&live, &json!({"spec": {"list": [1]}})));
    }

    #[test]
    fn quantities_compare_by_value_only_where_they_are_quantities() {
        let req = |v: serde_json::Value| json!({"resources": {"requests": {"cpu": v}}});
        assert!(contains(&req(json!("500m")), &req(json!("0.5"))));
        let lim = |v: &str| json!({"limits": {"memory": v}});
        assert!(contains(&lim("1Gi"), &lim("1024Mi")));
        assert!(contains(
            &json!({"hard": {"pods": "50"}}),
            &json!({"hard": {"pods": 50}})
        ));
        assert!(!contains(
            &json!({"hard": {"cpu": "1"}}),
            &json!({"hard": {"cpu": "2"}})
        ));
        // Outside resource fields a string is compared as written.
        let env = |v: &str| json!({"env": [{"name": "N", "value": v}]});
        assert!(!contains(&env("1"), &env("1.0")));
        assert!(contains(&json!({}), &json!({"emptyDir": {}})));
        assert!(!contains(
            &json!({"name": "image:1"}),
            &json!({"name": "image:2"})
        ));
    }
}
