//! The catalogue's index: one entry per product, built from a [`World`] and the one evaluation
//! of each product. Pure: the same world and day give the same index.
//!
//! Everything a request would otherwise recompute per product is computed here, once per build:
//! the lowercase search text, the tags, the serialized summary, the filter facets and the
//! lineage adjacency. Requests then filter and copy, so a list of 1,000 products costs string
//! comparisons and one concatenation, not 1,000 serialisations.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde::Serialize;

use super::lineage::{Edge, Graph, Lineage, Node};
use crate::api::{Column, DataProduct, Deprecation, ProductRef, QueryExample, Visibility};
use crate::evaluate::{evaluate_all, expired, Facts};
use crate::model::World;
use crate::plan::{AwsResource, Plan};

/// URN of a product, or of one of its outputs.
pub fn urn(namespace: &str, name: &str, output: Option<&str>) -> String {
    match output {
        Some(o) => format!("urn:dataproduct:{namespace}:{name}:{o}"),
        None => format!("urn:dataproduct:{namespace}:{name}"),
    }
}

/// Everything the catalogue knows, by product.
#[derive(Debug, Clone, Default)]
pub struct Index {
    /// The day the index was evaluated on.
    pub today: String,
    /// Whether the documents came from a cluster (live status) or from files.
    pub live: bool,
    pub products: BTreeMap<ProductRef, ProductEntry>,
    /// The lineage of the whole mesh, with the adjacency one product's neighbourhood is walked on.
    pub lineage: Lineage,
    /// The values the list can be filtered by.
    pub facets: Facets,
    /// Every distinct word of every product's searchable text.
    vocabulary: Vocabulary,
}

/// The distinct words (whitespace-free runs) of the lowercase searchable text of all products.
/// A search word has no whitespace, so it occurs in a product's text exactly when it occurs in
/// one of the text's words: a search scans the vocabulary once per search word, and then
/// checks each product's word list against the words that matched, instead of scanning the
/// text of every product (which the copies of a mesh mostly share).
#[derive(Debug, Clone, Default)]
struct Vocabulary {
    words: Vec<String>,
    position: std::collections::HashMap<String, u32>,
}

impl Vocabulary {
    /// The positions of the words of `text`, sorted and distinct.
    fn add(&mut self, text: &str) -> Vec<u32> {
        let mut ids: Vec<u32> = text
            .split_whitespace()
            .map(|w| match self.position.get(w) {
                Some(&id) => id,
                None => {
                    let id = self.words.len() as u32;
                    self.words.push(w.to_string());
                    self.position.insert(w.to_string(), id);
                    id
                }
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Per search word, which vocabulary words contain it.
    fn containing(&self, search: &[String]) -> Vec<Vec<bool>> {
        search
            .iter()
            .map(|s| self.words.iter().map(|w| w.contains(s.as_str())).collect())
            .collect()
    }
}

/// The owner of a product.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OwnerEntry {
    pub team: String,
    pub email: String,
    pub groups: Vec<String>,
}

/// One product, as the catalogue shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductEntry {
    pub namespace: String,
    pub name: String,
    pub urn: String,
    pub domain: String,
    pub class: String,
    pub template: String,
    pub owner: OwnerEntry,
    pub description: String,
    pub labels: BTreeMap<String, String>,
    /// The stage of the template (`dev`, `prod`, ...): from status when the operator reported
    /// it, from the template otherwise; `None` when the template sets none.
    pub stage: Option<String>,
    /// From status; `None` when unknown (file mode).
    pub phase: Option<String>,
    /// From status when it has it; `Unknown` otherwise.
    pub freshness: String,
    /// The promised freshness (`slo.freshness`).
    pub freshness_slo: Option<String>,
    pub visibility: String,
    /// The Glue database the operator provisions, when the product could be planned.
    pub database: Option<String>,
    /// The namespace the operator provisions, when the product could be planned.
    pub provisioned_namespace: Option<String>,
    pub outputs: Vec<OutputEntry>,
    pub inputs: Vec<InputEntry>,
    pub consumers: Vec<ConsumerEntry>,
    pub access_requests: Vec<AccessRequestEntry>,
    pub deprecation: Option<Deprecation>,
    pub conditions: Vec<Condition>,
    /// Why the operator would refuse the product; empty when it can be planned.
    pub violations: Vec<String>,
    /// Stable reason of the refusal, when refused.
    pub refusal: Option<String>,
    /// Computed once from the fields above; never served.
    #[serde(skip)]
    derived: Derived,
}

/// What searching and listing need of an entry, computed when the entry is made.
#[derive(Debug, Clone, Default)]
struct Derived {
    /// The distinct whitespace-separated words of the lowercase names, descriptions and
    /// columns, as positions in the index's [`Vocabulary`], sorted.
    words: Vec<u32>,
    tags: Vec<String>,
    /// The summary as pretty JSON, indented as an element of the list's `items`.
    summary_json: String,
}

/// One output port.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputEntry {
    pub name: String,
    pub urn: String,
    pub layer: String,
    /// Whether the layer is public (grantable outside the domain).
    pub public: bool,
    pub description: String,
    pub granularity: Option<String>,
    pub format: String,
    pub version: u32,
    pub schema: Vec<Column>,
    pub partition_keys: Vec<Column>,
    pub examples: Vec<QueryExample>,
    pub deprecation: Option<Deprecation>,
    /// Where to query it, when the product could be planned.
    pub sql: Option<SqlEndpoint>,
    /// As the operator last observed it (`status.outputs[]`): `Fresh`, `Stale` or `Unknown`.
    pub freshness: String,
    /// When it was last updated (RFC 3339), and which signal said so.
    pub last_updated: Option<String>,
    pub freshness_source: Option<String>,
}

/// Where an output is queried: exactly the database and table the operator provisions.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SqlEndpoint {
    pub engine: String,
    pub region: String,
    pub database: String,
    pub table: String,
    /// `database.table`.
    pub qualified_name: String,
    pub example: String,
}

/// One input port.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InputEntry {
    /// `product` or `external`.
    pub kind: String,
    pub product: Option<String>,
    pub output: Option<String>,
    pub urn: Option<String>,
    pub external: Option<String>,
    pub description: String,
    /// Whether the producer is in the catalogue.
    pub known: bool,
    /// Whether the producer grants the output to this product (from the evaluation).
    pub granted: bool,
    /// The producer's deprecation of the output (or of its whole product): what consumers
    /// are told, with the sunset and the replacement.
    pub deprecation: Option<crate::api::DeprecationNotice>,
    /// Whether the pipelines reading the input may run, as the operator last decided
    /// (`status.inputs[]`); `None` in file mode.
    pub ready: Option<bool>,
    /// Why not (`InputNotReady`, `InputStale`, `InputRetired`) and what was seen.
    pub waiting: Option<String>,
}

/// A consumer approved by the producer, with what the plan grants it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerEntry {
    pub product: Option<String>,
    pub principal: Option<String>,
    /// Outputs listed (empty: every public output).
    pub outputs: Vec<String>,
    /// Outputs the plan grants.
    pub granted: Vec<String>,
}

/// A DataProductAccess addressed to the product.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessRequestEntry {
    pub namespace: String,
    pub name: String,
    pub consumer_product: Option<String>,
    pub consumer_principal: Option<String>,
    pub outputs: Vec<String>,
    pub purpose: String,
    pub expires: Option<String>,
    /// From status; `None` in file mode.
    pub phase: Option<String>,
    /// Whether the request expired on the index day.
    pub expired: bool,
    /// Whether the plan holds a grant for this consumer.
    pub granted: bool,
}

/// A product summary, as `/api/v1/products` lists it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub namespace: String,
    pub name: String,
    pub urn: String,
    pub domain: String,
    pub class: String,
    pub owner: String,
    pub description: String,
    pub stage: Option<String>,
    pub phase: Option<String>,
    pub freshness: String,
    pub deprecated: bool,
    pub outputs: Vec<String>,
}

/// Filters of the product list. Empty filters match everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub q: String,
    pub domain: String,
    pub owner: String,
    pub layer: String,
    pub tag: String,
    pub stage: String,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
            && self.domain.is_empty()
            && self.owner.is_empty()
            && self.layer.is_empty()
            && self.tag.is_empty()
            && self.stage.is_empty()
    }

    /// The search words, lowercased once per request rather than once per product.
    fn words(&self) -> Vec<String> {
        self.q
            .to_lowercase()
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }
}

fn debug_name<T: std::fmt::Debug>(v: &T) -> String {
    format!("{v:?}")
}

fn lower_json<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

impl Index {
    /// Evaluates every product of `world` on `today`.
    pub fn build(world: &World, today: jiff::civil::Date, live: bool) -> Index {
        let facts = Facts::offline(today);
        let mut products = BTreeMap::new();
        for (r, result) in evaluate_all(world, &facts) {
            let p = &world.products[&r];
            let e = entry(&r, p, world, result, today);
            products.insert(r, e);
        }
        let mut vocabulary = Vocabulary::default();
        for e in products.values_mut() {
            e.derived.words = vocabulary.add(&e.text());
        }
        // Only building needs the reverse map.
        vocabulary.position = Default::default();
        let lineage = Lineage::of(mesh(products.values()));
        let facets = facets(products.values());
        Index {
            today: today.to_string(),
            live,
            products,
            lineage,
            facets,
            vocabulary,
        }
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<&ProductEntry> {
        self.products.get(&ProductRef {
            namespace: namespace.to_string(),
            name: name.to_string(),
        })
    }

    /// Products matching `filter`, in namespace/name order. `q` matches a product when every
    /// one of its words (case-insensitive) occurs in the product's namespace, name, domain,
    /// description, owner team, or an output's name, description, column names or column
    /// descriptions.
    pub fn search(&self, filter: &Filter) -> Vec<&ProductEntry> {
        let containing = self.vocabulary.containing(&filter.words());
        self.products
            .values()
            .filter(|p| p.matches(filter, &containing))
            .collect()
    }

    /// Domains, owners, layers, tags and stages present, for the filter menus.
    pub fn facets(&self) -> &Facets {
        &self.facets
    }
}

fn facets<'a>(products: impl Iterator<Item = &'a ProductEntry>) -> Facets {
    let mut f = Facets::default();
    for p in products {
        f.domains.insert(p.domain.clone());
        if !p.owner.team.is_empty() {
            f.owners.insert(p.owner.team.clone());
        }
        for o in &p.outputs {
            f.layers.insert(o.layer.clone());
        }
        for t in p.tags() {
            f.tags.insert(t.clone());
        }
        if let Some(s) = &p.stage {
            f.stages.insert(s.clone());
        }
    }
    f
}

/// The values the list can be filtered by.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Facets {
    pub domains: BTreeSet<String>,
    pub owners: BTreeSet<String>,
    pub layers: BTreeSet<String>,
    pub tags: BTreeSet<String>,
    pub stages: BTreeSet<String>,
}

impl ProductEntry {
    pub fn product_ref(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    pub fn summary(&self) -> Summary {
        Summary {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            urn: self.urn.clone(),
            domain: self.domain.clone(),
            class: self.class.clone(),
            owner: self.owner.team.clone(),
            description: self.description.clone(),
            stage: self.stage.clone(),
            phase: self.phase.clone(),
            freshness: self.freshness.clone(),
            deprecated: self.deprecation.is_some(),
            outputs: self.outputs.iter().map(|o| o.name.clone()).collect(),
        }
    }

    /// The summary as pretty JSON, indented by four spaces as an element of `items` in the
    /// list (`{"count": …, "items": [ … ]}`), serialized when the index was built.
    pub fn summary_json(&self) -> &str {
        &self.derived.summary_json
    }

    /// Tags: the class, the visibility, and metadata labels as `key=value` and `value`.
    pub fn tags(&self) -> &[String] {
        &self.derived.tags
    }

    /// Fills in what searching and listing use; called once, when the entry is made.
    fn derive(mut self) -> ProductEntry {
        let summary = serde_json::to_value(self.summary()).unwrap_or_default();
        let pretty = serde_json::to_string_pretty(&summary).unwrap_or_default();
        self.derived = Derived {
            // Filled in by Index::build, which holds the vocabulary.
            words: Vec::new(),
            tags: self.compute_tags(),
            summary_json: indent(&pretty, "    "),
        };
        self
    }

    fn compute_tags(&self) -> Vec<String> {
        let mut tags = vec![self.class.clone(), self.visibility.clone()];
        if self.deprecation.is_some() {
            tags.push("deprecated".into());
        }
        for (k, v) in &self.labels {
            tags.push(format!("{k}={v}"));
            if !v.is_empty() {
                tags.push(v.clone());
            }
        }
        tags
    }

    fn text(&self) -> String {
        let mut t = String::new();
        let mut add = |s: &str| {
            t.push_str(s);
            t.push('\n');
        };
        add(&self.namespace);
        add(&self.name);
        add(&self.domain);
        add(&self.description);
        add(&self.owner.team);
        for o in &self.outputs {
            add(&o.name);
            add(&o.description);
            for c in o.schema.iter().chain(&o.partition_keys) {
                add(&c.name);
                add(&c.description);
            }
        }
        t.to_lowercase()
    }

    /// Whether the entry passes `f`; `containing` is, per search word, which vocabulary words
    /// contain it ([`Vocabulary::containing`]).
    fn matches(&self, f: &Filter, containing: &[Vec<bool>]) -> bool {
        let eq = |want: &str, have: &str| want.is_empty() || want.eq_ignore_ascii_case(have);
        if !f.stage.is_empty()
            && !f
                .stage
                .eq_ignore_ascii_case(self.stage.as_deref().unwrap_or(""))
        {
            return false;
        }
        if !eq(&f.domain, &self.domain) {
            return false;
        }
        if !f.owner.is_empty()
            && !f.owner.eq_ignore_ascii_case(&self.owner.team)
            && !f.owner.eq_ignore_ascii_case(&self.owner.email)
        {
            return false;
        }
        if !f.layer.is_empty() && !self.outputs.iter().any(|o| eq(&f.layer, &o.layer)) {
            return false;
        }
        if !f.tag.is_empty() && !self.tags().iter().any(|t| eq(&f.tag, t)) {
            return false;
        }
        // Every search word must occur somewhere: in one of the product's words.
        containing.iter().all(|hit| {
            self.derived
                .words
                .iter()
                .any(|&w| hit.get(w as usize).copied().unwrap_or(false))
        })
    }
}

/// `text` with `prefix` before every line.
fn indent(text: &str, prefix: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(prefix);
        out.push_str(line);
    }
    out
}

/// The lineage graph of `products`: nodes sorted by id, edges sorted.
fn mesh<'a>(products: impl Iterator<Item = &'a ProductEntry> + Clone) -> Graph {
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    let mut edges: BTreeSet<Edge> = BTreeSet::new();
    let product_node = |ns: &str, name: &str, known: bool| Node {
        id: urn(ns, name, None),
        kind: "product".into(),
        label: format!("{ns}/{name}"),
        product: Some(format!("{ns}/{name}")),
        known,
    };
    for p in products.clone() {
        nodes.insert(p.urn.clone(), product_node(&p.namespace, &p.name, true));
        for o in &p.outputs {
            nodes.insert(
                o.urn.clone(),
                Node {
                    id: o.urn.clone(),
                    kind: "output".into(),
                    label: o.name.clone(),
                    product: Some(p.product_ref()),
                    known: true,
                },
            );
            edges.insert(Edge {
                from: p.urn.clone(),
                to: o.urn.clone(),
                kind: "writes".into(),
            });
        }
    }
    for p in products {
        for i in &p.inputs {
            let from = if let Some(ext) = &i.external {
                let id = format!("external:{ext}");
                nodes.entry(id.clone()).or_insert(Node {
                    id: id.clone(),
                    kind: "external".into(),
                    label: ext.clone(),
                    product: None,
                    known: true,
                });
                id
            } else if let (Some(id), Some(pr)) = (&i.urn, &i.product) {
                if !nodes.contains_key(id) {
                    nodes.insert(
                        id.clone(),
                        Node {
                            id: id.clone(),
                            kind: "output".into(),
                            label: i.output.clone().unwrap_or_default(),
                            product: Some(pr.clone()),
                            known: false,
                        },
                    );
                }
                id.clone()
            } else {
                continue;
            };
            edges.insert(Edge {
                from,
                to: p.urn.clone(),
                kind: "reads".into(),
            });
        }
        for c in &p.consumers {
            let Some(consumer) = c.product.as_deref().and_then(ProductRef::parse) else {
                continue;
            };
            let cid = urn(&consumer.namespace, &consumer.name, None);
            if !nodes.contains_key(&cid) {
                nodes.insert(
                    cid.clone(),
                    product_node(&consumer.namespace, &consumer.name, false),
                );
            }
            for o in &c.granted {
                edges.insert(Edge {
                    from: urn(&p.namespace, &p.name, Some(o)),
                    to: cid.clone(),
                    kind: "grants".into(),
                });
            }
        }
    }
    Graph {
        nodes: nodes.into_values().collect(),
        edges: edges.into_iter().collect(),
    }
}

fn entry(
    r: &ProductRef,
    p: &DataProduct,
    world: &World,
    result: Result<Plan, crate::evaluate::Refusal>,
    today: jiff::civil::Date,
) -> ProductEntry {
    let spec = &p.spec;
    let template = world.template_of(p);
    let (plan, violations, refusal) = match result {
        Ok(plan) => (Some(plan), Vec::new(), None),
        Err(refusal) => (
            None,
            refusal.violations.iter().map(|v| v.to_string()).collect(),
            Some(refusal.reason.to_string()),
        ),
    };
    // Grants in the plan: grantee → outputs.
    let mut grants: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if let Some(plan) = &plan {
        for a in &plan.aws {
            if let AwsResource::AccessGrant(g) = a {
                let who = g
                    .spec
                    .grantee
                    .product
                    .clone()
                    .or_else(|| g.spec.grantee.principal.clone())
                    .unwrap_or_default();
                let outs = grants.entry(who).or_default();
                for t in &g.spec.tables {
                    if let Some((o, _)) = plan.names.tables.iter().find(|(_, table)| table == t) {
                        outs.insert(o.clone());
                    }
                }
            }
        }
    }
    let outputs = spec
        .outputs
        .iter()
        .map(|o| {
            let public = template.is_some_and(|t| {
                t.spec
                    .storage
                    .layers
                    .iter()
                    .any(|l| l.name == o.layer && l.visibility == Visibility::Public)
            });
            let sql = plan.as_ref().and_then(|plan| {
                let table = plan.names.table(&o.name)?.to_string();
                let database = plan.names.database.clone();
                Some(SqlEndpoint {
                    engine: "athena".into(),
                    region: plan.names.region.clone(),
                    qualified_name: format!("{database}.{table}"),
                    example: format!("SELECT * FROM \"{database}\".\"{table}\" LIMIT 10"),
                    database,
                    table,
                })
            });
            let observed = p
                .status
                .as_ref()
                .and_then(|st| st.outputs.iter().find(|po| po.name == o.name));
            OutputEntry {
                freshness: observed
                    .and_then(|po| po.freshness)
                    .map_or_else(|| "Unknown".to_string(), |f| debug_name(&f)),
                last_updated: observed.and_then(|po| po.last_updated.clone()),
                freshness_source: observed.and_then(|po| po.source.clone()),
                name: o.name.clone(),
                urn: urn(&r.namespace, &r.name, Some(&o.name)),
                layer: o.layer.clone(),
                public,
                description: o.description.trim().to_string(),
                granularity: o.granularity.clone(),
                format: lower_json(&o.format),
                version: o.version,
                schema: o.schema.clone(),
                partition_keys: o.partition_keys.clone(),
                examples: o.examples.clone(),
                deprecation: o.deprecation.clone(),
                sql,
            }
        })
        .collect();
    let me = r.to_string();
    let inputs = spec
        .inputs
        .iter()
        .map(|i| {
            if let Some(ext) = &i.external {
                return InputEntry {
                    kind: "external".into(),
                    product: None,
                    output: None,
                    urn: None,
                    external: Some(ext.name.clone()),
                    description: ext.description.trim().to_string(),
                    known: false,
                    granted: false,
                    deprecation: None,
                    ready: None,
                    waiting: None,
                };
            }
            let pref = i.product.as_deref().and_then(ProductRef::parse);
            let producer = pref.as_ref().and_then(|pr| world.products.get(pr));
            let description = producer
                .and_then(|pp| {
                    pp.spec
                        .outputs
                        .iter()
                        .find(|o| Some(o.name.as_str()) == i.output.as_deref())
                })
                .map(|o| o.description.trim().to_string())
                .unwrap_or_default();
            let observed = p.status.as_ref().and_then(|st| {
                st.inputs.iter().find(|s| {
                    Some(s.product.as_str()) == i.product.as_deref()
                        && Some(s.output.as_str()) == i.output.as_deref()
                })
            });
            // From the producer when it is catalogued, else as the operator last told it.
            let deprecation = producer
                .zip(i.output.as_deref())
                .and_then(|(pp, o)| crate::model::world::deprecation_of(pp, o))
                .map(crate::api::DeprecationNotice::from)
                .or_else(|| observed.and_then(|s| s.deprecation.clone()));
            let granted = match (producer, pref.as_ref()) {
                // Reading one's own product needs no grant.
                (Some(_), Some(pr)) if pr == r => true,
                (Some(pp), Some(_)) => world.template_of(pp).is_some_and(|pt| {
                    crate::plan::granted_to(pp, pt, r, world, Some(today))
                        .iter()
                        .any(|o| Some(o.as_str()) == i.output.as_deref())
                }),
                _ => false,
            };
            InputEntry {
                kind: "product".into(),
                product: i.product.clone(),
                output: i.output.clone(),
                urn: pref
                    .as_ref()
                    .map(|pr| urn(&pr.namespace, &pr.name, i.output.as_deref())),
                external: None,
                description,
                known: producer.is_some(),
                granted,
                deprecation,
                ready: observed.map(|s| s.ready),
                waiting: observed.filter(|s| !s.ready).map(|s| {
                    format!(
                        "{}: {}",
                        s.reason.as_deref().unwrap_or_default(),
                        s.message.as_deref().unwrap_or_default()
                    )
                }),
            }
        })
        .collect();
    let consumers = spec
        .access
        .consumers
        .iter()
        .map(|c| {
            let who = c.product.clone().or_else(|| c.principal.clone());
            ConsumerEntry {
                product: c.product.clone(),
                principal: c.principal.clone(),
                outputs: c.outputs.clone(),
                granted: who
                    .and_then(|w| grants.get(&w))
                    .map(|s| s.iter().cloned().collect())
                    .unwrap_or_default(),
            }
        })
        .collect();
    let access_requests = world
        .accesses
        .iter()
        .filter(|a| a.spec.product == me)
        .map(|a| {
            let who = a
                .spec
                .consumer
                .product
                .clone()
                .or_else(|| a.spec.consumer.principal.clone())
                .unwrap_or_default();
            AccessRequestEntry {
                namespace: a.metadata.namespace.clone().unwrap_or_default(),
                name: a.metadata.name.clone().unwrap_or_default(),
                consumer_product: a.spec.consumer.product.clone(),
                consumer_principal: a.spec.consumer.principal.clone(),
                outputs: a.spec.outputs.clone(),
                purpose: a.spec.purpose.trim().to_string(),
                expires: a.spec.expires.clone(),
                phase: a
                    .status
                    .as_ref()
                    .and_then(|s| s.phase)
                    .map(|ph| debug_name(&ph)),
                expired: expired(a.spec.expires.as_deref(), today).is_some(),
                // This request's outputs, not just any grant to its consumer.
                granted: grants
                    .get(&who)
                    .is_some_and(|g| a.spec.outputs.iter().all(|o| g.contains(o))),
            }
        })
        .collect();
    let status = p.status.as_ref();
    let conditions = status.map(|s| s.conditions.clone()).unwrap_or_default();
    let freshness = conditions
        .iter()
        .find(|c| c.type_ == "Fresh" || c.type_ == "Freshness")
        .map(|c| match c.status.as_str() {
            "True" => "Fresh".to_string(),
            "False" => "Stale".to_string(),
            _ => "Unknown".to_string(),
        })
        .unwrap_or_else(|| "Unknown".to_string());
    ProductEntry {
        namespace: r.namespace.clone(),
        name: r.name.clone(),
        urn: urn(&r.namespace, &r.name, None),
        domain: spec.domain.clone(),
        class: lower_json(&spec.class),
        template: spec.template.clone(),
        owner: OwnerEntry {
            team: spec.owner.team.clone(),
            email: spec.owner.email.clone(),
            groups: spec.owner.groups.clone(),
        },
        description: spec.description.trim().to_string(),
        labels: p.metadata.labels.clone().unwrap_or_default(),
        // The operator records the stage it provisioned for; before it has (and in file mode)
        // the stage is the template's, as the plan derived it.
        stage: status
            .and_then(|s| s.stage.clone())
            .or_else(|| plan.as_ref().and_then(|p| p.names.stage.clone()))
            .or_else(|| template.and_then(|t| t.spec.stage.clone()))
            .filter(|s| !s.is_empty()),
        phase: status.and_then(|s| s.phase).map(|ph| debug_name(&ph)),
        freshness,
        freshness_slo: spec.slo.as_ref().and_then(|s| s.freshness.clone()),
        visibility: lower_json(&spec.access.visibility),
        database: plan.as_ref().map(|p| p.names.database.clone()),
        provisioned_namespace: plan
            .as_ref()
            .map(|p| p.names.namespace.clone())
            .or_else(|| status.and_then(|s| s.namespace.clone())),
        outputs,
        inputs,
        consumers,
        access_requests,
        deprecation: spec.deprecation.clone(),
        conditions,
        violations,
        refusal,
        derived: Derived::default(),
    }
    .derive()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::load::{load_str, Document, LoadOptions};

    /// The messaging examples and their template, loaded as `dpctl` loads files.
    pub(crate) fn messaging() -> World {
        let mut world = World::default();
        for (name, text) in [
            (
                "standard.yaml",
                include_str!("../../templates/standard.yaml"),
            ),
            (
                "events.yaml",
                include_str!("../../examples/messaging/events.yaml"),
            ),
            (
                "conversations.yaml",
                include_str!("../../examples/messaging/conversations.yaml"),
            ),
            (
                "metrics.yaml",
                include_str!("../../examples/messaging/metrics.yaml"),
            ),
        ] {
            let (mut docs, mut errors) = (Vec::new(), Vec::new());
            load_str(
                name.as_ref(),
                text,
                &LoadOptions::default(),
                &mut docs,
                &mut errors,
            );
            assert!(errors.is_empty(), "{name}: {errors:?}");
            for d in docs {
                match d.document {
                    Document::Product(p) => world.add_product(*p),
                    Document::Template(t) => world.add_template(*t),
                    _ => {}
                }
            }
        }
        world
    }

    /// A request shows as granted only when the grant covers the outputs it asks for.
    #[test]
    fn a_request_is_granted_for_its_own_outputs() {
        let mut world = messaging();
        let request = |name: &str, outputs: &[&str]| -> crate::api::DataProductAccess {
            serde_json::from_value(serde_json::json!({
                "apiVersion": "dataproducts.io/v1alpha1", "kind": "DataProductAccess",
                "metadata": {"name": name, "namespace": "messaging"},
                "spec": {"product": "messaging/events", "outputs": outputs,
                         "consumer": {"product": "messaging/conversations"},
                         "purpose": "Building conversations"}
            }))
            .unwrap()
        };
        // messaging/events lists messaging/conversations for some outputs only.
        let events = &world.products[&ProductRef::parse("messaging/events").unwrap()];
        let listed = events.spec.access.consumers[0].outputs.clone();
        let listed = listed.first().cloned().unwrap_or_else(|| "events".into());
        world.accesses.push(request("listed", &[listed.as_str()]));
        world.accesses.push(request("other", &["no_such_output"]));
        let index = Index::build(&world, "2026-12-01".parse().unwrap(), false);
        let entry = &index.products[&ProductRef::parse("messaging/events").unwrap()];
        let granted = |name: &str| {
            entry
                .access_requests
                .iter()
                .find(|a| a.name == name)
                .map(|a| a.granted)
        };
        assert_eq!(granted("listed"), Some(true));
        assert_eq!(granted("other"), Some(false));
    }

    /// Search through the vocabulary finds exactly the products whose whole lowercase text
    /// contains every search word, the definition it replaces.
    #[test]
    fn vocabulary_search_is_substring_search_over_the_text() {
        let index = Index::build(&messaging(), "2026-12-01".parse().unwrap(), false);
        assert_eq!(index.products.len(), 3);
        for q in [
            "",
            "conversation",
            "Conversation",
            "CONVERSATIONS events",
            "either user archived",
            "versat",
            "a",
            "_id",
            "messaging/",
            "nothing-like-this",
            "dt",
            "  spaced   out  ",
        ] {
            let filter = Filter {
                q: q.to_string(),
                ..Filter::default()
            };
            let fast: Vec<String> = index
                .search(&filter)
                .iter()
                .map(|p| p.product_ref())
                .collect();
            let words = filter.words();
            let slow: Vec<String> = index
                .products
                .values()
                .filter(|p| {
                    let text = p.text();
                    words.iter().all(|w| text.contains(w.as_str()))
                })
                .map(|p| p.product_ref())
                .collect();
            assert_eq!(fast, slow, "q={q:?}");
        }
        let one = Filter {
            q: "Either User ARCHIVED".into(),
            ..Filter::default()
        };
        assert_eq!(
            index
                .search(&one)
                .iter()
                .map(|p| p.product_ref())
                .collect::<Vec<_>>(),
            vec!["messaging/conversations"]
        );
    }

    /// The summary serialized at build time is the summary serialized now, indented one level
    /// deeper than `items`.
    #[test]
    fn serialized_summaries_are_the_summaries() {
        let index = Index::build(&messaging(), "2026-12-01".parse().unwrap(), false);
        for p in index.products.values() {
            let now = serde_json::to_value(p.summary()).unwrap();
            let stored: serde_json::Value = serde_json::from_str(p.summary_json()).unwrap();
            assert_eq!(stored, now);
            assert!(p.summary_json().lines().all(|l| l.starts_with("    ")));
        }
    }
}
