//! Statistics over measurements and feature tables: agreement between raters or methods
//! (`agreement.rs`: Cohen's and Fleiss' κ, ICC, Bland–Altman, repeatability), ComBat
//! harmonisation across sites (`combat.rs`), and the analytical-validation report built from
//! them (`validation.rs`).

pub mod agreement;
pub mod combat;
pub mod validation;

#[cfg(test)]
mod combat_tests;
