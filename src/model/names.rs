//! Derivation and validation of names for the systems the operator writes to.
//!
//! Names come from templates such as `{organization}-{domain}-{product}-{layer}`;
//! the placeholder expansion happens elsewhere and this module receives the
//! expanded string together with an *identity* key (for example
//! `"messaging/conversations/raw"`). The identity, not the raw string, feeds
//! the hash suffix, so two products whose long names share a prefix still end
//! up with different names after shortening.
//!
//! Every derived name is in a canonical form that is a strict subset of what
//! the target system accepts: lowercase ASCII letters and digits joined by
//! single separators, no leading or trailing separator. [`check`] validates
//! exactly that canonical form, which is what makes [`derive`] idempotent on
//! names that already pass [`check`].

use sha2::{Digest, Sha256};

/// The system a name is for; each has its own alphabet and length limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// Kubernetes namespace / label-safe object name: DNS-1123 label, max 63.
    Namespace,
    /// Other Kubernetes object names (ConfigMap, ServiceAccount, Role, ...):
    /// kept as DNS-1123 labels too, max 63.
    Object,
    /// CronJob names: DNS-1123 label, max 52 (the Job controller appends an
    /// 11-character suffix to the Jobs it creates).
    CronJob,
    /// S3 bucket: 3..=63 lowercase letters, digits and hyphens. Dots are never
    /// used because they break virtual-hosted-style TLS, which also means a
    /// bucket name can never be formatted like an IP address. Reserved AWS
    /// prefixes and suffixes are avoided.
    S3Bucket,
    /// Glue database and table names: lowercase letters, digits, underscores;
    /// must start with a letter (so Athena SQL needs no quoting); max 255.
    Glue,
    /// IAM role name: max 64. IAM accepts `[A-Za-z0-9+=,.@_-]`, but we emit
    /// only lowercase letters, digits and hyphens: IAM role names are
    /// case-insensitive for uniqueness, so mixed case would only invite clashes.
    IamRole,
}

/// Length of `{sep}{8 hex chars}`, the suffix added to shortened names.
pub const HASH_SUFFIX_LEN: usize = 9;

/// Marker used whenever a name needs a deterministic prefix or suffix to become
/// valid; short and recognisable as ours ("data product").
const MARKER: &str = "dp";

/// AWS reserves these bucket-name prefixes (`xn--` is punycode, the others
/// belong to AWS features and documentation).
const S3_RESERVED_PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];

/// AWS reserves these bucket-name suffixes for access-point aliases, Object
/// Lambda, directory buckets and table buckets.
const S3_RESERVED_SUFFIXES: &[&str] = &["-s3alias", "--ol-s3", "--x-s3", "--table-s3"];

impl NameKind {
    /// The longest name the target system accepts for this kind.
    pub fn max_len(self) -> usize {
        match self {
            NameKind::Namespace | NameKind::Object | NameKind::S3Bucket => 63,
            NameKind::CronJob => 52,
            NameKind::Glue => 255,
            NameKind::IamRole => 64,
        }
    }

    fn min_len(self) -> usize {
        match self {
            NameKind::S3Bucket => 3,
            _ => 1,
        }
    }

    /// The one non-alphanumeric character a name of this kind may contain.
    fn separator(self) -> char {
        match self {
            NameKind::Glue => '_',
            _ => '-',
        }
    }

    fn separator_plural(self) -> &'static str {
        match self {
            NameKind::Glue => "underscores",
            _ => "hyphens",
        }
    }

    /// What the name is called in user-facing messages.
    fn label(self) -> &'static str {
        match self {
            NameKind::Namespace => "Kubernetes namespace name",
            NameKind::Object => "Kubernetes object name",
            NameKind::CronJob => "CronJob name",
            NameKind::S3Bucket => "S3 bucket name",
            NameKind::Glue => "Glue database or table name",
            NameKind::IamRole => "IAM role name",
        }
    }
}

/// Turns `raw` into a valid name of `kind`.
///
/// Steps, in order:
/// 1. ASCII letters are lowercased and every other character (including `_`
///    and `.` for the hyphen kinds, `-` for Glue, and all non-ASCII) becomes
///    the kind's separator; runs of separators collapse to one and leading and
///    trailing separators are trimmed.
/// 2. A name left empty becomes `dp{sep}{hash}`; a Glue name starting with a
///    digit gets the prefix `dp_`.
/// 3. S3 names starting with a reserved prefix get the prefix `dp-`; names
///    ending with a reserved suffix get the suffix `-dp`.
/// 4. If the name is longer than [`NameKind::max_len`] — or if step 1 had to
///    collapse a run of several separators, or the name was empty — it is cut
///    to `max_len - 9` characters (a trailing separator trimmed) when needed
///    and `{sep}{short_hash(identity)}` is appended.
/// 5. S3 names still shorter than 3 characters get the prefix `dp-`.
///
/// The hash in step 4 also covers collapsed runs because DNS-1123 names (what
/// placeholders expand to) may legally contain `--`: without it, products
/// `b--c` and `b-c` in one domain would share a bucket, a Glue database and an
/// IAM role.
pub fn derive(kind: NameKind, raw: &str, identity: &str) -> String {
    derive_inner(kind, raw, identity, false)
}

/// As [`derive`], but always with the identity hash appended: for a name whose parts were
/// shortened before expansion, which without the hash could meet another product's name.
pub fn derive_hashed(kind: NameKind, raw: &str, identity: &str) -> String {
    derive_inner(kind, raw, identity, true)
}

fn derive_inner(kind: NameKind, raw: &str, identity: &str, hashed: bool) -> String {
    let sep = kind.separator();
    let (mut name, mut needs_hash) = sanitize(raw, sep);
    needs_hash |= hashed;

    if name.is_empty() {
        // Nothing usable survived (e.g. an all-Unicode raw name); the identity
        // hash keeps such names apart instead of all becoming "dp".
        name.push_str(MARKER);
        needs_hash = true;
    }
    if kind == NameKind::Glue && name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, sep);
        name.insert_str(0, MARKER);
    }
    if kind == NameKind::S3Bucket {
        // Unreachable for the "--" forms after sanitising, but kept so the
        // list in one place defines what is reserved for both derive and check.
        if S3_RESERVED_PREFIXES.iter().any(|p| name.starts_with(p)) {
            name.insert(0, sep);
            name.insert_str(0, MARKER);
        }
        if S3_RESERVED_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            name.push(sep);
            name.push_str(MARKER);
        }
    }

    let max = kind.max_len();
    if needs_hash || name.len() > max {
        // `name` is pure ASCII here, so byte truncation is char truncation.
        // Cutting keeps any prefix fixed above (all are shorter than the cut)
        // and the appended hex can't form a reserved S3 suffix.
        let keep = max - HASH_SUFFIX_LEN;
        if name.len() > keep {
            name.truncate(keep);
            if name.ends_with(sep) {
                name.pop();
            }
        }
        name.push(sep);
        name.push_str(&short_hash(identity));
    }

    if name.len() < kind.min_len() {
        name.insert(0, sep);
        name.insert_str(0, MARKER);
    }
    name
}

/// Maps `raw` onto `[a-z0-9]` plus `sep`, collapsing separator runs and
/// trimming them at both ends. The flag reports whether an interior run of two
/// or more separator characters was merged, i.e. whether information that a
/// valid input could carry was lost.
///
/// Only ASCII letters are lowercased: Unicode case mapping can turn a
/// non-ASCII character into ASCII (the Kelvin sign becomes `k`) or into
/// several characters, which would make look-alike names collide in ways
/// nobody reading them would expect.
fn sanitize(raw: &str, sep: char) -> (String, bool) {
    let mut out = String::with_capacity(raw.len().min(512));
    let mut pending = 0usize;
    let mut merged = false;
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() {
            if pending > 0 && !out.is_empty() {
                out.push(sep);
                merged |= pending > 1;
            }
            pending = 0;
            out.push(c.to_ascii_lowercase());
        } else {
            pending += 1;
        }
    }
    (out, merged)
}

/// Checks that `name` is already a valid name of `kind`; `Err` is a
/// user-facing sentence naming the rule broken.
///
/// This validates the canonical form [`derive`] produces, which is stricter
/// than some target systems (no consecutive separators, no uppercase in IAM
/// role names), so that any name accepted here is one `derive` returns as is.
pub fn check(kind: NameKind, name: &str) -> Result<(), String> {
    let fail = |rule: String| Err(format!("{name:?} is not a valid {}: {rule}", kind.label()));
    let sep = kind.separator();
    let (min, max) = (kind.min_len(), kind.max_len());

    let in_alphabet = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == sep;
    if !name.chars().all(in_alphabet) {
        return fail(format!(
            "use lowercase letters, digits and {}, {min} to {max} characters",
            kind.separator_plural()
        ));
    }
    // All ASCII from here on, so byte length is character count.
    if name.len() < min || name.len() > max {
        return fail(format!(
            "use {min} to {max} characters (it has {})",
            name.len()
        ));
    }

    let first = name.as_bytes()[0];
    let last = name.as_bytes()[name.len() - 1];
    if kind == NameKind::Glue {
        if !first.is_ascii_lowercase() {
            return fail("start with a lowercase letter".to_string());
        }
        if last == b'_' {
            return fail("do not end with an underscore".to_string());
        }
    } else if !first.is_ascii_alphanumeric() || !last.is_ascii_alphanumeric() {
        return fail("start and end with a lowercase letter or digit".to_string());
    }

    // Reserved affixes come before the consecutive-separator rule because
    // most of them contain "--" and naming the reservation is more helpful.
    if kind == NameKind::S3Bucket {
        if let Some(p) = S3_RESERVED_PREFIXES.iter().find(|p| name.starts_with(*p)) {
            return fail(format!("do not start with {p:?}, which AWS reserves"));
        }
        if let Some(s) = S3_RESERVED_SUFFIXES.iter().find(|s| name.ends_with(*s)) {
            return fail(format!("do not end with {s:?}, which AWS reserves"));
        }
    }

    let doubled: String = [sep, sep].iter().collect();
    if name.contains(&doubled) {
        return fail(format!(
            "do not use consecutive {}",
            kind.separator_plural()
        ));
    }
    Ok(())
}

/// Stable short hash used for suffixes: first 4 bytes of sha256(input) as 8
/// lowercase hex chars. 32 bits keep suffixes short while making an accidental
/// clash between two identities that share a cut prefix very unlikely.
pub fn short_hash(input: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(input.as_bytes());
    let mut out = String::with_capacity(8);
    for &byte in &digest[..4] {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeSet, HashSet};

    const ALL_KINDS: [NameKind; 6] = [
        NameKind::Namespace,
        NameKind::Object,
        NameKind::CronJob,
        NameKind::S3Bucket,
        NameKind::Glue,
        NameKind::IamRole,
    ];

    #[test]
    fn short_hash_is_sha256_prefix() {
        // Known SHA-256 digests, so a change of hash or encoding is caught.
        assert_eq!(short_hash(""), "e3b0c442");
        assert_eq!(short_hash("abc"), "ba7816bf");
        assert_eq!(short_hash("messaging/conversations").len(), 8);
    }

    #[test]
    fn max_lengths() {
        let expected = [63, 63, 52, 63, 255, 64];
        for (kind, max) in ALL_KINDS.iter().zip(expected) {
            assert_eq!(kind.max_len(), max, "{kind:?}");
        }
    }

    #[test]
    fn table_examples() {
        let id = "acme/sales";
        let h = short_hash(id);
        let cases: Vec<(NameKind, &str, String)> = vec![
            // Kubernetes kinds: lowercase, `_` and `.` become `-`.
            (NameKind::Namespace, "Acme-Sales", "acme-sales".into()),
            (
                NameKind::Namespace,
                "acme.sales_orders",
                "acme-sales-orders".into(),
            ),
            (NameKind::Namespace, "  -acme sales-  ", "acme-sales".into()),
            (NameKind::Namespace, "42-team", "42-team".into()),
            (NameKind::Object, "Reader/Role", "reader-role".into()),
            (
                NameKind::CronJob,
                "Nightly_Compaction",
                "nightly-compaction".into(),
            ),
            // S3: underscore to hyphen, uppercase, minimum length, reserved affixes.
            (NameKind::S3Bucket, "Acme_Bucket", "acme-bucket".into()),
            (NameKind::S3Bucket, "ab", "dp-ab".into()),
            (NameKind::S3Bucket, "x", "dp-x".into()),
            (NameKind::S3Bucket, "sthree-logs", "dp-sthree-logs".into()),
            (
                NameKind::S3Bucket,
                "amzn-s3-demo-bucket",
                "dp-amzn-s3-demo-bucket".into(),
            ),
            (NameKind::S3Bucket, "logs-s3alias", "logs-s3alias-dp".into()),
            (NameKind::S3Bucket, "Logs_S3Alias", "logs-s3alias-dp".into()),
            // The "--" reserved forms can't survive run collapsing; the merged
            // run brings the identity hash.
            (NameKind::S3Bucket, "xn--abc", format!("xn-abc-{h}")),
            (NameKind::S3Bucket, "data--ol-s3", format!("data-ol-s3-{h}")),
            (NameKind::S3Bucket, "data--x-s3", format!("data-x-s3-{h}")),
            (
                NameKind::S3Bucket,
                "data--table-s3",
                format!("data-table-s3-{h}"),
            ),
            // No dots, so never formatted like an IP address.
            (NameKind::S3Bucket, "192.168.5.4", "192-168-5-4".into()),
            // Glue: hyphen to underscore, leading digit, uppercase.
            (NameKind::Glue, "sales-orders", "sales_orders".into()),
            (NameKind::Glue, "Sales.Orders", "sales_orders".into()),
            (NameKind::Glue, "2024-events", "dp_2024_events".into()),
            (NameKind::Glue, "-7up", "dp_7up".into()),
            // IAM.
            (
                NameKind::IamRole,
                "DP-Sales_Orders",
                "dp-sales-orders".into(),
            ),
            // Empty, or nothing usable: marker plus identity hash.
            (NameKind::Namespace, "", format!("dp-{h}")),
            (NameKind::S3Bucket, "", format!("dp-{h}")),
            (NameKind::Glue, "", format!("dp_{h}")),
            (NameKind::IamRole, "---", format!("dp-{h}")),
            (NameKind::Glue, "日本語", format!("dp_{h}")),
            // Non-ASCII is a separator, even where Unicode lowercasing would
            // give ASCII (U+212A KELVIN SIGN lowercases to 'k').
            (NameKind::Namespace, "\u{212a}it-caf\u{e9}", "it-caf".into()),
            (
                NameKind::Namespace,
                "caf\u{e9}-\u{212a}it",
                format!("caf-it-{h}"),
            ),
        ];
        for (kind, raw, expected) in cases {
            let got = derive(kind, raw, id);
            assert_eq!(got, expected, "{kind:?} {raw:?}");
            assert_eq!(check(kind, &got), Ok(()), "{kind:?} {raw:?}");
        }
    }

    #[test]
    fn too_long_names_are_cut_and_hashed_to_exact_length() {
        let id = "messaging/conversations";
        let h = short_hash(id);
        for kind in ALL_KINDS {
            let max = kind.max_len();
            let raw = "a".repeat(max + 1);
            let sep = kind.separator();
            let got = derive(kind, &raw, id);
            assert_eq!(got, format!("{}{sep}{h}", "a".repeat(max - 9)), "{kind:?}");
            assert_eq!(got.len(), max, "{kind:?}");
            assert_eq!(check(kind, &got), Ok(()), "{kind:?}");

            // Exactly at the limit: untouched.
            let raw = "b".repeat(max);
            assert_eq!(derive(kind, &raw, id), raw, "{kind:?}");
        }
    }

    #[test]
    fn cut_trims_a_trailing_separator() {
        // Character 54 (the last kept one) is a hyphen: it is dropped, so the
        // result is one shorter than the limit rather than ending in "--".
        let raw = format!("{}-{}", "a".repeat(53), "b".repeat(20));
        let got = derive(NameKind::Namespace, &raw, "id");
        assert_eq!(got, format!("{}-{}", "a".repeat(53), short_hash("id")));
        assert_eq!(got.len(), 62);
    }

    #[test]
    fn shortened_names_depend_on_identity_not_raw_prefix() {
        let prefix = "acme-messaging-conversations-with-a-really-long-product-name";
        let raw = format!("{prefix}-raw");
        let refined = format!("{prefix}-refined");
        for kind in [NameKind::Namespace, NameKind::S3Bucket, NameKind::CronJob] {
            let a = derive(kind, &raw, "messaging/conversations/raw");
            let b = derive(kind, &refined, "messaging/conversations/refined");
            assert_ne!(a, b, "{kind:?}");
            assert!(a.ends_with(&short_hash("messaging/conversations/raw")));
        }
    }

    #[test]
    fn collapsed_runs_do_not_merge_distinct_products() {
        // DNS-1123 allows "--", so both are valid product names.
        let formats: [(NameKind, &str); 4] = [
            (NameKind::S3Bucket, "acme-sales-{p}-data-products"),
            (NameKind::Glue, "sales_{p}"),
            (NameKind::Namespace, "sales-{p}"),
            (NameKind::IamRole, "dp-sales-{p}"),
        ];
        for (kind, format) in formats {
            let a = derive(kind, &format.replace("{p}", "b-c"), "sales/b-c");
            let b = derive(kind, &format.replace("{p}", "b--c"), "sales/b--c");
            assert_ne!(a, b, "{kind:?}");
        }
    }

    #[test]
    fn check_messages_name_the_rule() {
        fn err(kind: NameKind, name: &str) -> String {
            check(kind, name).unwrap_err()
        }
        assert_eq!(
            err(NameKind::S3Bucket, "Acme_Bucket"),
            "\"Acme_Bucket\" is not a valid S3 bucket name: use lowercase letters, \
             digits and hyphens, 3 to 63 characters"
        );
        assert_eq!(
            err(NameKind::S3Bucket, "ab"),
            "\"ab\" is not a valid S3 bucket name: use 3 to 63 characters (it has 2)"
        );
        assert_eq!(
            err(NameKind::Glue, "sales-orders"),
            "\"sales-orders\" is not a valid Glue database or table name: use lowercase \
             letters, digits and underscores, 1 to 255 characters"
        );
        assert!(err(NameKind::Glue, "1sales").contains("start with a lowercase letter"));
        assert!(err(NameKind::Glue, "_sales").contains("start with a lowercase letter"));
        assert!(err(NameKind::Glue, "sales_").contains("do not end with an underscore"));
        assert!(err(NameKind::Glue, "a__b").contains("consecutive underscores"));
        assert!(err(NameKind::Namespace, "").contains("(it has 0)"));
        assert!(err(NameKind::Namespace, "-a").contains("start and end"));
        assert!(err(NameKind::CronJob, "a-").contains("start and end"));
        assert!(err(NameKind::CronJob, &"a".repeat(53)).contains("1 to 52"));
        assert!(err(NameKind::IamRole, "Admin").contains("lowercase"));
        assert!(err(NameKind::IamRole, "a--b").contains("consecutive hyphens"));
        assert!(err(NameKind::S3Bucket, "my.bucket").contains("hyphens"));
        assert!(err(NameKind::S3Bucket, "xn--abc").contains("\"xn--\", which AWS reserves"));
        assert!(err(NameKind::S3Bucket, "sthree-x").contains("\"sthree-\""));
        assert!(err(NameKind::S3Bucket, "amzn-s3-demo-x").contains("\"amzn-s3-demo-\""));
        assert!(err(NameKind::S3Bucket, "x-s3alias").contains("\"-s3alias\""));
        assert!(err(NameKind::S3Bucket, "x--ol-s3").contains("\"--ol-s3\""));
        assert!(err(NameKind::S3Bucket, "x--x-s3").contains("\"--x-s3\""));
        assert!(err(NameKind::S3Bucket, "x--table-s3").contains("\"--table-s3\""));
        // Quotes and control characters are escaped in the message.
        assert!(err(NameKind::Object, "a\"\nb").starts_with("\"a\\\"\\nb\" is not"));

        assert_eq!(check(NameKind::S3Bucket, "acme-sales-data"), Ok(()));
        assert_eq!(check(NameKind::Glue, "sales_2024"), Ok(()));
        assert_eq!(check(NameKind::Namespace, "1abc"), Ok(()));
    }

    /// Strings that exercise every branch: arbitrary Unicode, separator-heavy
    /// ASCII, and long ones that need shortening.
    fn raw_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[a-zA-Z0-9 ._/-]{0,300}",
            "(xn--|sthree-|amzn-s3-demo-|[0-9])?[a-z0-9-]{0,6}(-s3alias|--ol-s3|--x-s3|--table-s3)?",
            "\\PC{0,80}",
        ]
    }

    /// Names that are usually canonical for some kind, so the idempotence
    /// property is not vacuous.
    fn valid_ish_strategy() -> impl Strategy<Value = String> {
        "[a-z0-9][a-z0-9]{0,9}(-[a-z0-9]{1,12}){0,6}"
    }

    fn domain_strategy() -> impl Strategy<Value = String> {
        // A few fixed domains make same-domain pairs common.
        prop_oneof![
            "[a-z][a-z0-9]{0,30}",
            Just("sales".to_string()),
            Just("d".to_string()),
        ]
    }

    fn product_strategy() -> impl Strategy<Value = String> {
        "[a-z]([a-z0-9-]{0,60}[a-z0-9])?"
    }

    proptest! {
        #[test]
        fn derive_output_always_passes_check(raw in raw_strategy(), identity in any::<String>()) {
            for kind in ALL_KINDS {
                let name = derive(kind, &raw, &identity);
                prop_assert!(name.len() <= kind.max_len());
                prop_assert_eq!(check(kind, &name), Ok(()), "{:?} from {:?}", kind, raw);
                // Deterministic.
                prop_assert_eq!(derive(kind, &raw, &identity), name);
            }
        }

        #[test]
        fn check_never_panics(name in raw_strategy()) {
            for kind in ALL_KINDS {
                let _ = check(kind, &name);
            }
        }

        #[test]
        fn derive_is_idempotent_on_valid_names(candidate in valid_ish_strategy(), identity in any::<String>()) {
            for kind in ALL_KINDS {
                let name = candidate.replace('-', &kind.separator().to_string());
                if check(kind, &name).is_ok() {
                    prop_assert_eq!(derive(kind, &name, &identity), name);
                }
            }
        }

        #[test]
        fn derived_names_are_valid_bounded_and_distinct(
            pairs in prop::collection::vec((domain_strategy(), product_strategy()), 1..40),
            long_stem in "[a-z][a-z0-9-]{60,70}[a-z0-9]",
        ) {
            let mut all: BTreeSet<(String, String)> = BTreeSet::new();
            for (domain, product) in pairs {
                // Variants that differ only in a doubled hyphen or in a tail
                // beyond the cut; these are the cases that collide if the
                // sanitising or shortening loses information.
                all.insert((domain.clone(), product.replace('-', "--")));
                let tail = product.chars().last().unwrap_or('x');
                all.insert((domain.clone(), format!("{long_stem}{tail}")));
                all.insert((domain, product));
            }
            let formats = [
                (NameKind::S3Bucket, "acme-{domain}-{product}-data-products"),
                (NameKind::Glue, "{domain}_{product}"),
                (NameKind::Namespace, "{domain}-{product}"),
                (NameKind::IamRole, "dp-{domain}-{product}"),
                (NameKind::CronJob, "{domain}-{product}"),
            ];
            for (kind, format) in formats {
                let mut seen = HashSet::new();
                for (domain, product) in &all {
                    let raw = format.replace("{domain}", domain).replace("{product}", product);
                    let name = derive(kind, &raw, &format!("{domain}/{product}"));
                    prop_assert!(name.len() <= kind.max_len());
                    prop_assert_eq!(check(kind, &name), Ok(()));
                    prop_assert!(seen.insert(name.clone()), "{:?} name {} reused", kind, name);
                }
            }
        }
    }
}
