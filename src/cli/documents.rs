//! Loading the documents a command works on into a [`World`], remembering where each came from.

use std::io::Write;

use crate::api::load::{load_paths, Document, LoadOptions, Source};
use crate::api::{DataProductAccess, DataProductTemplate, ProductRef};
use crate::plan::World;

use super::InputArgs;

/// The documents given with -f, plus templates found with --templates.
pub struct Inputs {
    pub world: World,
    /// Products given with -f, in a stable order, with their source.
    pub products: Vec<(ProductRef, Source)>,
    /// Templates given with -f.
    pub templates: Vec<(DataProductTemplate, Source)>,
    /// Access requests given with -f.
    pub accesses: Vec<(DataProductAccess, Source)>,
}

/// Loads everything; prints load errors to `err` and returns None when there were any.
pub fn load(args: &InputArgs, err: &mut dyn Write) -> Option<Inputs> {
    let opts = LoadOptions {
        default_namespace: args.namespace.clone(),
    };
    let (loaded, mut errors) = load_paths(&args.paths, &opts);
    let (library, library_errors) = load_paths(&args.templates, &opts);
    errors.extend(library_errors);
    if !errors.is_empty() {
        for e in &errors {
            let _ = writeln!(err, "error: {e}");
        }
        return None;
    }
    let mut world = World::default();
    // Library templates first, so a template given with -f takes precedence over the library.
    for l in library {
        if let Document::Template(t) = l.document {
            world.add_template(*t);
        }
    }
    let mut inputs = Inputs {
        world,
        products: Vec::new(),
        templates: Vec::new(),
        accesses: Vec::new(),
    };
    for l in loaded {
        match l.document {
            Document::Product(p) => {
                let r = World::product_ref(&p);
                if let Some((_, first)) = inputs.products.iter().find(|(other, _)| other == &r) {
                    let _ = writeln!(
                        err,
                        "error: {}: DataProduct {r} is also defined at {first}",
                        l.source
                    );
                    return None;
                }
                inputs.products.push((r, l.source));
                inputs.world.add_product(*p);
            }
            Document::Template(t) => {
                inputs.world.add_template((*t).clone());
                inputs.templates.push((*t, l.source));
            }
            Document::Access(a) => {
                inputs.world.accesses.push((*a).clone());
                inputs.accesses.push((*a, l.source));
            }
        }
    }
    inputs.products.sort_by(|a, b| a.0.cmp(&b.0));
    Some(inputs)
}
