//! The catalogue (`dpctl catalog`): a read-only, searchable index of the mesh's DataProducts,
//! built from the same evaluation the operator runs, served as a JSON API and HTML pages.

pub mod html;
pub mod index;
pub mod lineage;
pub mod query;
pub mod server;
