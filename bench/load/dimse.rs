//! The C-STORE side of the load: associations on dicom-ul's async client, each sending distinct
//! instances (fresh Study, Series and SOP Instance UIDs, one patient per association) made from
//! one template object until the phase ends.

use crate::stats::OpStats;
use anyhow::{Context, Result, bail};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN;
use dicom_transfer_syntax_registry::{TransferSyntaxIndex, TransferSyntaxRegistry};
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu, PresentationContextResultReason};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// UIDs of one length, so that the template's bytes can be patched in place: `2.25.` (a UUID-
/// derived root, PS3.5 B.2) then a kind digit, 18 digits of the run and 19 of a counter; no
/// component starts with 0.
const UID_LEN: usize = 43;
const PATIENT_LEN: usize = 11;

fn uid(kind: u8, run: u64, n: u64) -> String {
    format!(
        "2.25.{kind}{:018}{:019}",
        run % 1_000_000_000_000_000_000,
        n % 10_000_000_000_000_000_000
    )
}

/// The object sent, encoded once in its own transfer syntax with placeholder UIDs and Patient
/// ID whose byte offsets are known: each instance is a copy with those bytes overwritten, so the
/// driver spends little CPU beside the server on the same cores.
pub struct Template {
    bytes: Vec<u8>,
    study_at: usize,
    series_at: usize,
    sop_at: usize,
    patient_at: usize,
    pub sop_class: String,
    pub transfer_syntax: String,
    /// The run's part of every UID, so that two runs never send the same UID.
    run: u64,
    next_uid: AtomicU64,
}

fn find_once(hay: &[u8], needle: &[u8], what: &str, path: &Path) -> Result<usize> {
    let mut hits = hay
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i);
    let first = hits
        .next()
        .with_context(|| format!("{}: the encoded {what} was not found", path.display()))?;
    if hits.next().is_some() {
        bail!(
            "{}: the encoded {what} occurs twice; cannot patch it",
            path.display()
        );
    }
    Ok(first)
}

impl Template {
    pub fn load(path: &Path, run: u64) -> Result<Self> {
        let file = dicom_object::open_file(path)
            .with_context(|| format!("cannot read the template object {}", path.display()))?;
        let sop_class = file
            .meta()
            .media_storage_sop_class_uid()
            .trim_end_matches('\0')
            .to_owned();
        let ts_uid = file
            .meta()
            .transfer_syntax()
            .trim_end_matches('\0')
            .to_owned();
        let ts = TransferSyntaxRegistry.get(&ts_uid).with_context(|| {
            format!(
                "{}: transfer syntax {ts_uid} is not supported",
                path.display()
            )
        })?;
        let mut obj: InMemDicomObject = file.into_inner();
        let placeholders = [
            (tags::STUDY_INSTANCE_UID, uid(9, 1, 1)),
            (tags::SERIES_INSTANCE_UID, uid(9, 2, 2)),
            (tags::SOP_INSTANCE_UID, uid(9, 3, 3)),
        ];
        for (tag, value) in &placeholders {
            obj.put(DataElement::new(
                *tag,
                VR::UI,
                PrimitiveValue::from(value.as_str()),
            ));
        }
        let patient = "LOADPT-XXXX";
        obj.put(DataElement::new(
            tags::PATIENT_ID,
            VR::LO,
            PrimitiveValue::from(patient),
        ));
        let mut bytes = Vec::new();
        obj.write_dataset_with_ts(&mut bytes, ts)
            .with_context(|| format!("{}: cannot encode the template", path.display()))?;
        Ok(Self {
            study_at: find_once(&bytes, placeholders[0].1.as_bytes(), "Study UID", path)?,
            series_at: find_once(&bytes, placeholders[1].1.as_bytes(), "Series UID", path)?,
            sop_at: find_once(&bytes, placeholders[2].1.as_bytes(), "SOP UID", path)?,
            patient_at: find_once(&bytes, patient.as_bytes(), "Patient ID", path)?,
            bytes,
            sop_class,
            transfer_syntax: ts_uid,
            run,
            next_uid: AtomicU64::new(1),
        })
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// A fresh UID of `kind` (1 study, 2 series, 3 instance).
    fn fresh(&self, kind: u8) -> String {
        uid(
            kind,
            self.run,
            self.next_uid.fetch_add(1, Ordering::Relaxed),
        )
    }

    /// The data set of one instance, with its SOP Instance UID.
    fn instance(&self, study: &str, series: &str, patient: &str) -> (Vec<u8>, String) {
        let sop = self.fresh(3);
        let mut b = self.bytes.clone();
        b[self.study_at..self.study_at + UID_LEN].copy_from_slice(study.as_bytes());
        b[self.series_at..self.series_at + UID_LEN].copy_from_slice(series.as_bytes());
        b[self.sop_at..self.sop_at + UID_LEN].copy_from_slice(sop.as_bytes());
        b[self.patient_at..self.patient_at + PATIENT_LEN].copy_from_slice(patient.as_bytes());
        (b, sop)
    }
}

/// Where and as whom to associate.
#[derive(Clone, Debug)]
pub struct Target {
    pub addr: SocketAddr,
    pub called: String,
    pub calling: String,
}

/// When a phase ends: at its deadline, or at once when `stop` is set (the server died).
#[derive(Clone)]
pub struct Until {
    pub deadline: Instant,
    pub stop: Arc<AtomicBool>,
}

impl Until {
    pub fn done(&self) -> bool {
        Instant::now() >= self.deadline || self.stop.load(Ordering::Relaxed)
    }
}

/// What one association did.
#[derive(Default)]
pub struct AssociationOutcome {
    pub store: OpStats,
    /// Associations refused, aborted or not released cleanly.
    pub association_failures: u64,
    pub first_association_failures: Vec<String>,
}

impl AssociationOutcome {
    fn refuse(&mut self, why: String) {
        self.association_failures += 1;
        if self.first_association_failures.len() < 10 {
            self.first_association_failures.push(why);
        }
    }
}

/// One association: `id` is its patient (`LOADPT-NNNN`); a new study at its start and a new
/// series every `series_size` instances. With `interval`, one C-STORE every `interval` at most
/// (the soak's steady rate); `stored` counts successes for the progress line.
pub async fn association(
    target: Target,
    template: Arc<Template>,
    id: usize,
    series_size: u64,
    interval: Option<Duration>,
    until: Until,
    stored: Arc<AtomicU64>,
) -> AssociationOutcome {
    let mut out = AssociationOutcome::default();
    let options = dicom_ul::ClientAssociationOptions::new()
        .calling_ae_title(target.calling.as_str())
        .called_ae_title(target.called.as_str())
        .with_presentation_context(
            template.sop_class.as_str(),
            vec![template.transfer_syntax.as_str()],
        )
        .connection_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(120))
        .write_timeout(Duration::from_secs(120));
    let mut assoc = match options.establish_async(target.addr).await {
        Ok(a) => a,
        Err(e) => {
            out.refuse(format!(
                "association {id}: {} refused or failed to associate: {e}",
                target.addr
            ));
            return out;
        }
    };
    // Without TCP_NODELAY the request's last segment can wait for the peer's delayed ACK.
    let _ = assoc.inner_stream().set_nodelay(true);
    let Some(pc) = assoc
        .presentation_contexts()
        .iter()
        .find(|p| p.reason == PresentationContextResultReason::Acceptance)
        .map(|p| p.id)
    else {
        out.refuse(format!(
            "association {id}: {} accepted no presentation context for {} in {}",
            target.addr, template.sop_class, template.transfer_syntax
        ));
        let _ = assoc.abort().await;
        return out;
    };
    let patient = format!("LOADPT-{:04}", id % 10_000);
    let study = template.fresh(1);
    let mut series = template.fresh(2);
    let started = Instant::now();
    let mut sent: u64 = 0;
    while !until.done() {
        if let Some(every) = interval {
            let next = started + every.mul_f64(sent as f64);
            if next >= until.deadline {
                break;
            }
            tokio::time::sleep_until(next.into()).await;
        }
        if sent > 0 && sent.is_multiple_of(series_size.max(1)) {
            series = template.fresh(2);
        }
        let (data, sop) = template.instance(&study, &series, &patient);
        let message_id = (sent % 65_535 + 1) as u16;
        sent += 1;
        let t0 = Instant::now();
        match store_one(&mut assoc, pc, &template.sop_class, &sop, message_id, &data).await {
            Ok((0x0000, _)) => {
                out.store
                    .ok(t0.elapsed().as_micros() as u64, data.len() as u64);
                stored.fetch_add(1, Ordering::Relaxed);
            }
            Ok((status, _)) if status & 0xF000 == 0xB000 => {
                // A warning is a success with a remark (PS3.7 C.1.2.2); counted as stored.
                out.store
                    .ok(t0.elapsed().as_micros() as u64, data.len() as u64);
                stored.fetch_add(1, Ordering::Relaxed);
            }
            Ok((status, comment)) => out.store.fail(format!(
                "association {id}: C-STORE of {sop} answered status 0x{status:04X} ({comment})"
            )),
            Err(e) => {
                out.store
                    .fail(format!("association {id}: C-STORE of {sop}: {e}"));
                out.refuse(format!("association {id} lost after {sent} requests: {e}"));
                let _ = assoc.abort().await;
                return out;
            }
        }
    }
    if let Err(e) = assoc.release().await {
        out.refuse(format!("association {id}: release failed: {e}"));
    }
    out
}

type Assoc = dicom_ul::association::client::AsyncClientAssociation<tokio::net::TcpStream>;

/// One C-STORE request and its response: (status, error comment).
async fn store_one(
    assoc: &mut Assoc,
    pc: u8,
    sop_class: &str,
    sop: &str,
    message_id: u16,
    data: &[u8],
) -> Result<(u16, String)> {
    let command = InMemDicomObject::command_from_element_iter([
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(sop_class),
        ),
        DataElement::new(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(0x0001u16)),
        DataElement::new(tags::MESSAGE_ID, VR::US, PrimitiveValue::from(message_id)),
        DataElement::new(tags::PRIORITY, VR::US, PrimitiveValue::from(0u16)),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            PrimitiveValue::from(0x0000u16),
        ),
        DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(sop),
        ),
    ]);
    // Command sets are always Implicit VR Little Endian (PS3.7 6.3.1).
    let mut command_bytes = Vec::with_capacity(256);
    command
        .write_dataset_with_ts(&mut command_bytes, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
        .context("cannot encode the C-STORE request")?;
    assoc
        .send(&Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: pc,
                value_type: PDataValueType::Command,
                is_last: true,
                data: command_bytes,
            }],
        })
        .await
        .context("cannot send the C-STORE request")?;
    {
        let mut writer = assoc.send_pdata(pc);
        writer
            .write_all(data)
            .await
            .context("cannot send the data set")?;
        writer.finish().await.context("cannot send the data set")?;
    }
    let response = assoc.receive().await.context("no C-STORE response")?;
    let Pdu::PData { data: pdvs } = response else {
        bail!("the SCP answered {response:?} instead of a C-STORE response");
    };
    let bytes: Vec<u8> = pdvs.into_iter().flat_map(|p| p.data).collect();
    let rsp = InMemDicomObject::read_dataset_with_ts(
        bytes.as_slice(),
        &IMPLICIT_VR_LITTLE_ENDIAN.erased(),
    )
    .context("unreadable C-STORE response")?;
    let status = rsp
        .get(tags::STATUS)
        .and_then(|e| e.value().to_int::<u16>().ok())
        .context("a C-STORE response without a status")?;
    let comment = rsp
        .get(tags::ERROR_COMMENT)
        .and_then(|e| e.value().to_str().ok().map(|s| s.trim().to_owned()))
        .unwrap_or_default();
    Ok((status, comment))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_have_one_length_and_no_leading_zero() {
        for (k, r, n) in [(1, 0, 0), (3, u64::MAX, u64::MAX), (2, 12, 7)] {
            let u = uid(k, r, n);
            assert_eq!(u.len(), UID_LEN, "{u}");
            assert!(u.split('.').all(|c| c == "0" || !c.starts_with('0')), "{u}");
        }
    }
}
