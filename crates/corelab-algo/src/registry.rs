//! The catalogue of built-in algorithms.

use crate::Algorithm;
use std::collections::BTreeMap;

/// Algorithms by id.
pub struct Registry {
    by_id: BTreeMap<&'static str, Box<dyn Algorithm>>,
}

impl Registry {
    /// Every built-in algorithm.
    pub fn builtin() -> Self {
        let all: Vec<Box<dyn Algorithm>> = vec![
            Box::new(crate::image::MaskVolume),
            Box::new(crate::image::BiasN4),
            Box::new(crate::neuro::pbvc::Pbvc),
            Box::new(crate::neuro::amyloid::AmyloidCentiloid),
            Box::new(crate::neuro::dat_sbr::DatSbr),
            Box::new(crate::neuro::brain_extraction::BrainExtraction),
            Box::new(crate::neuro::ms_lesions::MsLesions),
            Box::new(crate::neuro::lesion_change::LesionChange),
            Box::new(crate::neuro::tissue_seg::TissueSeg),
            Box::new(crate::onco::Recist11),
            Box::new(crate::onco::Rano),
            Box::new(crate::onco::LesionSeg),
            Box::new(crate::onco::LesionTrack),
            Box::new(crate::pet::suv_metrics::SuvMetrics),
            Box::new(crate::pet::percist::Percist),
            Box::new(crate::cardiac::lv_function::LvFunction),
            Box::new(crate::cardiac::lge::Lge),
            Box::new(crate::radiomics::Ibsi),
            Box::new(crate::predict::PredictModel),
            Box::new(crate::dl::segment::Segment),
            Box::new(crate::dl::segment::FlairLesions),
        ];
        Self {
            by_id: all.into_iter().map(|a| (a.id(), a)).collect(),
        }
    }

    /// The algorithm of an id.
    pub fn get(&self, id: &str) -> Option<&dyn Algorithm> {
        self.by_id.get(id).map(|a| a.as_ref())
    }

    /// All of them, by id.
    pub fn all(&self) -> impl Iterator<Item = &dyn Algorithm> {
        self.by_id.values().map(|a| a.as_ref())
    }

    /// The ids, for messages.
    pub fn ids(&self) -> Vec<&'static str> {
        self.by_id.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_is_well_formed() {
        let r = Registry::builtin();
        for a in r.all() {
            let (area, name) = a.id().split_once('.').expect("ids are area.name");
            assert!(!area.is_empty() && !name.is_empty(), "{}", a.id());
            semver::Version::parse(a.version()).unwrap_or_else(|e| panic!("{}: {e}", a.id()));
            assert!(!a.description().is_empty() && !a.references().is_empty());
            // Every algorithm takes something; one that takes one of several sets of inputs
            // (cardiac.lv-function: ED/ES masks, label maps, or every temporal position) has
            // no single role it requires, and says what is missing itself.
            assert!(!a.inputs().is_empty(), "{}", a.id());
            assert!(
                !a.measurements().is_empty() || !a.images().is_empty(),
                "{} makes nothing",
                a.id()
            );
            // Every derived image is on one of its inputs' grids, and names its segments.
            let roles: Vec<&str> = a.inputs().iter().map(|i| i.role).collect();
            for i in a.images() {
                assert!(
                    roles.contains(&i.grid),
                    "{}: {} on {}",
                    a.id(),
                    i.role,
                    i.grid
                );
                if let crate::ImageKind::Labels(labels) = i.kind {
                    assert!(labels.iter().all(|(v, name)| *v > 0 && !name.is_empty()));
                }
            }
            // Every default is a value its own declaration accepts.
            for p in a.parameters() {
                let text = match &p.default {
                    // Optional without a default: nothing to parse.
                    crate::ParamValue::Unset => continue,
                    crate::ParamValue::Number(x) => x.to_string(),
                    crate::ParamValue::Integer(i) => i.to_string(),
                    crate::ParamValue::Boolean(b) => b.to_string(),
                    crate::ParamValue::Choice(c) | crate::ParamValue::Text(c) => c.clone(),
                };
                let parsed = crate::params::parse(&p, &text)
                    .unwrap_or_else(|e| panic!("{}: default of {}: {e}", a.id(), p.name));
                assert_eq!(parsed, p.default, "{}: {}", a.id(), p.name);
            }
        }
        assert!(r.get("image.mask-volume").is_some());
        assert!(r.get("nope").is_none());
    }
}
