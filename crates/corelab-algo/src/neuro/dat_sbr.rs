//! Placeholder: being written.

/// Placeholder.
pub struct DatSbr;
