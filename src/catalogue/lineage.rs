//! The lineage graph of the mesh: products, their outputs and external inputs as nodes; writes,
//! reads and grants as edges.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::Serialize;

use super::index::{urn, Index};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    pub id: String,
    /// `product`, `output` or `external`.
    pub kind: String,
    pub label: String,
    /// `<namespace>/<name>` of the product the node is or belongs to.
    pub product: Option<String>,
    /// Whether the node is in the catalogue (inputs may name unknown products).
    pub known: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// `writes` (product → output), `reads` (output or external → product), `grants` (output →
    /// consuming product).
    pub kind: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// The whole mesh.
pub fn graph(index: &Index) -> Graph {
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    let mut edges: BTreeSet<Edge> = BTreeSet::new();
    let product_node = |ns: &str, name: &str, known: bool| Node {
        id: urn(ns, name, None),
        kind: "product".into(),
        label: format!("{ns}/{name}"),
        product: Some(format!("{ns}/{name}")),
        known,
    };
    for p in index.products.values() {
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
    for p in index.products.values() {
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
            let Some(consumer) = c.product.as_deref().and_then(crate::api::ProductRef::parse)
            else {
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

impl Graph {
    /// The part of the graph within `depth` product hops up- and downstream of `start` (a node
    /// id). A product hop is two edges (product → output → product).
    pub fn around(&self, start: &str, depth: usize) -> Graph {
        let steps = depth.saturating_mul(2);
        let mut keep: BTreeSet<&str> = BTreeSet::new();
        for forward in [true, false] {
            let mut seen: BTreeSet<&str> = BTreeSet::from([start]);
            let mut queue = VecDeque::from([(start, 0usize)]);
            while let Some((n, d)) = queue.pop_front() {
                if d >= steps {
                    continue;
                }
                for e in &self.edges {
                    let (a, b) = if forward {
                        (e.from.as_str(), e.to.as_str())
                    } else {
                        (e.to.as_str(), e.from.as_str())
                    };
                    if a == n && seen.insert(b) {
                        queue.push_back((b, d + 1));
                    }
                }
            }
            keep.extend(seen);
        }
        if !self.nodes.iter().any(|n| n.id == start) {
            return Graph::default();
        }
        Graph {
            nodes: self
                .nodes
                .iter()
                .filter(|n| keep.contains(n.id.as_str()))
                .cloned()
                .collect(),
            edges: self
                .edges
                .iter()
                .filter(|e| keep.contains(e.from.as_str()) && keep.contains(e.to.as_str()))
                .cloned()
                .collect(),
        }
    }

    /// Column of each node: the longest path from a source, so edges point right. Cycles are
    /// cut after as many rounds as there are nodes.
    pub fn ranks(&self) -> BTreeMap<&str, usize> {
        let mut rank: BTreeMap<&str, usize> =
            self.nodes.iter().map(|n| (n.id.as_str(), 0)).collect();
        for _ in 0..self.nodes.len().min(64) {
            let mut changed = false;
            for e in &self.edges {
                let (Some(&a), Some(&b)) = (rank.get(e.from.as_str()), rank.get(e.to.as_str()))
                else {
                    continue;
                };
                if b < a + 1 {
                    rank.insert(e.to.as_str(), a + 1);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        rank
    }
}
