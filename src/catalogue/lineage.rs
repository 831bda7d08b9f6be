//! The lineage graph of the mesh: products, their outputs and external inputs as nodes; writes,
//! reads and grants as edges (the index builds it from the products). [`Lineage`] is built
//! once with the index and keeps, beside the graph, which edges leave and enter each node, so
//! the neighbourhood of one product is a walk over the nodes within reach rather than a
//! rebuild and a scan of the whole mesh.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::Serialize;

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

/// The graph of the mesh and its adjacency, by node position in `graph.nodes`.
#[derive(Debug, Clone, Default)]
pub struct Lineage {
    pub graph: Graph,
    /// Node id → position in `graph.nodes`.
    position: HashMap<String, usize>,
    /// Per node, the positions in `graph.edges` of the edges leaving it.
    outgoing: Vec<Vec<usize>>,
    /// Per node, the positions in `graph.edges` of the edges entering it.
    incoming: Vec<Vec<usize>>,
}

impl Lineage {
    /// The adjacency of `graph`, whose nodes are sorted by id and whose edges are sorted (as
    /// the index makes the mesh's graph).
    pub fn of(graph: Graph) -> Lineage {
        let position: HashMap<String, usize> = graph
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.clone(), i))
            .collect();
        let mut outgoing = vec![Vec::new(); graph.nodes.len()];
        let mut incoming = vec![Vec::new(); graph.nodes.len()];
        for (i, e) in graph.edges.iter().enumerate() {
            // Every edge's ends are nodes (the mesh graph inserts both); an edge to a missing
            // node could not be walked anyway.
            if let (Some(&a), Some(&b)) = (position.get(&e.from), position.get(&e.to)) {
                outgoing[a].push(i);
                incoming[b].push(i);
            }
        }
        Lineage {
            graph,
            position,
            outgoing,
            incoming,
        }
    }

    /// The part of the graph within `depth` product hops up- and downstream of `start` (a node
    /// id), with every edge between the nodes kept. A product hop is two edges (product →
    /// output → product). Each direction is a breadth-first walk that visits a node once, so
    /// cycles end it and the work is bounded by what lies within `depth`. Nodes and edges keep
    /// the order of the whole graph. Unknown `start`: an empty graph.
    pub fn around(&self, start: &str, depth: usize) -> Graph {
        let Some(&from) = self.position.get(start) else {
            return Graph::default();
        };
        let steps = depth.saturating_mul(2);
        let mut keep: BTreeSet<usize> = BTreeSet::from([from]);
        for forward in [true, false] {
            let adjacent = if forward {
                &self.outgoing
            } else {
                &self.incoming
            };
            let mut seen: BTreeSet<usize> = BTreeSet::from([from]);
            let mut queue = VecDeque::from([(from, 0usize)]);
            while let Some((n, d)) = queue.pop_front() {
                if d >= steps {
                    continue;
                }
                for &e in &adjacent[n] {
                    let edge = &self.graph.edges[e];
                    let next = if forward { &edge.to } else { &edge.from };
                    if let Some(&b) = self.position.get(next) {
                        if seen.insert(b) {
                            queue.push_back((b, d + 1));
                        }
                    }
                }
            }
            keep.extend(seen);
        }
        // Edges between kept nodes: each leaves a kept node, so the kept nodes' outgoing lists
        // hold them all.
        let mut edges: Vec<usize> = keep
            .iter()
            .flat_map(|&n| self.outgoing[n].iter().copied())
            .filter(|&e| {
                self.position
                    .get(&self.graph.edges[e].to)
                    .is_some_and(|b| keep.contains(b))
            })
            .collect();
        edges.sort_unstable();
        Graph {
            nodes: keep.iter().map(|&n| self.graph.nodes[n].clone()).collect(),
            edges: edges
                .into_iter()
                .map(|e| self.graph.edges[e].clone())
                .collect(),
        }
    }
}

impl Graph {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, kind: &str) -> Node {
        Node {
            id: id.into(),
            kind: kind.into(),
            label: id.into(),
            product: None,
            known: true,
        }
    }

    fn edge(from: &str, to: &str, kind: &str) -> Edge {
        Edge {
            from: from.into(),
            to: to.into(),
            kind: kind.into(),
        }
    }

    /// Sorted as `graph()` makes graphs: nodes by id, edges ordered.
    fn sorted(nodes: Vec<Node>, edges: Vec<Edge>) -> Graph {
        let nodes: BTreeMap<String, Node> = nodes.into_iter().map(|n| (n.id.clone(), n)).collect();
        let edges: BTreeSet<Edge> = edges.into_iter().collect();
        Graph {
            nodes: nodes.into_values().collect(),
            edges: edges.into_iter().collect(),
        }
    }

    /// A chain p0 → p0:o → p1 → p1:o → … → p5 where p5's output feeds p0 again (a cycle), an
    /// external source read by p2, and a grant edge beside a read.
    fn chain() -> Graph {
        let mut nodes = vec![node("ext", "external")];
        let mut edges = vec![edge("ext", "p2", "reads")];
        for i in 0..6 {
            nodes.push(node(&format!("p{i}"), "product"));
            nodes.push(node(&format!("p{i}:o"), "output"));
            edges.push(edge(&format!("p{i}"), &format!("p{i}:o"), "writes"));
            let next = format!("p{}", (i + 1) % 6);
            edges.push(edge(&format!("p{i}:o"), &next, "reads"));
        }
        edges.push(edge("p1:o", "p2", "grants"));
        sorted(nodes, edges)
    }

    /// The neighbourhood by definition: a scan of every edge per visited node.
    fn reference(g: &Graph, start: &str, depth: usize) -> Graph {
        if !g.nodes.iter().any(|n| n.id == start) {
            return Graph::default();
        }
        let steps = depth.saturating_mul(2);
        let mut keep: BTreeSet<&str> = BTreeSet::new();
        for forward in [true, false] {
            let mut seen: BTreeSet<&str> = BTreeSet::from([start]);
            let mut queue = VecDeque::from([(start, 0usize)]);
            while let Some((n, d)) = queue.pop_front() {
                if d >= steps {
                    continue;
                }
                for e in &g.edges {
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
        Graph {
            nodes: g
                .nodes
                .iter()
                .filter(|n| keep.contains(n.id.as_str()))
                .cloned()
                .collect(),
            edges: g
                .edges
                .iter()
                .filter(|e| keep.contains(e.from.as_str()) && keep.contains(e.to.as_str()))
                .cloned()
                .collect(),
        }
    }

    fn ids(g: &Graph) -> Vec<&str> {
        g.nodes.iter().map(|n| n.id.as_str()).collect()
    }

    #[test]
    fn neighbourhood_agrees_with_the_definition_for_every_start_and_depth() {
        let g = chain();
        let lineage = Lineage::of(g.clone());
        for n in &g.nodes {
            for depth in 0..9 {
                let fast = lineage.around(&n.id, depth);
                let slow = reference(&g, &n.id, depth);
                assert_eq!(fast.nodes, slow.nodes, "nodes around {} at {depth}", n.id);
                assert_eq!(fast.edges, slow.edges, "edges around {} at {depth}", n.id);
            }
        }
    }

    #[test]
    fn depth_bounds_the_hops() {
        let lineage = Lineage::of(chain());
        // Depth 0: the product alone.
        assert_eq!(ids(&lineage.around("p3", 0)), vec!["p3"]);
        // One hop each way: p2 upstream (with its output and the external input p2 does not
        // lead to p3 through), p4 downstream.
        let one = lineage.around("p3", 1);
        assert_eq!(ids(&one), vec!["p2", "p2:o", "p3", "p3:o", "p4"]);
        assert!(one
            .edges
            .iter()
            .all(|e| ids(&one).contains(&e.from.as_str()) && ids(&one).contains(&e.to.as_str())));
        let two = lineage.around("p3", 2);
        assert_eq!(
            ids(&two),
            vec!["ext", "p1", "p1:o", "p2", "p2:o", "p3", "p3:o", "p4", "p4:o", "p5"]
        );
    }

    #[test]
    fn cycles_end_the_walk_and_every_node_is_kept_once() {
        let g = chain();
        let lineage = Lineage::of(g.clone());
        // The ring has six products: three hops each way reach all of them (the external input
        // of p2 lies nine edges upstream of p0, so not yet), and a huge depth still ends.
        let ring: Vec<&str> = ids(&g).into_iter().filter(|id| *id != "ext").collect();
        assert_eq!(ids(&lineage.around("p0", 3)), ring);
        let all = lineage.around("p0", usize::MAX);
        assert_eq!(all.nodes, g.nodes);
        assert_eq!(all.edges, g.edges);
        // A product that reads its own output: one node each, edges once.
        let selfloop = Lineage::of(sorted(
            vec![node("a", "product"), node("a:o", "output")],
            vec![edge("a", "a:o", "writes"), edge("a:o", "a", "reads")],
        ));
        let g = selfloop.around("a", 5);
        assert_eq!(ids(&g), vec!["a", "a:o"]);
        assert_eq!(g.edges.len(), 2);
    }

    #[test]
    fn unknown_start_is_an_empty_graph() {
        let lineage = Lineage::of(chain());
        let g = lineage.around("nope", 3);
        assert!(g.nodes.is_empty() && g.edges.is_empty());
        let empty = Lineage::default().around("p0", 1);
        assert!(empty.nodes.is_empty());
    }
}
