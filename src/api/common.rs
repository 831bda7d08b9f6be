//! Small types shared by several kinds.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Reference `<namespace>/<name>` to a DataProduct, as written in `inputs[].product`,
/// `access.consumers[].product` and DataProductAccess.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProductRef {
    pub namespace: String,
    pub name: String,
}

impl ProductRef {
    /// Parses `<namespace>/<name>`; both parts must be non-empty and there is exactly one slash.
    pub fn parse(s: &str) -> Option<ProductRef> {
        let (namespace, name) = s.split_once('/')?;
        if namespace.is_empty() || name.is_empty() || name.contains('/') {
            return None;
        }
        Some(ProductRef {
            namespace: namespace.to_string(),
            name: name.to_string(),
        })
    }
}

impl std::fmt::Display for ProductRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Who may see a layer's data or ask for a product's data.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Only the owning team.
    Private,
    /// Anyone in the organisation may ask; the producer approves.
    #[default]
    Internal,
    /// Anyone in the organisation may read what is published.
    Public,
}

/// A notice that something will go away. The sunset must respect the template's notice period
/// and never come before the end of the quarter after the announcement.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deprecation {
    /// Day the deprecation was announced to consumers (YYYY-MM-DD).
    #[schemars(regex(pattern = r"^\d{4}-\d{2}-\d{2}$"))]
    pub announced: String,
    /// Day after which the thing may be removed (YYYY-MM-DD).
    #[schemars(regex(pattern = r"^\d{4}-\d{2}-\d{2}$"))]
    pub sunset: String,
    /// What consumers should move to (an output name or `<namespace>/<name>` of a product).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
    /// Why it goes away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
