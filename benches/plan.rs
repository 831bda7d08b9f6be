//! Planning benchmark: validate + plan 1,000 products drawn from the examples, in a world that
//! holds all of them (so input and grant resolution see a realistic catalogue).
//!
//! Run: `cargo bench --bench plan` (optionally `-- 5000` for another product count).
//! A plain harness rather than criterion keeps the dependency tree small; it reports the median
//! of several rounds, which is what the README quotes.

use std::path::PathBuf;
use std::time::Instant;

use dataproduct_operator::api::load::{load_paths, Document, LoadOptions};
use dataproduct_operator::governance;
use dataproduct_operator::plan::{self, World};

fn main() {
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let (docs, errors) = load_paths(
        &[root.join("examples"), root.join("templates")],
        &LoadOptions::default(),
    );
    assert!(errors.is_empty(), "examples must load: {errors:?}");
    let mut world = World::default();
    let mut seeds = Vec::new();
    for d in docs {
        match d.document {
            Document::Template(t) => world.add_template(*t),
            Document::Product(p) => seeds.push(*p),
            Document::Access(a) => world.accesses.push(*a),
        }
    }
    // Copies of the examples under new names, so every product is distinct.
    for i in 0..count {
        let mut p = seeds[i % seeds.len()].clone();
        let name = format!("{}-{i:05}", p.metadata.name.as_deref().unwrap_or("p"));
        p.metadata.name = Some(name);
        world.add_product(p);
    }
    let products: Vec<_> = world.products.values().cloned().collect();
    let mut rounds = Vec::new();
    let mut objects = 0;
    for _ in 0..7 {
        let start = Instant::now();
        objects = 0;
        for p in &products {
            let violations = governance::validate_product(p, &world);
            assert!(violations.is_empty(), "{violations:?}");
            let t = world.template_of(p).expect("template");
            let planned = plan::plan(p, t, &world).expect("plan");
            objects += planned.kubernetes.len() + planned.aws.len();
            std::hint::black_box(planned);
        }
        rounds.push(start.elapsed());
    }
    rounds.sort();
    let median = rounds[rounds.len() / 2];
    println!(
        "validate+plan of {} products ({objects} objects): median {:.1} ms total, {:.1} µs per product (min {:.1} µs, max {:.1} µs per product over {} rounds)",
        products.len(),
        median.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e6 / products.len() as f64,
        rounds[0].as_secs_f64() * 1e6 / products.len() as f64,
        rounds[rounds.len() - 1].as_secs_f64() * 1e6 / products.len() as f64,
        rounds.len(),
    );
}
