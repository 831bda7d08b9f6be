//! The model both governance and the planner work on: derived names, Glue types, name
//! placeholders, the known world and who may read what, and content hashing. Pure; it imports
//! only the API types.

pub mod glue_type;
pub mod hashing;
pub mod names;
pub mod naming;
pub mod placeholders;
pub mod world;

pub use naming::Names;
pub use world::{grantable_layer, grantable_outputs, public_outputs, request_is_bound, World};
