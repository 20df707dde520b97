//! `corelab subject assign | reveal`.

use super::{actor, open};
use crate::cli::{Global, SubjectCommand};
use crate::output::emit;
use anyhow::Result;
use corelab_store::OriginalIdentity;

pub async fn run(g: &Global, c: &SubjectCommand) -> Result<u8> {
    let store = open(g).await?;
    match c {
        SubjectCommand::Assign {
            trial,
            site,
            patient_id,
            patient_name,
            subject,
        } => {
            let original = OriginalIdentity {
                patient_id: patient_id.clone(),
                patient_name: patient_name.clone(),
                ..Default::default()
            };
            let link = store
                .assign_subject(&actor(g), trial, site, &original, subject)
                .await?;
            store.checkpoint().await?;
            emit(g.json, &link, |l| {
                if l.created {
                    format!("subject {} assigned at site {}", l.subject, l.site)
                } else {
                    format!(
                        "subject {} was already assigned at site {}",
                        l.subject, l.site
                    )
                }
            })?;
        }
        SubjectCommand::Reveal {
            trial,
            subject,
            reason,
        } => {
            let found = store
                .reveal_subjects(&actor(g), trial, subject.as_deref(), reason)
                .await?;
            store.checkpoint().await?;
            emit(g.json, &found, |rs| {
                rs.iter()
                    .map(|r| {
                        format!(
                            "{}\tsite {}\t{}\tPatientID {:?}\tPatientName {:?}",
                            r.subject,
                            r.site,
                            r.origin,
                            r.original.patient_id,
                            r.original.patient_name
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })?;
        }
    }
    Ok(0)
}
