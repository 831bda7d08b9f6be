//! Reading DataProduct, DataProductTemplate and DataProductAccess documents from files and
//! directories, with errors that name the file, line and field (never a debug dump); and the
//! YAML settings the crate reads and writes with (serde-saphyr, the YAML stack kube uses).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::api::{DataProduct, DataProductAccess, DataProductTemplate, API_VERSION, GROUP};

/// Where a document came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub file: PathBuf,
    /// 1-based line where the document starts.
    pub line: usize,
    /// The document's text, to find the line of a field in.
    pub text: std::sync::Arc<str>,
}

impl Source {
    /// `FILE:LINE` of a field path of this document, or of the document when the path is not
    /// written in it.
    pub fn at(&self, path: &str) -> String {
        let line = line_of(&self.text, path).map_or(self.line, |l| self.line + l - 1);
        format!("{}:{line}", self.file.display())
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// One of our documents.
#[derive(Debug, Clone)]
pub enum Document {
    Product(Box<DataProduct>),
    Template(Box<DataProductTemplate>),
    Access(Box<DataProductAccess>),
}

/// A document and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub source: Source,
    pub document: Document,
}

/// Why a file could not be loaded. The Display form is the CLI message.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}:{line}: {message}")]
    Document {
        file: PathBuf,
        line: usize,
        message: String,
    },
}

/// Options for loading.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Namespace for namespaced documents that do not set one.
    pub default_namespace: Option<String>,
}

/// Loads every document of ours found in `paths` (files, or directories walked recursively for
/// `*.yaml` / `*.yml`). Documents of other API groups are skipped, so a whole GitOps repository
/// can be checked. Returns every error found, not only the first.
pub fn load_paths(paths: &[PathBuf], opts: &LoadOptions) -> (Vec<Loaded>, Vec<LoadError>) {
    let report = load_report(paths, opts);
    (report.loaded, report.errors)
}

/// What [`load_report`] found: our documents, the errors, and how many documents of other kinds
/// were skipped.
#[derive(Debug, Default)]
pub struct Report {
    pub loaded: Vec<Loaded>,
    pub errors: Vec<LoadError>,
    /// Documents of other API groups (a Deployment, a values file), skipped.
    pub skipped: usize,
}

/// The path that stands for standard input.
pub const STDIN: &str = "-";

/// Files larger than this are refused before they are parsed (a DataProduct is a few KB; the
/// descriptor ConfigMap it becomes holds at most 1 MiB).
pub const MAX_FILE_BYTES: usize = 16 * 1024 * 1024;

/// As [`load_paths`], counting the documents of other kinds that were skipped. The path `-`
/// reads standard input.
pub fn load_report(paths: &[PathBuf], opts: &LoadOptions) -> Report {
    let mut files = Vec::new();
    let mut report = Report::default();
    for path in paths {
        if path.as_os_str() == STDIN {
            files.push(path.clone());
        } else {
            collect_files(path, true, &mut files, &mut report.errors);
        }
    }
    // A file given twice (itself and its directory, say) is read once, not reported as a
    // duplicate of itself.
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| f.as_os_str() == STDIN || seen.insert(f.canonicalize().unwrap_or(f.clone())));
    for file in files {
        let text = if file.as_os_str() == STDIN {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map(|_| text)
        } else {
            std::fs::read_to_string(&file)
        };
        match text {
            Ok(text) => {
                let shown = if file.as_os_str() == STDIN {
                    PathBuf::from("<stdin>")
                } else {
                    file
                };
                report.skipped +=
                    load_str_counting(&shown, &text, opts, &mut report.loaded, &mut report.errors);
            }
            Err(source) => report.errors.push(LoadError::Io { path: file, source }),
        }
    }
    report
}

fn collect_files(path: &Path, explicit: bool, out: &mut Vec<PathBuf>, errors: &mut Vec<LoadError>) {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(source) => {
            errors.push(LoadError::Io {
                path: path.to_path_buf(),
                source,
            });
            return;
        }
    };
    if meta.is_file() {
        // A file named explicitly is read whatever its extension; in directories only YAML.
        if explicit || is_yaml(path) {
            out.push(path.to_path_buf());
        }
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(source) => {
            errors.push(LoadError::Io {
                path: path.to_path_buf(),
                source,
            });
            return;
        }
    };
    // Sorted so output is identical for identical input, whatever the file system's order.
    let mut children: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    children.sort();
    for child in children {
        let hidden = child
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if !hidden {
            collect_files(&child, false, out, errors);
        }
    }
}

fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml") | Some("yml")
    )
}

/// Splits a YAML stream into documents, with the 1-based line each starts on. Splitting by hand
/// (rather than with the parser's multi-document iterator) lets every document be parsed twice,
/// once untyped to learn its kind and once typed, with line numbers that still point into the file.
pub fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    for (index, line) in text.lines().enumerate() {
        let is_marker = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        if is_marker {
            docs.push((start, std::mem::take(&mut current)));
            start = index + 1;
            // Content after the marker on the same line belongs to the new document.
            current.push_str(line[3..].trim_start());
            current.push('\n');
        } else if line == "..." {
            docs.push((start, std::mem::take(&mut current)));
            start = index + 2;
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    docs.push((start, current));
    docs.into_iter()
        .filter(|(_, doc)| {
            doc.lines().any(|l| {
                let t = l.trim();
                !t.is_empty() && !t.starts_with('#')
            })
        })
        .collect()
}

/// Loads the documents of one YAML stream.
pub fn load_str(
    file: &Path,
    text: &str,
    opts: &LoadOptions,
    out: &mut Vec<Loaded>,
    errors: &mut Vec<LoadError>,
) {
    load_str_counting(file, text, opts, out, errors);
}

/// As [`load_str`]; returns how many documents of other kinds were skipped.
fn load_str_counting(
    file: &Path,
    text: &str,
    opts: &LoadOptions,
    out: &mut Vec<Loaded>,
    errors: &mut Vec<LoadError>,
) -> usize {
    if let Some((line, message)) = too_large_or_deep(text) {
        errors.push(LoadError::Document {
            file: file.to_path_buf(),
            line,
            message,
        });
        return 0;
    }
    let mut skipped = 0;
    for (start, doc) in split_documents(text) {
        match load_document(file, start, &doc, opts) {
            Ok(Some(loaded)) => out.push(loaded),
            Ok(None) => skipped += 1,
            Err(err) => errors.push(err),
        }
    }
    skipped
}

/// Bounds checked before any parsing, so a huge or pathologically nested file is refused at
/// once: the size, and the nesting of flow collections (`[[[[…`), which the parser would
/// otherwise walk slowly before its own depth budget stops it. Returns the line and the message.
fn too_large_or_deep(text: &str) -> Option<(usize, String)> {
    if text.len() > MAX_FILE_BYTES {
        return Some((
            1,
            format!(
                "the file is {} bytes; at most {MAX_FILE_BYTES} are read",
                text.len()
            ),
        ));
    }
    let (mut depth, mut quote) = (0usize, None);
    for (index, line) in text.lines().enumerate() {
        let mut prev = ' ';
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '#') if prev.is_whitespace() => break,
                (None, '"' | '\'') if matches!(prev, ' ' | '[' | '{' | ',' | ':') => {
                    quote = Some(c)
                }
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Some((
                            index + 1,
                            format!("flow collections nest more than {MAX_DEPTH} levels deep"),
                        ));
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
            prev = c;
        }
        // A single-quoted or plain scalar does not span a line break inside flow context in
        // the documents we read; a double-quoted one may, and stays open.
        if quote == Some('\'') {
            quote = None;
        }
    }
    None
}

/// The parser's nesting budget, also the bound of the pre-parse scan.
const MAX_DEPTH: usize = 64;

const ROOT_FIELDS: [&str; 5] = ["apiVersion", "kind", "metadata", "spec", "status"];

fn load_document(
    file: &Path,
    start: usize,
    doc: &str,
    opts: &LoadOptions,
) -> Result<Option<Loaded>, LoadError> {
    let doc_error = |message: String| LoadError::Document {
        file: file.to_path_buf(),
        line: start,
        message,
    };
    let Peek::Map {
        api_version,
        kind,
        keys,
    } = parse(file, start, doc)?
    else {
        return Err(doc_error(
            "expected a Kubernetes object (a mapping with apiVersion and kind)".to_string(),
        ));
    };
    let (api_version, kind) = (api_version.as_str(), kind.as_str());
    let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
    let ours = ["DataProduct", "DataProductTemplate", "DataProductAccess"].contains(&kind);
    if group != GROUP {
        if ours {
            return Err(doc_error(format!(
                "{kind} needs apiVersion: {API_VERSION} (found \"{api_version}\")"
            )));
        }
        // Someone else's document (a Deployment, a Helm values file, a Kustomization in the
        // same GitOps repository): not ours to check.
        return Ok(None);
    }
    if api_version != API_VERSION {
        return Err(doc_error(format!(
            "unsupported apiVersion {api_version}; this version of dpctl understands {API_VERSION}"
        )));
    }
    for key in &keys {
        if !ROOT_FIELDS.contains(&key.as_str()) {
            return Err(doc_error(format!(
                "unknown field `{key}`, expected one of {}",
                ROOT_FIELDS.join(", ")
            )));
        }
    }
    let source = Source {
        file: file.to_path_buf(),
        line: start,
        text: doc.into(),
    };
    let document = match kind {
        "DataProduct" => {
            let mut p: DataProduct = parse(file, start, doc)?;
            namespace_or_default(&mut p.metadata, opts).map_err(doc_error)?;
            name_present(&p.metadata).map_err(doc_error)?;
            Document::Product(Box::new(p))
        }
        "DataProductTemplate" => {
            let t: DataProductTemplate = parse(file, start, doc)?;
            name_present(&t.metadata).map_err(doc_error)?;
            Document::Template(Box::new(t))
        }
        "DataProductAccess" => {
            let mut a: DataProductAccess = parse(file, start, doc)?;
            namespace_or_default(&mut a.metadata, opts).map_err(doc_error)?;
            name_present(&a.metadata).map_err(doc_error)?;
            Document::Access(Box::new(a))
        }
        "" => {
            return Err(doc_error(format!(
                "kind is missing; a {GROUP} document is a DataProduct, DataProductTemplate or DataProductAccess"
            )))
        }
        other => {
            return Err(doc_error(format!(
                "unknown kind {other} in {GROUP}; expected DataProduct, DataProductTemplate or DataProductAccess"
            )))
        }
    };
    Ok(Some(Loaded { source, document }))
}

/// The parser settings for documents people write. serde-saphyr's budget stays on (at most 64
/// levels of nesting, bounded numbers of events, nodes and anchors) and alias replay is capped
/// well above any real document, so a deeply nested document or a billion laughs is an error
/// message, not an exhausted stack or memory. Duplicate keys are refused (the default). As with
/// serde_yaml (YAML 1.2), only true/false are booleans (`yes` stays a string in a template's
/// extraResources) and `.nan` reaches an untyped value rather than failing the document.
/// Messages are one line each, so no source snippets.
pub fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 100_000,
            max_replay_stack_depth: 16,
        },
        strict_booleans: true,
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::PassThrough,
        with_snippet: false,
    }
}

/// YAML as the crate writes it (`dpctl crd`, `dpctl plan`, `dpctl diff`): block style, two-space
/// indentation, strings quoted wherever a YAML 1.1 reader (kubectl's) could take them for
/// something else (`"yes"`, `"1.0"`), multi-line strings as `|` blocks. A long one-line string
/// stays on one line rather than being folded at 80 columns, as serde_yaml and kubectl write it,
/// so CRDs and plans diff and grep line by line.
pub fn to_yaml<T: serde::Serialize>(value: &T) -> Result<String, serde_saphyr::SerializeError> {
    serde_saphyr::to_string_with_options(
        value,
        serde_saphyr::ser_options! {
            folded_wrap_chars: usize::MAX,
        },
    )
}

/// Deserializes one document (`doc` starts on line `start` of `file`); an error names the field
/// path, as serde_yaml's did.
fn parse<T: DeserializeOwned>(file: &Path, start: usize, doc: &str) -> Result<T, LoadError> {
    let mut path = None;
    serde_saphyr::with_deserializer_from_str_with_options(doc, yaml_options(), |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            path = Some(e.path().clone());
            e.into_inner()
        })
    })
    .map_err(|e| parse_error(file, start, doc, path.as_ref(), &e))
}

/// A node as the first look at a document sees it: a string's text, a mapping's apiVersion, kind
/// and keys, or something else. Nothing is deserialized by our types, so someone else's document
/// (a values file, a CloudFormation template with `!Ref`) is never judged by them; a non-string
/// key or value reads as "", as serde_yaml's `as_str` did.
enum Peek {
    Text(String),
    Map {
        api_version: String,
        kind: String,
        keys: Vec<String>,
    },
    Other,
}

impl Peek {
    fn text(self) -> String {
        match self {
            Peek::Text(text) => text,
            _ => String::new(),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Peek {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        use serde::de::{EnumAccess, IgnoredAny, MapAccess, SeqAccess, VariantAccess, Visitor};
        struct V;
        macro_rules! other {
            ($($visit:ident($ty:ty)),*) => {
                $(fn $visit<E>(self, _: $ty) -> Result<Peek, E> {
                    Ok(Peek::Other)
                })*
            };
        }
        impl<'de> Visitor<'de> for V {
            type Value = Peek;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any YAML node")
            }
            fn visit_str<E>(self, v: &str) -> Result<Peek, E> {
                Ok(Peek::Text(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Peek, E> {
                Ok(Peek::Text(v))
            }
            other!(
                visit_bool(bool),
                visit_i64(i64),
                visit_u64(u64),
                visit_i128(i128)
            );
            other!(visit_u128(u128), visit_f64(f64), visit_bytes(&[u8]));
            fn visit_unit<E>(self) -> Result<Peek, E> {
                Ok(Peek::Other)
            }
            fn visit_none<E>(self) -> Result<Peek, E> {
                Ok(Peek::Other)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, de: D) -> Result<Peek, D::Error> {
                de.deserialize_any(V)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Peek, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Peek::Other)
            }
            fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Peek, A::Error> {
                let (IgnoredAny, variant) = data.variant()?;
                variant.newtype_variant::<IgnoredAny>()?;
                Ok(Peek::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Peek, A::Error> {
                let (mut api_version, mut kind, mut keys) =
                    (String::new(), String::new(), Vec::new());
                while let Some(key) = map.next_key::<Peek>()? {
                    let key = key.text();
                    match key.as_str() {
                        "apiVersion" => api_version = map.next_value::<Peek>()?.text(),
                        "kind" => kind = map.next_value::<Peek>()?.text(),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                    keys.push(key);
                }
                Ok(Peek::Map {
                    api_version,
                    kind,
                    keys,
                })
            }
        }
        de.deserialize_any(V)
    }
}

fn name_present(meta: &kube::core::ObjectMeta) -> Result<(), String> {
    match meta.name.as_deref() {
        Some(name) if !name.is_empty() => Ok(()),
        _ => Err("metadata.name is missing".to_string()),
    }
}

fn namespace_or_default(
    meta: &mut kube::core::ObjectMeta,
    opts: &LoadOptions,
) -> Result<(), String> {
    if meta.namespace.as_deref().unwrap_or("").is_empty() {
        match &opts.default_namespace {
            Some(ns) => meta.namespace = Some(ns.clone()),
            None => {
                return Err(
                    "metadata.namespace is missing; set it (the domain's namespace) or pass --namespace"
                        .to_string(),
                )
            }
        }
    }
    Ok(())
}

/// Turns a YAML error into file:line:column, the field path and the message. The location is
/// serde-saphyr's structured one (relative to the document, so shifted by the line the document
/// starts on) and the message is rendered without one, so nothing is parsed out of a Display
/// string.
fn parse_error(
    file: &Path,
    start: usize,
    doc: &str,
    path: Option<&serde_path_to_error::Path>,
    err: &serde_saphyr::Error,
) -> LoadError {
    let (line, column) = err
        .location()
        .filter(|l| l.line() > 0)
        .map(|l| {
            let line = usize::try_from(l.line()).unwrap_or(usize::MAX);
            let column = usize::try_from(l.column()).unwrap_or(usize::MAX);
            (start.saturating_add(line - 1), column.max(1))
        })
        .unwrap_or((start, 1));
    let formatter = Messages { doc };
    let text = err.render_with_options(serde_saphyr::render_options! {
        formatter: &formatter,
        snippets: serde_saphyr::SnippetMode::Off,
        // Other lines a message names (where an alias's anchor is) count from the file's start.
        line_offset: start.saturating_sub(1) as u64,
    });
    let mut text = plain_words(&text);
    if let serde_saphyr::Error::SerdeUnknownField {
        field, expected, ..
    } = original(err)
    {
        if let Some(near) = crate::api::suggest::closest(field, expected.iter().copied(), 3) {
            text = format!("{text} (did you mean `{near}`?)");
        }
    }
    text.push_str(&hint(doc, line.saturating_sub(start) + 1, &text));
    let message = match path.map(|p| field_path(p, err)).filter(|p| !p.is_empty()) {
        Some(path) => format!("{path}: {text}"),
        None => text,
    };
    LoadError::Parse {
        file: file.to_path_buf(),
        line,
        column,
        message,
    }
}

/// serde's Rust type names in plain words: `expected u32` → `expected a whole number from 0`.
fn plain_words(text: &str) -> String {
    const WORDS: [(&str, &str); 12] = [
        ("expected u32", "expected a whole number (0 or more)"),
        ("expected u64", "expected a whole number (0 or more)"),
        ("expected u16", "expected a whole number (0 to 65535)"),
        ("expected u8", "expected a whole number (0 to 255)"),
        ("expected i32", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected f32", "expected a number"),
        ("expected usize", "expected a whole number (0 or more)"),
        ("expected a boolean", "expected true or false"),
        ("expected bool", "expected true or false"),
        ("expected a sequence", "expected a list"),
    ];
    let mut out = text.to_string();
    for (rust, plain) in WORDS {
        if let Some(at) = out.find(rust) {
            let end = at + rust.len();
            // Whole words only (`expected u8` is not the start of `expected u80`).
            if !out[end..].starts_with(|c: char| c.is_ascii_alphanumeric()) {
                out.replace_range(at..end, plain);
            }
        }
    }
    // `expected struct Owner`, `expected enum Visibility`, `expected struct Owner`.
    for kind in ["expected struct ", "expected enum "] {
        if let Some(at) = out.find(kind) {
            let name_end = out[at + kind.len()..]
                .find(|c: char| !c.is_ascii_alphanumeric())
                .map_or(out.len(), |n| at + kind.len() + n);
            let plain = if kind.contains("struct") {
                "expected a mapping of fields"
            } else {
                "expected one of the allowed values"
            };
            out.replace_range(at..name_end, plain);
        }
    }
    out
}

/// A hint for common slips on the line an error points at (1-based within `doc`).
fn hint(doc: &str, line: usize, message: &str) -> String {
    let text = doc.lines().nth(line.saturating_sub(1)).unwrap_or("");
    if text.contains('\t') || (message.contains("tab") && doc.contains('\t')) {
        return "; hint: YAML indentation must use spaces, not tab characters".to_string();
    }
    if text.contains("decimal(") && text.contains('{') && !text.contains("\"decimal(") {
        return "; hint: in a flow mapping `{...}` the comma of decimal(10,2) splits the value: quote it, type: \"decimal(10,2)\"".to_string();
    }
    if let Some(at) = text.find("[]") {
        let word: String = text[..at]
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if !word.is_empty() {
            return format!("; hint: a list of {word} is written array<{word}>");
        }
    }
    if message.contains("repetition")
        || message.contains("budget")
        || message.contains("limit")
        || message.contains("too complex")
    {
        return "; hint: the document nests too deeply or repeats aliases too often for dpctl to read it safely (at most 64 levels of nesting, and aliases may not expand it past 100000 nodes, which is how alias bombs exhaust memory)".to_string();
    }
    String::new()
}

/// The 1-based line, within `doc`, of a field path such as `spec.outputs[0].schema[1].type`,
/// found by a scan of the indentation (block mappings and sequences). Where the path enters a
/// flow collection (`{...}`, `[...]`) the line of that collection is the answer. None when
/// the path is not in the text (a default, a value from the template).
pub fn line_of(doc: &str, path: &str) -> Option<usize> {
    let lines: Vec<&str> = doc.lines().collect();
    // (indentation, text) of a line with content; a `- ` item's own line seen from inside the
    // item starts two columns further.
    let content = |i: usize, item: Option<usize>| {
        let l = lines[i];
        let t = l.trim_start();
        if t.is_empty() || t.starts_with('#') {
            return None;
        }
        let n = l.len() - t.len();
        match (item == Some(i), t.strip_prefix("- ")) {
            (true, Some(rest)) => Some((
                n + 2 + rest.len() - rest.trim_start().len(),
                rest.trim_start(),
            )),
            _ => Some((n, t)),
        }
    };
    let flow = |t: &str| {
        let t = t.strip_prefix("- ").unwrap_or(t).trim_start();
        let value = if t.starts_with('{') || t.starts_with('[') {
            t
        } else {
            t.split_once(": ").map_or("", |(_, v)| v).trim_start()
        };
        value.starts_with('{') || value.starts_with('[')
    };
    let (mut lo, mut hi, mut item) = (0usize, lines.len(), None);
    let mut found: Option<usize> = None;
    for segment in path_segments(path) {
        if let Some(f) = found {
            if flow(lines[f].trim_start()) {
                return Some(f + 1);
            }
        }
        let (indent, _) = (lo..hi).find_map(|i| content(i, item))?;
        let mut hit = None;
        let mut index = 0;
        for i in lo..hi {
            let Some((n, t)) = content(i, item) else {
                continue;
            };
            if n < indent {
                break;
            }
            if n > indent {
                continue;
            }
            match &segment {
                Segment::Key(key) => {
                    let keyed = [key.clone(), format!("\"{key}\"")].iter().any(|k| {
                        t.strip_prefix(k.as_str())
                            .is_some_and(|r| r.starts_with(':'))
                    });
                    if keyed {
                        hit = Some(i);
                        break;
                    }
                }
                Segment::Index(want) => {
                    if t.starts_with("- ") || t == "-" {
                        if index == *want {
                            hit = Some(i);
                            break;
                        }
                        index += 1;
                    }
                }
            }
        }
        // A path not written out (a default) points at the nearest enclosing entry.
        let Some(i) = hit else {
            return found.map(|f| f + 1);
        };
        // The entry's block: the lines after it indented more (and, under a key, a sequence
        // written at the key's own indentation).
        let mut end = i + 1;
        while end < hi {
            match content(end, None) {
                None => end += 1,
                Some((m, t))
                    if m > indent
                        || (matches!(segment, Segment::Key(_))
                            && m == indent
                            && t.starts_with('-')) =>
                {
                    end += 1
                }
                Some(_) => break,
            }
        }
        found = Some(i);
        match segment {
            Segment::Key(_) => (lo, hi, item) = (i + 1, end, None),
            Segment::Index(_) => (lo, hi, item) = (i, end, Some(i)),
        }
    }
    found.map(|f| f + 1)
}

enum Segment {
    Key(String),
    Index(usize),
}

fn path_segments(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            out.push(Segment::Key(key.to_string()));
        }
        for index in rest.split('[') {
            if let Ok(i) = index.trim_end_matches(']').parse() {
                out.push(Segment::Index(i));
            }
        }
    }
    out
}

/// The field an error is about, written as serde_yaml did (`spec.outputs[0].version`): the
/// mapping that holds an unknown field (`spec: unknown field `outputz``), and no `?` for a
/// position serde_path_to_error could not name (a key not read yet, a syntax error).
fn field_path(path: &serde_path_to_error::Path, err: &serde_saphyr::Error) -> String {
    use serde_path_to_error::Segment;
    let mut segments: Vec<&Segment> = path.iter().collect();
    while matches!(segments.last(), Some(Segment::Unknown)) {
        segments.pop();
    }
    if let serde_saphyr::Error::SerdeUnknownField { field, .. } = original(err) {
        if matches!(segments.last(), Some(Segment::Map { key }) if key == field) {
            segments.pop();
        }
    }
    let mut out = String::new();
    for segment in segments {
        if !out.is_empty() && !matches!(segment, Segment::Seq { .. }) {
            out.push('.');
        }
        out.push_str(&segment.to_string());
    }
    out
}

/// The error itself, inside the wrappers that add a snippet or an alias's locations.
fn original(err: &serde_saphyr::Error) -> &serde_saphyr::Error {
    match err.without_snippet() {
        serde_saphyr::Error::AliasError { error, .. } => original(error),
        other => other,
    }
}

/// serde-saphyr's user-facing wording, with serde's `invalid type: X, expected Y` where its own
/// message names only what was expected (`invalid u32`, `expected string scalar`): X comes from
/// the node as written at the error's span, so `version: latest` still reads
/// `invalid type: string "latest", expected u32`. No "at line L, column C": the location is
/// already the message's `file:line:column:` prefix.
struct Messages<'a> {
    doc: &'a str,
}

impl serde_saphyr::MessageFormatter for Messages<'_> {
    fn localizer(&self) -> &dyn serde_saphyr::localizer::Localizer {
        &NoLocation
    }

    fn format_message<'a>(&self, err: &'a serde_saphyr::Error) -> std::borrow::Cow<'a, str> {
        use serde_saphyr::Error;
        let text = match err {
            Error::InvalidScalar { ty, .. } => match self.written(err) {
                // serde's wording: a number out of the type's range is an invalid value, any
                // other scalar (`latest` for a u32) is of the wrong type.
                Some(text) if text.parse::<i128>().is_ok() => {
                    format!("invalid value: integer `{text}`, expected {ty}")
                }
                Some(text) => format!("invalid type: {}, expected {ty}", describe(&text)),
                None => format!("invalid value, expected {ty}"),
            },
            Error::NullIntoString { .. } => "invalid type: null, expected a string".to_string(),
            Error::Unexpected { expected, .. } => {
                let wanted = match *expected {
                    "string scalar" | "scalar" => "a string, number or boolean",
                    "sequence start" => "a sequence",
                    "mapping start" => "a mapping",
                    _ => return serde_saphyr::UserMessageFormatter.format_message(err),
                };
                let found = match self.written(err) {
                    Some(text) => describe(&text),
                    None => self.unwritten(err, expected).to_string(),
                };
                format!("invalid type: {found}, expected {wanted}")
            }
            _ => return serde_saphyr::UserMessageFormatter.format_message(err),
        };
        std::borrow::Cow::Owned(text)
    }
}

/// A node as serde names it in `invalid type: ...` (`string "latest"`, `integer `-1``,
/// `sequence`), from its text as written.
fn describe(text: &str) -> String {
    let quoted = |q: char| text.strip_prefix(q).map(|t| t.strip_suffix(q).unwrap_or(t));
    if text.starts_with('[') {
        "sequence".to_string()
    } else if text.starts_with('{') {
        "mapping".to_string()
    } else if let Some(inner) = quoted('"').or_else(|| quoted('\'')) {
        format!("string {inner:?}")
    } else if ["~", "null", "Null", "NULL"].contains(&text) {
        "null".to_string()
    } else if ["true", "True", "TRUE", "false", "False", "FALSE"].contains(&text) {
        format!("boolean `{text}`")
    } else if text.parse::<i128>().is_ok() {
        format!("integer `{text}`")
    } else if text.bytes().any(|b| b.is_ascii_digit()) && text.parse::<f64>().is_ok() {
        format!("floating point `{text}`")
    } else {
        format!("string {text:?}")
    }
}

impl Messages<'_> {
    /// The source text of the node an error points at (a scalar's text as written, `[` or `{`
    /// for a flow collection; empty for a block collection), shortened to a line's worth.
    fn written(&self, err: &serde_saphyr::Error) -> Option<String> {
        let span = err.location()?.span();
        let offset = usize::try_from(span.byte_offset()?).ok()?;
        let len = usize::try_from(span.byte_len()?).ok()?;
        let text = self.doc.get(offset..offset.checked_add(len)?)?;
        let text = text.lines().next().unwrap_or("");
        if text.is_empty() {
            return None;
        }
        Some(match text.char_indices().nth(60) {
            Some((cut, _)) => format!("{}...", &text[..cut]),
            None => text.to_string(),
        })
    }

    /// An empty span is an empty value (null; the span sits at its key's `:`) or a block
    /// collection (the span sits at its first entry). Such a collection is the other kind than
    /// the one expected; where a scalar was expected, a `- ` before the entry makes it a sequence.
    fn unwritten(&self, err: &serde_saphyr::Error, expected: &str) -> &'static str {
        let Some(offset) = err
            .location()
            .and_then(|l| l.span().byte_offset())
            .and_then(|o| usize::try_from(o).ok())
            .filter(|&o| self.doc.is_char_boundary(o))
        else {
            return "sequence or mapping";
        };
        let (before, after) = self.doc.split_at(offset);
        let line_start = before.rsplit('\n').next().unwrap_or("");
        let rest = after.lines().next().unwrap_or("").trim_start();
        if rest.is_empty() || rest.starts_with(':') || rest.starts_with('#') {
            return "null";
        }
        match expected {
            "mapping start" => "sequence",
            "sequence start" => "mapping",
            _ if line_start.trim_end().ends_with('-') => "sequence",
            _ => "mapping",
        }
    }
}

/// No "at line L, column C" suffixes: the location is already the message's
/// `file:line:column:` prefix.
struct NoLocation;

impl serde_saphyr::localizer::Localizer for NoLocation {
    fn attach_location<'a>(
        &self,
        base: std::borrow::Cow<'a, str>,
        _: serde_saphyr::Location,
    ) -> std::borrow::Cow<'a, str> {
        base
    }

    fn alias_used_at(&self, _: serde_saphyr::Location) -> String {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> (Vec<Loaded>, Vec<LoadError>) {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        load_str(
            Path::new("f.yaml"),
            text,
            &LoadOptions::default(),
            &mut out,
            &mut errors,
        );
        (out, errors)
    }

    #[test]
    fn splits_documents_with_start_lines() {
        let docs = split_documents("a: 1\n---\nb: 2\n--- # c\n# only a comment\n---\nc: 3\n");
        let starts: Vec<usize> = docs.iter().map(|(l, _)| *l).collect();
        assert_eq!(starts, vec![1, 2, 6]);
    }

    #[test]
    fn skips_other_groups_and_reports_unknown_fields_with_file_line() {
        let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n---\napiVersion: dataproducts.io/v1alpha1\nkind: DataProductAccess\nmetadata: {name: a, namespace: m}\nspec:\n  product: x/y\n  consumer: {product: m/p}\n  purpos: typo\n";
        let (out, errors) = load(text);
        assert!(out.is_empty());
        assert_eq!(errors.len(), 1);
        let msg = errors[0].to_string();
        assert!(msg.starts_with("f.yaml:11:"), "{msg}");
        assert!(msg.contains("spec: unknown field `purpos`"), "{msg}");
    }

    #[test]
    fn wrong_types_and_malformed_yaml_are_messages() {
        let (_, errors) = load("apiVersion: dataproducts.io/v1alpha1\nkind: DataProductAccess\nmetadata: {name: a, namespace: m}\nspec:\n  product: [1]\n");
        assert!(errors[0].to_string().contains("spec.product: invalid type"));
        let (_, errors) = load("a: [1,\n");
        assert!(errors[0].to_string().starts_with("f.yaml:"));
        let (_, errors) = load("apiVersion: dataproducts.io/v1alpha1\nkind: Nope\n");
        assert!(errors[0].to_string().contains("unknown kind Nope"));
        let (_, errors) = load("apiVersion: dataproducts.io/v1alpha1\nkind: DataProduct\nmetadata: {name: a}\nspec: {domain: d, template: t}\n");
        assert!(errors[0]
            .to_string()
            .contains("metadata.namespace is missing"));
    }

    const ACCESS: &str = "apiVersion: dataproducts.io/v1alpha1\nkind: DataProductAccess\nmetadata: {name: a, namespace: m}\n";
    const PRODUCT: &str = "apiVersion: dataproducts.io/v1alpha1\nkind: DataProduct\nmetadata: {name: a, namespace: m}\nspec:\n  domain: d\n  template: t\n  outputs:\n  - name: x\n";

    fn messages(text: &str) -> Vec<String> {
        load(text).1.iter().map(|e| e.to_string()).collect()
    }

    /// The location comes from the parser's structured one, shifted to the document's first
    /// line, so a document after others still points at its own line; wording is serde's.
    #[test]
    fn errors_name_file_line_column_and_field_in_later_documents() {
        let other = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n";
        let text = format!("{other}{PRODUCT}    version: latest\n");
        assert_eq!(
            messages(&text),
            ["f.yaml:13:14: spec.outputs[0].version: invalid type: string \"latest\", expected a whole number (0 or more)"]
        );
        let text = format!("{other}{PRODUCT}    version: -1\n");
        assert_eq!(
            messages(&text),
            ["f.yaml:13:14: spec.outputs[0].version: invalid value: integer `-1`, expected a whole number (0 or more)"]
        );
        let text = format!("{other}{ACCESS}spec:\n  product:\n  - x\n");
        assert_eq!(
            messages(&text),
            ["f.yaml:10:5: spec.product: invalid type: sequence, expected a string, number or boolean"]
        );
        let text = format!("{other}{ACCESS}spec: text\n");
        assert_eq!(
            messages(&text),
            ["f.yaml:8:7: spec: invalid type: string \"text\", expected a mapping"]
        );
        let text = format!("{other}{ACCESS}spec:\n  product: x/y\n  consumer: {{product: m/p}}\n  product: again\n");
        assert_eq!(
            messages(&text),
            ["f.yaml:11:3: spec: duplicate mapping key `product` is not allowed here"]
        );
        // A syntax error: the message carries no document-relative "at line" of its own.
        let text = format!("{other}{ACCESS}spec: {{product: x/y\n\n");
        let msgs = messages(&text);
        assert_eq!(msgs.len(), 1);
        assert!(msgs[0].starts_with("f.yaml:"), "{msgs:?}");
        assert!(!msgs[0].contains(" line "), "{msgs:?}");
    }

    /// serde-saphyr 2 reads an empty value or `~` as null and null is not an empty list or
    /// string (serde_yaml read `outputs:` as [] and `purpose: ~` as the text "~"): the message
    /// says which field, and what to write instead is plain from it.
    #[test]
    fn null_where_a_value_is_needed_names_the_field() {
        let text =
            format!("{ACCESS}spec:\n  product: x/y\n  outputs:\n  consumer: {{product: m/p}}\n");
        assert_eq!(
            messages(&text),
            ["f.yaml:6:10: spec.outputs: invalid type: null, expected a list"]
        );
        let text = format!("{ACCESS}spec:\n  product: ~\n");
        assert_eq!(
            messages(&text),
            ["f.yaml:5:12: spec.product: invalid type: null, expected a string"]
        );
    }

    /// Deep nesting and alias bombs stop at the parser's budget with a message, in ours and in
    /// someone else's documents alike.
    #[test]
    fn deep_nesting_and_billion_laughs_are_messages() {
        let deep_flow = format!("{ACCESS}spec: {}{}\n", "[".repeat(500), "]".repeat(500));
        let mut deep_block = format!("{ACCESS}spec:\n");
        for depth in 1..=100 {
            deep_block.push_str(&format!("{}k{depth}:\n", "  ".repeat(depth)));
        }
        deep_block.push_str(&format!("{}x\n", "  ".repeat(101)));
        let mut laughs =
            "apiVersion: v1\nkind: ConfigMap\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n".to_string();
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            laughs.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        for text in [deep_flow, deep_block, laughs] {
            let msgs = messages(&text);
            assert_eq!(msgs.len(), 1, "{msgs:?}");
            assert!(msgs[0].starts_with("f.yaml:"), "{msgs:?}");
            // Said in words a person can act on, not only the parser's counter.
            assert!(msgs[0].contains("nest"), "{msgs:?}");
        }
        let msgs = messages(&format!("{ACCESS}x: &a [1]\ny: [*a, *a]\n"));
        assert!(msgs[0].contains("unknown field `x`"), "{msgs:?}");
    }

    /// Only apiVersion and kind of someone else's document are read: tags, composite keys,
    /// `.nan` and YAML 1.1 spellings are not errors.
    #[test]
    fn other_documents_are_skipped_whatever_they_hold() {
        let text = "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  B:\n    Type: AWS::S3::Bucket\n    Name: !Sub \"${AWS::StackName}-x\"\n  Out: !GetAtt B.Arn\n  n: .nan\n  [1, 2]: composite\n  1: int\n---\napiVersion: v1\nkind: ConfigMap\ndata: {enabled: yes, \"on\": off}\n";
        let (out, errors) = load(text);
        assert!(out.is_empty() && errors.is_empty(), "{errors:?}");
    }

    /// As with serde_yaml, only true/false are booleans where the type does not say (a
    /// template's extraResources), and dates and numbers written as strings stay strings.
    #[test]
    fn untyped_values_read_as_yaml_1_2() {
        let v: serde_json::Value = serde_saphyr::from_str_with_options(
            "a: yes\nb: on\nc: \"1\"\nd: 2027-06-30\ne: true\n",
            yaml_options(),
        )
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"a": "yes", "b": "on", "c": "1", "d": "2027-06-30", "e": true})
        );
    }

    /// What dpctl writes reads back the same, also for a YAML 1.1 reader such as kubectl's:
    /// strings it could take for a date, number or boolean are quoted, multi-line strings are
    /// blocks and a long line stays one line.
    #[test]
    fn yaml_output_reads_back_and_quotes_what_kubectl_could_misread() {
        let long = "word ".repeat(40).trim_end().to_string();
        let value = serde_json::json!({
            "expires": "2027-06-30",
            "enabled": "yes",
            "count": "1",
            "cidr": "::/0",
            "empty": "",
            "script": "set -e\n\tindented\n  more\n",
            "long": long,
            "list": [],
        });
        let text = to_yaml(&value).unwrap();
        assert!(text.contains("expires: \"2027-06-30\"\n"), "{text}");
        assert!(text.contains("enabled: \"yes\"\n"), "{text}");
        assert!(text.contains("count: \"1\"\n"), "{text}");
        assert!(text.contains("script: |\n"), "{text}");
        assert!(text.contains(&format!("long: {long}\n")), "{text}");
        let back: serde_json::Value =
            serde_saphyr::from_str_with_options(&text, yaml_options()).unwrap();
        assert_eq!(back, value);
    }
}

#[cfg(test)]
mod line_of_tests {
    use super::line_of;

    #[test]
    fn finds_block_and_flow_paths() {
        let doc = "metadata:\n  name: a\nspec:\n  domain: d\n  outputs:\n  - name: x\n    layer: raw\n    schema:\n      - {name: a, type: strnig}\n      - name: b\n        type: int\n  pipelines:\n    - name: p\n      timeZone: Europe/Parsi\n";
        assert_eq!(line_of(doc, "spec.domain"), Some(4));
        assert_eq!(line_of(doc, "spec.outputs[0].layer"), Some(7));
        assert_eq!(line_of(doc, "spec.outputs[0].schema[0].type"), Some(9));
        assert_eq!(line_of(doc, "spec.outputs[0].schema[1].type"), Some(11));
        assert_eq!(line_of(doc, "spec.pipelines[0].timeZone"), Some(14));
        assert_eq!(line_of(doc, "metadata.namespace"), Some(1));
        assert_eq!(line_of(doc, "status"), None);
    }
}
