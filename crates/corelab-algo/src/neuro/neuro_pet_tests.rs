//! `neuro.amyloid-centiloid` and `neuro.dat-sbr` on the neuro PET/SPECT phantom (`corelab phantom
//! neuro-pet`): each subject's PET and SPECT rendered as the phantom writes them (moved head,
//! scanner blur, noise), quantified with the phantom's template images and regions, against the
//! phantom's region-mean truth. The figures are in docs/algorithms/neuro.amyloid-centiloid.md and
//! neuro.dat-sbr.md.

use super::amyloid::{AmyloidCentiloid, Conversion};
use super::dat_sbr::DatSbr;
use crate::Inputs;
use corelab_image::Volume;
use corelab_image::phantom::neuro_pet::{NeuroPetTruth, STRIATAL_REGIONS, templates};
use corelab_image::phantom::{Kind, Options, plan};
use std::collections::BTreeMap;

use crate::neuro::testing::value;

#[test]
fn amyloid_and_dat_on_the_neuro_pet_phantom_match_the_region_mean_truth() {
    let options = Options {
        subjects: 3,
        subsamples: 2,
        ..Options::default()
    };
    let p = plan(Kind::NeuroPet, &options).expect("plan");
    let files: BTreeMap<String, Volume<f32>> = templates(options.subsamples)
        .expect("templates")
        .into_iter()
        .collect();
    let file = |name: &str| files[name].clone();
    let florbetapir = Conversion::of("florbetapir").expect("tracer");
    let (mut worst_suvr, mut worst_cl, mut worst_sbr) = (0.0f64, 0.0f64, 0.0f64);
    for (n, subject) in p.truth.subjects.iter().enumerate() {
        let t: &NeuroPetTruth = subject.visits[0].neuro_pet.as_ref().expect("truth");
        let pet = p.series[2 * n].render(options.subsamples).expect("pet");
        let spect = p.series[2 * n + 1]
            .render(options.subsamples)
            .expect("spect");

        let mut i = Inputs::new();
        i.insert("pet".into(), pet.images[0].clone());
        i.insert("template".into(), file("amyloid-template"));
        i.insert("target".into(), file("cortex"));
        i.insert("reference".into(), file("whole-cerebellum"));
        let given = BTreeMap::from([("tracer".to_owned(), "florbetapir".to_owned())]);
        let (_, out) = crate::run(&AmyloidCentiloid, &i, &given).expect("amyloid runs");
        let suvr = value(&out, "suvr");
        let cl = value(&out, "centiloid");
        let cl_truth = florbetapir.centiloid(t.suvr);
        println!(
            "{}: SUVR {suvr:.4} (truth {:.4}, concentrations {:.4}), CL {cl:.1} (truth {cl_truth:.1})",
            subject.subject, t.suvr, t.suvr_concentration
        );
        worst_suvr = worst_suvr.max((suvr / t.suvr - 1.0).abs());
        worst_cl = worst_cl.max((cl - cl_truth).abs());
        assert_eq!(
            value(&out, "positive"),
            f64::from(u8::from(cl_truth >= 24.1)),
            "{}: positivity",
            subject.subject
        );

        let mut i = Inputs::new();
        i.insert("spect".into(), spect.images[0].clone());
        i.insert("template".into(), file("dat-template"));
        i.insert("reference".into(), file("occipital"));
        for r in STRIATAL_REGIONS {
            i.insert(r.into(), file(r));
        }
        let (_, out) = crate::run(&DatSbr, &i, &BTreeMap::new()).expect("dat runs");
        for r in STRIATAL_REGIONS {
            let found = value(&out, &format!("sbr-{r}"));
            let truth = t.sbr[r];
            println!(
                "{}: SBR {r} {found:.3} (truth {truth:.3}, concentrations {:.3})",
                subject.subject, t.sbr_concentration[r]
            );
            worst_sbr = worst_sbr.max((found / truth - 1.0).abs());
        }
        let asym = value(&out, "asymmetry-putamen");
        println!(
            "{}: putamen asymmetry {asym:.1} % (truth {:.1} %)",
            subject.subject, t.asymmetry_putamen_percent
        );
        assert!(
            (asym - t.asymmetry_putamen_percent).abs() <= 10.0,
            "{}: asymmetry {asym} against {}",
            subject.subject,
            t.asymmetry_putamen_percent
        );
    }
    println!(
        "worst: SUVR {:.2} %, Centiloid {worst_cl:.2} CL, SBR {:.2} %",
        100.0 * worst_suvr,
        100.0 * worst_sbr
    );
    assert!(
        worst_suvr <= 0.02,
        "SUVR off by {:.2} %",
        100.0 * worst_suvr
    );
    assert!(worst_cl <= 4.0, "Centiloid off by {worst_cl:.2}");
    assert!(worst_sbr <= 0.08, "SBR off by {:.2} %", 100.0 * worst_sbr);
}
