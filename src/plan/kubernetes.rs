//! The Kubernetes objects a product needs, built from typed k8s-openapi structs so the apply step
//! cannot forget a field or a kind.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, Container, EmptyDirVolumeSource, EnvVar, LimitRange, LimitRangeItem,
    LimitRangeSpec, Namespace, PodSecurityContext, PodSpec, PodTemplateSpec, ResourceQuota,
    ResourceQuotaSpec, SeccompProfile, SecurityContext, ServiceAccount, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::core::ObjectMeta;
use serde::Serialize;

use crate::api::InventoryEntry;
use crate::api::{labels, DataProduct, DataProductTemplate, NetworkPolicyMode};
use crate::model::Names;

/// Name of the ConfigMap holding the product's public descriptor.
pub const DESCRIPTOR_CONFIGMAP: &str = "dataproduct-descriptor";
/// Key of the descriptor in that ConfigMap.
pub const DESCRIPTOR_KEY: &str = "descriptor.json";

/// One desired Kubernetes object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum KubeObject {
    Namespace(Namespace),
    ServiceAccount(ServiceAccount),
    ResourceQuota(ResourceQuota),
    LimitRange(LimitRange),
    NetworkPolicy(NetworkPolicy),
    Role(Role),
    RoleBinding(RoleBinding),
    ConfigMap(ConfigMap),
    CronJob(Box<CronJob>),
    /// A template extra resource, placeholders filled.
    Extra(serde_json::Value),
}

impl KubeObject {
    /// `apiVersion`, `kind`, namespace (if any) and name, for messages and inventories.
    pub fn key(&self) -> InventoryEntry {
        let (api_version, kind, meta): (String, String, Option<&ObjectMeta>) = match self {
            KubeObject::Namespace(o) => ("v1".into(), "Namespace".into(), Some(&o.metadata)),
            KubeObject::ServiceAccount(o) => {
                ("v1".into(), "ServiceAccount".into(), Some(&o.metadata))
            }
            KubeObject::ResourceQuota(o) => {
                ("v1".into(), "ResourceQuota".into(), Some(&o.metadata))
            }
            KubeObject::LimitRange(o) => ("v1".into(), "LimitRange".into(), Some(&o.metadata)),
            KubeObject::NetworkPolicy(o) => (
                "networking.k8s.io/v1".into(),
                "NetworkPolicy".into(),
                Some(&o.metadata),
            ),
            KubeObject::Role(o) => (
                "rbac.authorization.k8s.io/v1".into(),
                "Role".into(),
                Some(&o.metadata),
            ),
            KubeObject::RoleBinding(o) => (
                "rbac.authorization.k8s.io/v1".into(),
                "RoleBinding".into(),
                Some(&o.metadata),
            ),
            KubeObject::ConfigMap(o) => ("v1".into(), "ConfigMap".into(), Some(&o.metadata)),
            KubeObject::CronJob(o) => ("batch/v1".into(), "CronJob".into(), Some(&o.metadata)),
            KubeObject::Extra(v) => {
                let s = |p: &str| {
                    v.pointer(p)
                        .and_then(|x| x.as_str())
                        .unwrap_or("")
                        .to_string()
                };
                return InventoryEntry {
                    api_version: s("/apiVersion"),
                    kind: s("/kind"),
                    namespace: v
                        .pointer("/metadata/namespace")
                        .and_then(|x| x.as_str())
                        .map(str::to_string),
                    name: s("/metadata/name"),
                };
            }
        };
        let meta = meta.expect("typed objects have metadata");
        InventoryEntry {
            api_version,
            kind,
            namespace: meta.namespace.clone(),
            name: meta.name.clone().unwrap_or_default(),
        }
    }

    /// The object as JSON (what server-side apply sends).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// Ownership labels every child carries; the operator finds, prunes and protects by them.
pub fn ownership_labels(
    names: &Names,
    template: &str,
    component: &str,
) -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::MANAGED_BY.to_string(), labels::MANAGER.to_string()),
        (labels::PRODUCT.to_string(), names.product.clone()),
        (
            labels::PRODUCT_NAMESPACE.to_string(),
            names.product_namespace.clone(),
        ),
        (labels::DOMAIN.to_string(), names.domain.clone()),
        (labels::TEMPLATE.to_string(), template.to_string()),
        (labels::COMPONENT.to_string(), component.to_string()),
    ])
}

fn meta(names: &Names, template: &str, name: &str, component: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(names.namespace.clone()),
        labels: Some(ownership_labels(names, template, component)),
        ..ObjectMeta::default()
    }
}

/// Builds every Kubernetes object, in apply order (namespace first).
pub fn build(
    product: &DataProduct,
    template: &DataProductTemplate,
    names: &Names,
    env: &[EnvVar],
    descriptor: &str,
) -> Result<Vec<KubeObject>, String> {
    let t = &template.spec;
    let tname = template.metadata.name.as_deref().unwrap_or_default();
    let vars = names.vars(&t.organization, &product.spec.owner.team);
    let mut objects = Vec::new();

    // Namespace: ownership labels, Pod Security admission, the domain binding, template extras.
    // Template labels first, so they can never replace the ownership or Pod Security labels.
    let mut ns_labels = BTreeMap::new();
    for (k, v) in &t.namespace.labels {
        ns_labels.insert(
            k.clone(),
            vars.expand(v)
                .map_err(|e| format!("spec.namespace.labels.{k}: {e}"))?,
        );
    }
    ns_labels.extend(ownership_labels(names, tname, "namespace"));
    let level = t.namespace.pod_security.as_str();
    for mode in ["enforce", "audit", "warn"] {
        ns_labels.insert(
            format!("pod-security.kubernetes.io/{mode}"),
            level.to_string(),
        );
        ns_labels.insert(
            format!("pod-security.kubernetes.io/{mode}-version"),
            "latest".to_string(),
        );
    }
    let mut ns_annotations = BTreeMap::from([
        (
            "dataproducts.io/owner-team".to_string(),
            product.spec.owner.team.clone(),
        ),
        (
            "dataproducts.io/owner-email".to_string(),
            product.spec.owner.email.clone(),
        ),
    ]);
    for (k, v) in &t.namespace.annotations {
        ns_annotations.insert(
            k.clone(),
            vars.expand(v)
                .map_err(|e| format!("spec.namespace.annotations.{k}: {e}"))?,
        );
    }
    objects.push(KubeObject::Namespace(Namespace {
        metadata: ObjectMeta {
            name: Some(names.namespace.clone()),
            labels: Some(ns_labels),
            annotations: Some(ns_annotations),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }));

    // The pipelines' identity: IRSA reads the role from this annotation.
    let mut sa_meta = meta(names, tname, &names.service_account, "pipelines");
    sa_meta.annotations = Some(BTreeMap::from([(
        "eks.amazonaws.com/role-arn".to_string(),
        names.role_arn.clone(),
    )]));
    objects.push(KubeObject::ServiceAccount(ServiceAccount {
        metadata: sa_meta,
        ..ServiceAccount::default()
    }));

    if let Some(quota) = &t.quota {
        objects.push(KubeObject::ResourceQuota(ResourceQuota {
            metadata: meta(names, tname, "dataproduct-quota", "quota"),
            spec: Some(ResourceQuotaSpec {
                hard: Some(quota.hard.clone()),
                ..ResourceQuotaSpec::default()
            }),
            ..ResourceQuota::default()
        }));
    }

    // Containers that do not say get these, so the quota can be enforced without rejecting them.
    objects.push(KubeObject::LimitRange(LimitRange {
        metadata: meta(names, tname, "dataproduct-defaults", "quota"),
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".to_string(),
                default: Some(t.limits.default.clone()),
                default_request: Some(t.limits.default_request.clone()),
                ..LimitRangeItem::default()
            }],
        }),
    }));

    if t.network_policy == NetworkPolicyMode::DefaultDeny {
        objects.extend(
            network_policies(names, tname, t.aws.oidc_provider.is_none())
                .into_iter()
                .map(KubeObject::NetworkPolicy),
        );
    }

    // Pipelines may read their own descriptor; nothing else in the API.
    objects.push(KubeObject::Role(Role {
        metadata: meta(names, tname, "dataproduct-pipelines", "rbac"),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["configmaps".to_string()]),
            resource_names: Some(vec![DESCRIPTOR_CONFIGMAP.to_string()]),
            verbs: vec!["get".to_string()],
            ..PolicyRule::default()
        }]),
    }));
    objects.push(KubeObject::RoleBinding(RoleBinding {
        metadata: meta(names, tname, "dataproduct-pipelines", "rbac"),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_string(),
            kind: "Role".to_string(),
            name: "dataproduct-pipelines".to_string(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_string(),
            name: names.service_account.clone(),
            namespace: Some(names.namespace.clone()),
            ..Subject::default()
        }]),
    }));
    if !product.spec.owner.groups.is_empty() {
        objects.push(KubeObject::RoleBinding(RoleBinding {
            metadata: meta(names, tname, "dataproduct-owners", "rbac"),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".to_string(),
                kind: "ClusterRole".to_string(),
                name: t.access.owner_cluster_role.clone(),
            },
            subjects: Some(
                product
                    .spec
                    .owner
                    .groups
                    .iter()
                    .map(|g| Subject {
                        kind: "Group".to_string(),
                        api_group: Some("rbac.authorization.k8s.io".to_string()),
                        name: g.clone(),
                        ..Subject::default()
                    })
                    .collect(),
            ),
        }));
    }

    objects.push(KubeObject::ConfigMap(ConfigMap {
        metadata: meta(names, tname, DESCRIPTOR_CONFIGMAP, "descriptor"),
        data: Some(BTreeMap::from([(
            DESCRIPTOR_KEY.to_string(),
            descriptor.to_string(),
        )])),
        ..ConfigMap::default()
    }));

    for pipeline in &product.spec.pipelines {
        objects.push(KubeObject::CronJob(Box::new(cron_job(
            product, template, names, pipeline, env,
        ))));
    }

    for (i, extra) in t.extra_resources.iter().enumerate() {
        objects.push(KubeObject::Extra(
            extra_resource(extra, names, tname, &vars)
                .map_err(|e| format!("spec.extraResources[{i}]: {e}"))?,
        ));
    }
    Ok(objects)
}

fn network_policies(names: &Names, template: &str, pod_identity: bool) -> Vec<NetworkPolicy> {
    let all_pods = LabelSelector::default();
    let deny = NetworkPolicy {
        metadata: meta(names, template, "default-deny", "network"),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(all_pods.clone()),
            policy_types: Some(vec!["Ingress".to_string(), "Egress".to_string()]),
            ..NetworkPolicySpec::default()
        }),
    };
    let port = |protocol: &str, port: i32| NetworkPolicyPort {
        protocol: Some(protocol.to_string()),
        port: Some(IntOrString::Int(port)),
        ..NetworkPolicyPort::default()
    };
    // DNS goes to the cluster's resolver in kube-system; selecting it by the well-known labels
    // keeps the rule from opening port 53 to the whole internet.
    let dns = NetworkPolicy {
        metadata: meta(names, template, "allow-dns", "network"),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(all_pods.clone()),
            policy_types: Some(vec!["Egress".to_string()]),
            egress: Some(vec![NetworkPolicyEgressRule {
                to: Some(vec![NetworkPolicyPeer {
                    namespace_selector: Some(LabelSelector {
                        match_labels: Some(BTreeMap::from([(
                            "kubernetes.io/metadata.name".to_string(),
                            "kube-system".to_string(),
                        )])),
                        ..LabelSelector::default()
                    }),
                    pod_selector: Some(LabelSelector {
                        match_labels: Some(BTreeMap::from([(
                            "k8s-app".to_string(),
                            "kube-dns".to_string(),
                        )])),
                        ..LabelSelector::default()
                    }),
                    ..NetworkPolicyPeer::default()
                }]),
                ports: Some(vec![port("UDP", 53), port("TCP", 53)]),
            }]),
            ..NetworkPolicySpec::default()
        }),
    };
    // S3, Glue, STS and the image registry are HTTPS endpoints outside the cluster.
    let https = NetworkPolicy {
        metadata: meta(names, template, "allow-https-egress", "network"),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(all_pods),
            policy_types: Some(vec!["Egress".to_string()]),
            egress: Some(vec![NetworkPolicyEgressRule {
                to: Some(vec![
                    NetworkPolicyPeer {
                        ip_block: Some(IPBlock {
                            cidr: "0.0.0.0/0".to_string(),
                            except: None,
                        }),
                        ..NetworkPolicyPeer::default()
                    },
                    NetworkPolicyPeer {
                        ip_block: Some(IPBlock {
                            cidr: "::/0".to_string(),
                            except: None,
                        }),
                        ..NetworkPolicyPeer::default()
                    },
                ]),
                ports: Some(vec![port("TCP", 443)]),
            }]),
            ..NetworkPolicySpec::default()
        }),
    };
    let mut policies = vec![deny, dns, https];
    if pod_identity {
        // EKS Pod Identity hands out credentials from a node-local agent on a link-local address
        // over plain HTTP; without this the pipelines could not get AWS credentials.
        policies.push(NetworkPolicy {
            metadata: meta(names, template, "allow-pod-identity-agent", "network"),
            spec: Some(NetworkPolicySpec {
                pod_selector: Some(LabelSelector::default()),
                policy_types: Some(vec!["Egress".to_string()]),
                egress: Some(vec![NetworkPolicyEgressRule {
                    to: Some(vec![
                        NetworkPolicyPeer {
                            ip_block: Some(IPBlock {
                                cidr: "169.254.170.23/32".to_string(),
                                except: None,
                            }),
                            ..NetworkPolicyPeer::default()
                        },
                        NetworkPolicyPeer {
                            ip_block: Some(IPBlock {
                                cidr: "fd00:ec2::23/128".to_string(),
                                except: None,
                            }),
                            ..NetworkPolicyPeer::default()
                        },
                    ]),
                    ports: Some(vec![port("TCP", 80)]),
                }]),
                ..NetworkPolicySpec::default()
            }),
        });
    }
    policies
}

/// The CronJob of a pipeline; its Jobs carry it as the `dataproducts.io/pipeline` label.
pub fn cron_job_name(names: &Names, pipeline: &str) -> String {
    crate::model::names::derive(
        crate::model::names::NameKind::CronJob,
        pipeline,
        &format!("{}/{pipeline}", names.id),
    )
}

fn cron_job(
    product: &DataProduct,
    template: &DataProductTemplate,
    names: &Names,
    pipeline: &crate::api::Pipeline,
    env: &[EnvVar],
) -> CronJob {
    let t = &template.spec;
    let tname = template.metadata.name.as_deref().unwrap_or_default();
    let defaults = &t.pipelines.defaults;
    let cron_name = cron_job_name(names, &pipeline.name);
    let mut labels = ownership_labels(names, tname, "pipeline");
    labels.insert(crate::api::labels::PIPELINE.to_string(), cron_name.clone());
    let mut pipeline_env = env.to_vec();
    pipeline_env.push(EnvVar {
        name: "DP_PIPELINE".to_string(),
        value: Some(pipeline.name.clone()),
        ..EnvVar::default()
    });
    pipeline_env.push(EnvVar {
        name: "DP_READS".to_string(),
        value: Some(pipeline.reads.join(",")),
        ..EnvVar::default()
    });
    pipeline_env.push(EnvVar {
        name: "DP_WRITES".to_string(),
        value: Some(pipeline.writes.join(",")),
        ..EnvVar::default()
    });
    for e in &pipeline.env {
        pipeline_env.push(EnvVar {
            name: e.name.clone(),
            value: Some(e.value.clone()),
            ..EnvVar::default()
        });
    }
    let container = Container {
        name: "pipeline".to_string(),
        image: Some(pipeline.image.clone()),
        command: (!pipeline.command.is_empty()).then(|| pipeline.command.clone()),
        args: (!pipeline.args.is_empty()).then(|| pipeline.args.clone()),
        env: Some(pipeline_env),
        resources: pipeline
            .resources
            .clone()
            .or_else(|| defaults.resources.clone()),
        // Restricted Pod Security: no privilege, no capabilities, read-only root with a scratch
        // /tmp, which is where Spark and most data tools spill.
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_string()]),
                ..Capabilities::default()
            }),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_string(),
                ..SeccompProfile::default()
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "tmp".to_string(),
            mount_path: "/tmp".to_string(),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    };
    let pod = PodSpec {
        service_account_name: Some(names.service_account.clone()),
        restart_policy: Some("Never".to_string()),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_string(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        }),
        containers: vec![container],
        volumes: Some(vec![Volume {
            name: "tmp".to_string(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        }]),
        ..PodSpec::default()
    };
    CronJob {
        metadata: ObjectMeta {
            labels: Some(labels.clone()),
            // Whom to call when a run fails, readable from `kubectl get cronjob -o yaml`.
            annotations: Some(BTreeMap::from([(
                "dataproducts.io/owner-email".to_string(),
                product.spec.owner.email.clone(),
            )])),
            ..meta(names, tname, &cron_name, "pipeline")
        },
        spec: Some(CronJobSpec {
            schedule: pipeline.schedule.clone(),
            time_zone: pipeline.time_zone.clone(),
            // Always set, so resuming is a change the apply sees (a field left out would
            // still look in sync with a suspended live CronJob).
            suspend: Some(pipeline.suspend),
            // A pipeline held by its inputs (or paused) starts at most one missed run, the most
            // recent, when it resumes; older ones are not replayed.
            starting_deadline_seconds: crate::governance::schedule::longest_gap_seconds(
                &pipeline.schedule,
            ),
            concurrency_policy: Some(defaults.concurrency_policy.as_str().to_string()),
            successful_jobs_history_limit: Some(defaults.successful_jobs_history_limit),
            failed_jobs_history_limit: Some(defaults.failed_jobs_history_limit),
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels.clone()),
                    ..ObjectMeta::default()
                }),
                spec: Some(JobSpec {
                    backoff_limit: Some(defaults.backoff_limit),
                    active_deadline_seconds: defaults.active_deadline_seconds,
                    ttl_seconds_after_finished: Some(defaults.ttl_seconds_after_finished),
                    template: PodTemplateSpec {
                        metadata: Some(ObjectMeta {
                            labels: Some(labels),
                            ..ObjectMeta::default()
                        }),
                        spec: Some(pod),
                    },
                    ..JobSpec::default()
                }),
            },
        }),
        ..CronJob::default()
    }
}

/// Fills placeholders in every string of an extra resource, puts it in the product namespace
/// and marks it as ours.
fn extra_resource(
    raw: &serde_json::Value,
    names: &Names,
    template: &str,
    vars: &crate::model::placeholders::Vars,
) -> Result<serde_json::Value, String> {
    fn fill(
        v: &mut serde_json::Value,
        vars: &crate::model::placeholders::Vars,
    ) -> Result<(), String> {
        match v {
            serde_json::Value::String(s) => *s = vars.expand(s)?,
            serde_json::Value::Array(items) => {
                for item in items {
                    fill(item, vars)?;
                }
            }
            serde_json::Value::Object(map) => {
                for item in map.values_mut() {
                    fill(item, vars)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
    let mut value = raw.clone();
    fill(&mut value, vars)?;
    let obj = value
        .as_object_mut()
        .ok_or("an extra resource must be an object")?;
    let metadata = obj
        .entry("metadata")
        .or_insert_with(|| serde_json::json!({}))
        .as_object_mut()
        .ok_or("metadata must be an object")?;
    metadata.insert(
        "namespace".to_string(),
        serde_json::Value::String(names.namespace.clone()),
    );
    let labels = metadata
        .entry("labels")
        .or_insert_with(|| serde_json::json!({}))
        .as_object_mut()
        .ok_or("metadata.labels must be an object")?;
    for (k, v) in ownership_labels(names, template, "extra") {
        labels.insert(k, serde_json::Value::String(v));
    }
    Ok(value)
}
