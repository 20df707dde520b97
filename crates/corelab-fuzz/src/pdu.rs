//! The `dimse_pdu` target: bytes as they arrive on the storage SCP's socket. PDUs are decoded one
//! after another with dicom-ul's reader, strict and with the SCP's maximum PDU length, as the
//! association does; each is written back with dicom-ul's writer; and what corelab's SCP does
//! with them is done here too, without the socket: the A-ASSOCIATE-RQ's AE titles resolved
//! against the routes of the fuzz installation, command sets read and answered (C-ECHO,
//! C-STORE), and a C-STORE's data set assembled behind its Part 10 head and parsed as the ingest
//! pipeline parses it.
//!
//! Property: nothing panics.

use crate::lab;
use corelab_dicom::dimse::{
    command_text, command_u16, encode_command, part10_head, read_command, response,
};
use corelab_ingest::routes::Routes;
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_ul::Pdu;
use dicom_ul::pdu::{PDataValue, PDataValueType, read_pdu, write_pdu};
use std::sync::OnceLock;

/// The most PDUs read from one input (each needs at least 6 bytes anyway).
const MAX_PDUS: usize = 256;

const VERIFICATION: &str = "1.2.840.10008.1.1";

/// The storage SCP's defaults (`DimseConfig` in corelab-server's `dimse.rs`): the largest PDU
/// it receives, and its AE title.
const MAX_PDU: u32 = 65_536;
const AE_TITLE: &str = "CORELAB";

/// A C-STORE being received.
struct Pending {
    message_id: u16,
    sop_class: String,
    sop_instance: String,
    /// The Part 10 object being assembled; `None` when the SCP reads the data set and drops it
    /// (not a storage SOP class, no file meta group for it).
    spool: Option<Vec<u8>>,
}

/// What an association has agreed so far.
#[derive(Default)]
struct Association {
    /// Presentation context id → the transfer syntax the SCP would accept (the first one
    /// proposed that the registry knows).
    contexts: Vec<(u8, String)>,
    pending: Option<Pending>,
    /// The SCP has aborted: later PDUs are not read.
    aborted: bool,
}

fn routes() -> &'static Routes {
    static ROUTES: OnceLock<Routes> = OnceLock::new();
    ROUTES.get_or_init(|| {
        lab::runtime()
            .block_on(Routes::load(&lab::lab().store))
            .unwrap_or_else(|e| panic!("fuzz setup: cannot load the AE title routes: {e}"))
    })
}

/// Runs the target; `true` when at least one PDU was decoded and the SCP did not abort.
pub fn run(data: &[u8]) -> bool {
    let mut buf = data;
    let mut assoc = Association::default();
    let mut decoded = 0;
    while decoded < MAX_PDUS && !assoc.aborted {
        let pdu = match read_pdu(&mut buf, MAX_PDU, true) {
            Ok(Some(pdu)) => pdu,
            Ok(None) | Err(_) => break,
        };
        decoded += 1;
        let mut written = Vec::new();
        let _ = write_pdu(&mut written, &pdu);
        match pdu {
            Pdu::AssociationRQ(rq) => {
                let _ = routes().resolve(AE_TITLE, &rq.calling_ae_title, &rq.called_ae_title);
                assoc.contexts = rq
                    .presentation_contexts
                    .iter()
                    .filter_map(|pc| {
                        let ts = pc.transfer_syntaxes.iter().find(|ts| {
                            TransferSyntaxRegistry
                                .get(ts.trim_end_matches('\0'))
                                .is_some()
                        })?;
                        Some((pc.id, ts.trim_end_matches('\0').to_owned()))
                    })
                    .collect();
            }
            Pdu::PData { data } => {
                for value in data {
                    if on_value(&mut assoc, value).is_err() {
                        assoc.aborted = true;
                        break;
                    }
                }
            }
            Pdu::ReleaseRQ | Pdu::AbortRQ { .. } => break,
            _ => {}
        }
    }
    decoded > 0 && !assoc.aborted
}

/// What the SCP does with one PDV (`Session::on_value` in corelab-server's `dimse.rs`); `Err`
/// where it aborts the association.
fn on_value(assoc: &mut Association, value: PDataValue) -> Result<(), String> {
    match value.value_type {
        PDataValueType::Command => {
            if !value.is_last {
                return Err("a command set split over several PDVs".into());
            }
            let command = read_command(&value.data)?;
            let field = command_u16(&command, tags::COMMAND_FIELD)?;
            let message_id = command_u16(&command, tags::MESSAGE_ID)?;
            match field {
                0x0030 => answer(response(
                    0x8030,
                    message_id,
                    VERIFICATION,
                    None,
                    0x0000,
                    None,
                )),
                0x0001 => {
                    let sop_class = command_text(&command, tags::AFFECTED_SOP_CLASS_UID);
                    let sop_instance = command_text(&command, tags::AFFECTED_SOP_INSTANCE_UID);
                    let ts = assoc
                        .contexts
                        .iter()
                        .find(|(id, _)| *id == value.presentation_context_id)
                        .map(|(_, ts)| ts.clone())
                        .unwrap_or_default();
                    let storage = corelab_ingest::checks::is_storage_sop_class(&sop_class);
                    let spool = storage
                        .then(|| part10_head(&sop_class, &sop_instance, &ts))
                        .flatten();
                    assoc.pending = Some(Pending {
                        message_id,
                        sop_class,
                        sop_instance,
                        spool,
                    });
                    Ok(())
                }
                other => Err(format!("DIMSE command 0x{other:04X}")),
            }
        }
        PDataValueType::Data => {
            let Some(pending) = assoc.pending.as_mut() else {
                return Err("a data set without a C-STORE request".into());
            };
            if let Some(spool) = &mut pending.spool {
                spool.extend_from_slice(&value.data);
            }
            if !value.is_last {
                return Ok(());
            }
            let Some(done) = assoc.pending.take() else {
                return Ok(());
            };
            // The ingest pipeline's first step on the assembled object (the whole pipeline is
            // the `dicom_ingest` target's).
            let status = match done.spool.map(|s| corelab_dicom::read::read_bytes(&s)) {
                Some(Ok(_)) => 0x0000,
                Some(Err(_)) => 0xC000,
                None => 0x0122,
            };
            answer(response(
                0x8001,
                done.message_id,
                &done.sop_class,
                Some(&done.sop_instance),
                status,
                (status != 0).then_some("quarantined: not readable"),
            ))
        }
    }
}

/// Encodes a response command set as the SCP sends it (implicit VR little endian).
fn answer(command: dicom_object::InMemDicomObject) -> Result<(), String> {
    let data = encode_command(&command)?;
    let mut out = Vec::new();
    write_pdu(
        &mut out,
        &Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: 1,
                value_type: PDataValueType::Command,
                is_last: true,
                data,
            }],
        },
    )
    .map_err(|e| format!("cannot write a P-DATA-TF: {e}"))
}
