//! `corelab phantom KIND --out DIR`: DICOM phantoms with their truth (`docs/phantoms.md`),
//! written by `corelab_dicom::phantom`.

use crate::cli::{Global, PhantomArgs};
use crate::output::emit;
use anyhow::Result;
use corelab_image::phantom::Options;
use serde_json::json;

pub async fn run(g: &Global, a: &PhantomArgs) -> Result<u8> {
    let options = Options {
        seed: a.seed,
        subjects: a.subjects,
        voxel_mm: a.voxel_mm,
        atrophy_percent: a.atrophy,
        subsamples: a.subsamples,
    };
    let (kind, out, json_out) = (a.kind, a.out.clone(), g.json);
    let bar = if !g.json && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::new(0).with_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} series  {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        )
    } else {
        indicatif::ProgressBar::hidden()
    };
    let written = tokio::task::spawn_blocking(move || {
        corelab_dicom::phantom::write(kind, &options, &out, &mut |done, total, what| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.set_message(what.to_owned());
        })
        .inspect(|_| bar.finish_and_clear())
    })
    .await??;
    let doc = json!({
        "kind": kind.name(),
        "seed": a.seed,
        "out": a.out,
        "subjects": written.subjects,
        "series": written.series,
        "instances": written.instances,
        "truth_files": written.truth_files,
        "template_files": written.template_files,
        "truth": written.truth,
    });
    emit(json_out, &doc, |_| {
        let templates = if written.template_files > 0 {
            format!(
                "\n  templates: {} images and regions under {}",
                written.template_files,
                a.out.join("templates").display()
            )
        } else {
            String::new()
        };
        format!(
            "phantom {} (seed {}): {} subjects, {} series, {} DICOM files in {}\n  truth: {} and {} masks and bias fields under {}{templates}",
            kind.name(),
            a.seed,
            written.subjects,
            written.series,
            written.instances,
            a.out.display(),
            written.truth.display(),
            written.truth_files,
            a.out.join("truth").display()
        )
    })?;
    Ok(0)
}
