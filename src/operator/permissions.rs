//! Every Kubernetes API call the operator makes, as RBAC rules. The Helm chart's ClusterRole is
//! checked against this list in CI, so the chart can never lag behind the code.

/// One RBAC rule: API group, resource (with subresource), verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    pub group: &'static str,
    pub resource: &'static str,
    pub verbs: &'static [&'static str],
}

const WATCH: &[&str] = &["get", "list", "watch"];
/// Server-side apply needs `patch`, and `create` when the object does not exist yet.
const MANAGE: &[&str] = &["get", "list", "watch", "create", "patch", "delete"];

/// Cluster-wide permissions (the chart's ClusterRole).
pub const CLUSTER: &[Permission] = &[
    Permission {
        group: "dataproducts.io",
        resource: "dataproducts",
        verbs: &["get", "list", "watch", "patch"],
    },
    Permission {
        group: "dataproducts.io",
        resource: "dataproducts/status",
        verbs: &["get", "patch"],
    },
    Permission {
        group: "dataproducts.io",
        resource: "dataproducts/finalizers",
        verbs: &["update"],
    },
    Permission {
        group: "dataproducts.io",
        resource: "dataproducttemplates",
        verbs: WATCH,
    },
    Permission {
        group: "dataproducts.io",
        resource: "dataproductaccesses",
        verbs: WATCH,
    },
    Permission {
        group: "dataproducts.io",
        resource: "dataproductaccesses/status",
        verbs: &["get", "patch"],
    },
    Permission {
        group: "",
        resource: "namespaces",
        verbs: MANAGE,
    },
    Permission {
        group: "",
        resource: "serviceaccounts",
        verbs: MANAGE,
    },
    Permission {
        group: "",
        resource: "configmaps",
        verbs: MANAGE,
    },
    Permission {
        group: "",
        resource: "resourcequotas",
        verbs: MANAGE,
    },
    Permission {
        group: "",
        resource: "limitranges",
        verbs: MANAGE,
    },
    Permission {
        group: "networking.k8s.io",
        resource: "networkpolicies",
        verbs: MANAGE,
    },
    Permission {
        group: "rbac.authorization.k8s.io",
        resource: "roles",
        verbs: MANAGE,
    },
    Permission {
        group: "rbac.authorization.k8s.io",
        resource: "rolebindings",
        verbs: MANAGE,
    },
    // Binding the template's owner ClusterRole (for example `edit`) to the owner groups needs
    // `bind`; without it the API server refuses RoleBindings to roles the operator does not hold.
    Permission {
        group: "rbac.authorization.k8s.io",
        resource: "clusterroles",
        verbs: &["bind"],
    },
    Permission {
        group: "batch",
        resource: "cronjobs",
        verbs: MANAGE,
    },
    // The pipelines' runs, read for OpenLineage events (operator/lineage.rs).
    Permission {
        group: "batch",
        resource: "jobs",
        verbs: WATCH,
    },
    Permission {
        group: "events.k8s.io",
        resource: "events",
        verbs: &["create", "patch"],
    },
];

/// Permissions in the operator's own namespace (the chart's leader-election Role).
pub const LEADER_ELECTION: &[Permission] = &[Permission {
    group: "coordination.k8s.io",
    resource: "leases",
    verbs: &["get", "create", "update"],
}];
