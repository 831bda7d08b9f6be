//! The AWS step: ensures the planned S3 buckets, Glue database and tables, the product's IAM role
//! and consumer grants. (Interface fixed here; implementation in progress.)
