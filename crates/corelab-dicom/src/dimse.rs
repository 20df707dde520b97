//! DIMSE command sets (PS3.7): a command PDV read (its lengths checked before dicom-rs parses
//! it), its fields, the response command sets a storage SCP sends, and the Part 10 head put
//! before a received data set. The association itself (dicom-ul) and what is done with the
//! objects live in `corelab-server`'s `dimse.rs`; this is the part without a socket, which the
//! fuzz target `dimse_pdu` runs too.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

/// The transfer syntax of every command set: implicit VR little endian (PS3.7 6.3.1).
pub fn command_syntax() -> dicom_encoding::TransferSyntax {
    dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased()
}

/// A DIMSE command set (implicit VR little endian, PS3.7 6.3.1) from a command PDV's bytes.
pub fn read_command(bytes: &[u8]) -> Result<InMemDicomObject, String> {
    // Lengths past the PDV and sequences nested past 64 are refused before the parser allocates
    // or recurses (a command set has no sequences at all).
    crate::skim::check(bytes, false).map_err(|e| format!("unreadable DIMSE command: {}", e.0))?;
    InMemDicomObject::read_dataset_with_ts(bytes, &command_syntax())
        .map_err(|e| format!("unreadable DIMSE command: {e}"))
}

/// A command set's US field (Command Field, Message ID), or why it has none.
pub fn command_u16(command: &InMemDicomObject, tag: dicom_core::Tag) -> Result<u16, String> {
    command
        .element(tag)
        .map_err(|_| format!("DIMSE command without {tag}"))?
        .to_int::<u16>()
        .map_err(|_| format!("DIMSE command {tag} is not a number"))
}

/// A command set's text field (a UID) without its padding; empty when absent.
pub fn command_text(command: &InMemDicomObject, tag: dicom_core::Tag) -> String {
    command
        .element(tag)
        .ok()
        .and_then(|e| {
            e.to_str()
                .ok()
                .map(|s| s.trim_end_matches(['\0', ' ']).to_owned())
        })
        .unwrap_or_default()
}

/// A DIMSE response command set (PS3.7 9.3 and 9.1.5).
pub fn response(
    field: u16,
    message_id: u16,
    sop_class: &str,
    sop_instance: Option<&str>,
    status: u16,
    comment: Option<&str>,
) -> InMemDicomObject {
    let mut elements = vec![
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(sop_class),
        ),
        DataElement::new(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(field)),
        DataElement::new(
            tags::MESSAGE_ID_BEING_RESPONDED_TO,
            VR::US,
            PrimitiveValue::from(message_id),
        ),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            PrimitiveValue::from(0x0101u16),
        ),
        DataElement::new(tags::STATUS, VR::US, PrimitiveValue::from(status)),
    ];
    if let Some(uid) = sop_instance {
        elements.push(DataElement::new(
            tags::AFFECTED_SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from(uid),
        ));
    }
    if let Some(c) = comment {
        // Error Comment is LO: at most 64 characters.
        let c: String = c.chars().take(64).collect();
        elements.push(DataElement::new(
            tags::ERROR_COMMENT,
            VR::LO,
            PrimitiveValue::from(c),
        ));
    }
    InMemDicomObject::command_from_element_iter(elements)
}

/// The start of a received object as Part 10 bytes: preamble, `DICM`, the file meta group; the
/// data set follows as received.
pub fn part10_head(sop_class: &str, sop_instance: &str, ts: &str) -> Option<Vec<u8>> {
    let meta = dicom_object::meta::FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(sop_class)
        .media_storage_sop_instance_uid(sop_instance)
        .transfer_syntax(ts)
        .build()
        .ok()?;
    let mut out = vec![0u8; 128];
    out.extend_from_slice(b"DICM"); // FileMetaTable::write writes the group, not the magic
    meta.write(&mut out).ok()?;
    Some(out)
}

/// A command set encoded for a command PDV.
pub fn encode_command(command: &InMemDicomObject) -> Result<Vec<u8>, String> {
    let mut data = Vec::new();
    command
        .write_dataset_with_ts(&mut data, &command_syntax())
        .map_err(|e| format!("cannot encode a DIMSE response: {e}"))?;
    Ok(data)
}
