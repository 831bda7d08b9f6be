//! The Kubernetes kinds a product's plan may hold, in one table. The watches, apply, prune and
//! the tests all read it, so adding a kind is one edit here.

use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::core::ApiResource;

/// Calls `$m!` with every namespaced child kind's type: for code that needs the static type
/// (a typed metadata watch per kind).
#[macro_export]
macro_rules! for_each_child_kind {
    ($m:ident) => {
        $m!(
            k8s_openapi::api::core::v1::ServiceAccount,
            k8s_openapi::api::core::v1::ConfigMap,
            k8s_openapi::api::core::v1::ResourceQuota,
            k8s_openapi::api::core::v1::LimitRange,
            k8s_openapi::api::networking::v1::NetworkPolicy,
            k8s_openapi::api::rbac::v1::Role,
            k8s_openapi::api::rbac::v1::RoleBinding,
            k8s_openapi::api::batch::v1::CronJob
        )
    };
}
pub use for_each_child_kind;

/// A kind the operator applies, with whether it lives in a namespace.
#[derive(Debug, Clone)]
pub struct Kind {
    pub resource: ApiResource,
    pub namespaced: bool,
}

fn kind<K: k8s_openapi::Resource + kube::Resource<DynamicType = ()>>(namespaced: bool) -> Kind {
    Kind {
        resource: ApiResource::erase::<K>(&()),
        namespaced,
    }
}

/// The namespace and every namespaced child kind (the same list as [`for_each_child_kind`]).
pub fn all() -> &'static [Kind] {
    static KINDS: std::sync::OnceLock<Vec<Kind>> = std::sync::OnceLock::new();
    KINDS.get_or_init(|| {
        vec![
            kind::<Namespace>(false),
            kind::<ServiceAccount>(true),
            kind::<ConfigMap>(true),
            kind::<ResourceQuota>(true),
            kind::<LimitRange>(true),
            kind::<NetworkPolicy>(true),
            kind::<Role>(true),
            kind::<RoleBinding>(true),
            kind::<CronJob>(true),
        ]
    })
}

/// The built-in kind of this name, when it is one of ours.
pub fn by_kind(kind: &str) -> Option<&'static Kind> {
    all().iter().find(|k| k.resource.kind == kind)
}

/// The namespaced child kinds' names.
pub fn child_kind_names() -> Vec<&'static str> {
    all()
        .iter()
        .filter(|k| k.namespaced)
        .map(|k| k.resource.kind.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! names {
        ($($k:ty),*) => { vec![$(<$k as k8s_openapi::Resource>::KIND),*] };
    }

    #[test]
    fn the_macro_and_the_table_list_the_same_kinds() {
        let from_macro: Vec<&str> = for_each_child_kind!(names);
        assert_eq!(from_macro, child_kind_names());
        assert_eq!(by_kind("CronJob").unwrap().resource.api_version, "batch/v1");
        assert!(!by_kind("Namespace").unwrap().namespaced);
    }
}
