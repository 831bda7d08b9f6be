//! Content hashing: a short, stable digest of what would be sent, so an unchanged desired state
//! is recognised without comparing whole documents.

use sha2::{Digest, Sha256};

/// Hash of a JSON document (128 bits, hex): changes whenever what we would send changes.
pub fn hash(value: &serde_json::Value) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_documents_hash_equal_and_changes_show() {
        let a = serde_json::json!({"a": 1});
        assert_eq!(hash(&a), hash(&a.clone()));
        assert_ne!(hash(&a), hash(&serde_json::json!({"a": 2})));
        assert_eq!(hash(&a).len(), 32);
    }
}
