//! Reading DataProduct, DataProductTemplate and DataProductAccess documents from files and
//! directories, with errors that name the file, line and field (never a debug dump).

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
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        collect_files(path, true, &mut files, &mut errors);
    }
    let mut loaded = Vec::new();
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(text) => load_str(&file, &text, opts, &mut loaded, &mut errors),
            Err(source) => errors.push(LoadError::Io { path: file, source }),
        }
    }
    (loaded, errors)
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
    for (start, doc) in split_documents(text) {
        match load_document(file, start, &doc, opts) {
            Ok(Some(loaded)) => out.push(loaded),
            Ok(None) => {}
            Err(err) => errors.push(err),
        }
    }
}

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
    let value: serde_yaml::Value =
        serde_yaml::from_str(doc).map_err(|e| parse_error(file, start, &e))?;
    let Some(map) = value.as_mapping() else {
        return Err(doc_error(
            "expected a Kubernetes object (a mapping with apiVersion and kind)".to_string(),
        ));
    };
    let api_version = map.get("apiVersion").and_then(|v| v.as_str()).unwrap_or("");
    let kind = map.get("kind").and_then(|v| v.as_str()).unwrap_or("");
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
    for key in map.keys() {
        let key = key.as_str().unwrap_or("");
        if !ROOT_FIELDS.contains(&key) {
            return Err(doc_error(format!(
                "unknown field `{key}`, expected one of {}",
                ROOT_FIELDS.join(", ")
            )));
        }
    }
    let source = Source {
        file: file.to_path_buf(),
        line: start,
    };
    let document = match kind {
        "DataProduct" => {
            let mut p: DataProduct = typed(file, start, doc)?;
            namespace_or_default(&mut p.metadata, opts).map_err(doc_error)?;
            name_present(&p.metadata).map_err(doc_error)?;
            Document::Product(Box::new(p))
        }
        "DataProductTemplate" => {
            let t: DataProductTemplate = typed(file, start, doc)?;
            name_present(&t.metadata).map_err(doc_error)?;
            Document::Template(Box::new(t))
        }
        "DataProductAccess" => {
            let mut a: DataProductAccess = typed(file, start, doc)?;
            namespace_or_default(&mut a.metadata, opts).map_err(doc_error)?;
            name_present(&a.metadata).map_err(doc_error)?;
            Document::Access(Box::new(a))
        }
        other => {
            return Err(doc_error(format!(
                "unknown kind {other} in {GROUP}; expected DataProduct, DataProductTemplate or DataProductAccess"
            )))
        }
    };
    Ok(Some(Loaded { source, document }))
}

fn typed<T: DeserializeOwned>(file: &Path, start: usize, doc: &str) -> Result<T, LoadError> {
    serde_yaml::from_str(doc).map_err(|e| parse_error(file, start, &e))
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

/// Turns a YAML error into file:line:column plus serde_yaml's message, which already names the
/// field path (`spec.outputs[0].version: invalid type ...`). The trailing location is removed
/// because it is relative to the document, not the file.
fn parse_error(file: &Path, start: usize, err: &serde_yaml::Error) -> LoadError {
    let text = err.to_string();
    let message = match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    };
    let (line, column) = err
        .location()
        .map(|l| (start + l.line() - 1, l.column()))
        .unwrap_or((start, 1));
    LoadError::Parse {
        file: file.to_path_buf(),
        line,
        column,
        message,
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
}
