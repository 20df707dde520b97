//! A DICOM storage SCU (C-STORE, PS3.7 9.1.1) on dicom-ul's client: sends Part 10 files to a
//! storage SCP over one association, each in the transfer syntax it was written in. The demo
//! sends its phantoms through it to corelab's own SCP on loopback; sending results back to a
//! PACS (issue 14) will use it too.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
use std::io::Write;
use std::path::PathBuf;

/// What a C-STORE of several files did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sent {
    /// Files the SCP acknowledged with success (0x0000) or a warning (0xB...).
    pub stored: usize,
    /// `(file, status, error comment)` of the others.
    pub failed: Vec<(String, u16, String)>,
}

/// Sends `files` to `address` (`AE@host:port`) as `calling`, over one association; the
/// presentation contexts are the files' SOP classes, each in its files' transfer syntax.
pub fn store_files(address: &str, calling: &str, files: &[PathBuf]) -> Result<Sent, String> {
    let mut objects = Vec::with_capacity(files.len());
    let mut contexts: Vec<(String, String)> = Vec::new();
    for path in files {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let parsed = corelab_dicom::read::read_bytes(&bytes)
            .map_err(|why| format!("{}: {why}", path.display()))?;
        let text = |tag| corelab_dicom::values::text(&parsed.dataset, tag).unwrap_or_default();
        let (class, instance) = (text(tags::SOP_CLASS_UID), text(tags::SOP_INSTANCE_UID));
        let ts = parsed.transfer_syntax.trim_end_matches('\0').to_owned();
        if !contexts.contains(&(class.clone(), ts.clone())) {
            contexts.push((class.clone(), ts.clone()));
        }
        objects.push((
            path.display().to_string(),
            class,
            instance,
            ts,
            parsed.dataset,
        ));
    }
    let mut options = dicom_ul::ClientAssociationOptions::new().calling_ae_title(calling);
    for (class, ts) in &contexts {
        options = options.with_presentation_context(class.as_str(), vec![ts.as_str()]);
    }
    let mut association = options
        .establish_with(address)
        .map_err(|e| format!("cannot associate with {address}: {e}"))?;
    let negotiated = association.presentation_contexts().to_vec();
    // Command sets are always Implicit VR Little Endian (PS3.7 6.3.1).
    let implicit = TransferSyntaxRegistry
        .get("1.2.840.10008.1.2")
        .ok_or("implicit VR little endian is not registered")?;
    let mut sent = Sent::default();
    for (n, (name, class, instance, ts, dataset)) in objects.into_iter().enumerate() {
        let Some(pc) = negotiated.iter().find(|p| {
            p.abstract_syntax.trim_end_matches('\0') == class
                && p.transfer_syntax.trim_end_matches('\0') == ts
                && p.reason == dicom_ul::pdu::PresentationContextResultReason::Acceptance
        }) else {
            sent.failed
                .push((name, 0x0122, format!("{class} in {ts} was not accepted")));
            continue;
        };
        let syntax = TransferSyntaxRegistry
            .get(&ts)
            .ok_or_else(|| format!("{name}: transfer syntax {ts} unknown"))?;
        let mut data = Vec::new();
        dataset
            .write_dataset_with_ts(&mut data, syntax)
            .map_err(|e| format!("{name}: cannot encode: {e}"))?;
        let command = InMemDicomObject::command_from_element_iter([
            DataElement::new(
                tags::AFFECTED_SOP_CLASS_UID,
                VR::UI,
                PrimitiveValue::from(class.as_str()),
            ),
            DataElement::new(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(0x0001u16)),
            DataElement::new(
                tags::MESSAGE_ID,
                VR::US,
                PrimitiveValue::from((n % 65535 + 1) as u16),
            ),
            DataElement::new(tags::PRIORITY, VR::US, PrimitiveValue::from(0u16)),
            DataElement::new(
                tags::COMMAND_DATA_SET_TYPE,
                VR::US,
                PrimitiveValue::from(0x0000u16),
            ),
            DataElement::new(
                tags::AFFECTED_SOP_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from(instance.as_str()),
            ),
        ]);
        let mut command_bytes = Vec::new();
        command
            .write_dataset_with_ts(&mut command_bytes, implicit)
            .map_err(|e| format!("cannot encode a C-STORE request: {e}"))?;
        association
            .send(&Pdu::PData {
                data: vec![PDataValue {
                    presentation_context_id: pc.id,
                    value_type: PDataValueType::Command,
                    is_last: true,
                    data: command_bytes,
                }],
            })
            .map_err(|e| format!("{name}: cannot send the request: {e}"))?;
        {
            let mut writer = association.send_pdata(pc.id);
            writer
                .write_all(&data)
                .map_err(|e| format!("{name}: cannot send the data set: {e}"))?;
            writer
                .finish()
                .map_err(|e| format!("{name}: cannot send the data set: {e}"))?;
        }
        let response = association
            .receive()
            .map_err(|e| format!("{name}: no response: {e}"))?;
        let Pdu::PData { data: pdvs } = response else {
            return Err(format!("{name}: the SCP answered {response:?}"));
        };
        let bytes: Vec<u8> = pdvs.into_iter().flat_map(|p| p.data).collect();
        let rsp = InMemDicomObject::read_dataset_with_ts(bytes.as_slice(), implicit)
            .map_err(|e| format!("{name}: unreadable response: {e}"))?;
        let status = rsp
            .get(tags::STATUS)
            .and_then(|e| e.value().to_int::<u16>().ok())
            .unwrap_or(0xFFFF);
        if status == 0 || status & 0xF000 == 0xB000 {
            sent.stored += 1;
        } else {
            let comment =
                corelab_dicom::values::text(&rsp, tags::ERROR_COMMENT).unwrap_or_default();
            sent.failed.push((name, status, comment));
        }
    }
    association
        .release()
        .map_err(|e| format!("releasing the association with {address}: {e}"))?;
    Ok(sent)
}
