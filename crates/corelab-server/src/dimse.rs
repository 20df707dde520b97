//! The DICOM storage SCP: C-ECHO and C-STORE over DIMSE (PS3.7) on dicom-ul's async upper layer.
//!
//! An association is accepted only from a calling AE title registered for a site of a trial
//! (`site_ae_titles`, read again at every new connection, so a trial created while the server runs
//! is served at once); any other is rejected with A-ASSOCIATE-RJ "calling AE title not recognized"
//! and the rejection is audited. Every transfer syntax the registry knows is accepted;
//! encapsulated pixel data is stored as received. Each C-STORE data set is handed to the ingest
//! pipeline, and the C-STORE response is sent only when the outcome is durable: 0x0000 when stored
//! (or a duplicate of what is stored), a failure status with an Error Comment when the object was
//! quarantined or refused. Objects larger than the limit are read and dropped, never buffered
//! whole, and answered 0xA700. Idle and total time limits end stalled associations with A-ABORT.

use crate::spool::Spool;
use corelab_dicom::dimse::{
    command_text, command_u16, encode_command, part10_head, read_command, response,
};
use corelab_ingest::routes::{Destination, Refusal, Refused, Routes};
use corelab_ingest::{Ingestor, Outcome, Source};
use corelab_store::NewEvent;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_ul::association::Association as _;
use dicom_ul::association::server::AccessControl;
use dicom_ul::pdu::{AssociationRJServiceUserReason, PDataValue, PDataValueType, UserIdentity};
use dicom_ul::{Pdu, ServerAssociationOptions};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};

/// The Verification SOP class (C-ECHO).
const VERIFICATION: &str = "1.2.840.10008.1.1";

/// How the SCP runs.
#[derive(Clone, Debug)]
pub struct DimseConfig {
    /// This node's AE title.
    pub ae_title: String,
    /// The largest PDU this node receives.
    pub max_pdu: u32,
    /// Associations served at once; more wait for a free slot.
    pub max_associations: usize,
    /// An association silent for this long is aborted.
    pub idle_timeout: Duration,
    /// An association open for this long is aborted.
    pub total_timeout: Duration,
    /// The largest object accepted, in bytes.
    pub max_object_bytes: u64,
    /// An object being received is held in memory up to this size, then in a temporary file.
    pub spill_bytes: usize,
    /// Where received objects larger than `spill_bytes` are held (unnamed files).
    pub spool_dir: PathBuf,
    /// Memory the objects being processed at once may take, counted as three times their size
    /// (received, parsed, de-identified). A larger object is processed alone.
    pub memory_budget_bytes: u64,
}

impl Default for DimseConfig {
    fn default() -> Self {
        Self {
            ae_title: "CORELAB".into(),
            max_pdu: 65_536,
            max_associations: 64,
            idle_timeout: Duration::from_secs(60),
            total_timeout: Duration::from_secs(6 * 3600),
            max_object_bytes: 2 << 30,
            spill_bytes: 8 << 20,
            spool_dir: std::env::temp_dir(),
            memory_budget_bytes: 4 << 30,
        }
    }
}

/// The access check dicom-ul runs during association negotiation: a calling AE title registered
/// for a site, calling this node by the AE title that site uses. Rejections are reported for the
/// audit trail.
struct SiteAccess {
    routes: Arc<RwLock<Routes>>,
    rejected: mpsc::UnboundedSender<(String, String, String)>,
}

impl AccessControl for SiteAccess {
    fn check_access(
        &self,
        this_ae_title: &str,
        calling_ae_title: &str,
        called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> Result<(), AssociationRJServiceUserReason> {
        let resolved = match self.routes.read() {
            Ok(r) => r.resolve(this_ae_title, calling_ae_title, called_ae_title),
            Err(_) => Err(Refusal {
                reason: Refused::Unavailable,
                why: "the routing table is unavailable".into(),
            }),
        };
        match resolved {
            Ok(_) => Ok(()),
            Err(refusal) => {
                let _ = self.rejected.send((
                    calling_ae_title.trim().to_owned(),
                    called_ae_title.trim().to_owned(),
                    refusal.why,
                ));
                Err(match refusal.reason {
                    Refused::CallingAeTitle => {
                        AssociationRJServiceUserReason::CallingAETitleNotRecognized
                    }
                    Refused::CalledAeTitle => {
                        AssociationRJServiceUserReason::CalledAETitleNotRecognized
                    }
                    Refused::Unavailable => AssociationRJServiceUserReason::NoReasonGiven,
                })
            }
        }
    }
}

/// Serves associations on `listener` until the task is dropped.
pub async fn serve(
    listener: TcpListener,
    ingestor: Arc<Ingestor>,
    config: DimseConfig,
) -> std::io::Result<()> {
    let store = ingestor.store().clone();
    let routes = Arc::new(RwLock::new(
        Routes::load(&store)
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?,
    ));
    let (rejected_tx, mut rejected_rx) = mpsc::unbounded_channel::<(String, String, String)>();
    {
        // Rejections are audited from here: the access check itself runs synchronously.
        let store = store.clone();
        tokio::spawn(async move {
            while let Some((calling, called, why)) = rejected_rx.recv().await {
                let recorded = async {
                    let mut tx = store.begin("dimse").await?;
                    tx.record(
                        NewEvent::new("dimse.reject", "association", &calling).details(
                            serde_json::json!({"calling_ae": calling, "called_ae": called, "why": why}),
                        ),
                    )
                    .await?;
                    tx.commit().await
                };
                if let Err(e) = recorded.await {
                    tracing::warn!(error = %e, "could not audit a rejected association");
                }
            }
        });
    }
    let mut options = ServerAssociationOptions::new()
        .ae_access_control(SiteAccess {
            routes: routes.clone(),
            rejected: rejected_tx,
        })
        .ae_title(config.ae_title.clone())
        .max_pdu_length(config.max_pdu)
        .promiscuous(true)
        .with_abstract_syntax(VERIFICATION);
    for ts in TransferSyntaxRegistry.iter() {
        options = options.with_transfer_syntax(ts.uid());
    }
    let options = Arc::new(options);
    let slots = Arc::new(Semaphore::new(config.max_associations.max(1)));
    let budget = Arc::new(Budget::new(config.memory_budget_bytes));
    loop {
        let (socket, peer) = listener.accept().await?;
        // Without TCP_NODELAY each small response waits ~40 ms for Nagle's algorithm.
        let _ = socket.set_nodelay(true);
        // Sites registered while the server runs are routed from their first association on.
        let current = routes.read().map(|r| r.clone()).unwrap_or_default();
        match current.reload(&store).await {
            Ok(fresh) => {
                if let Ok(mut r) = routes.write() {
                    *r = fresh;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not reload AE title routes; using the last ones")
            }
        }
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return Ok(());
        };
        let (options, ingestor, config, routes, budget) = (
            options.clone(),
            ingestor.clone(),
            config.clone(),
            routes.clone(),
            budget.clone(),
        );
        tokio::spawn(async move {
            let established =
                tokio::time::timeout(config.idle_timeout, options.establish_async(socket)).await;
            match established {
                Ok(Ok(association)) => {
                    let calling = association.peer_ae_title().trim().to_owned();
                    let called = association.called_ae_title().trim().to_owned();
                    let destination = routes
                        .read()
                        .ok()
                        .and_then(|r| r.resolve(&config.ae_title, &calling, &called).ok());
                    if let Some(destination) = destination {
                        let session = Session {
                            ingestor: &ingestor,
                            config: &config,
                            budget: &budget,
                            destination,
                            origin: format!("dimse:{calling}->{called}@{peer}"),
                        };
                        session.run(association).await;
                    }
                }
                Ok(Err(e)) => tracing::info!(%peer, error = %e, "association not established"),
                Err(_) => tracing::info!(%peer, "association negotiation timed out"),
            }
            drop(permit);
        });
    }
}

type Association = dicom_ul::association::server::AsyncServerAssociation<tokio::net::TcpStream>;

/// One association: DIMSE messages until release, abort or a time limit.
struct Session<'a> {
    ingestor: &'a Ingestor,
    config: &'a DimseConfig,
    budget: &'a Budget,
    destination: Destination,
    origin: String,
}

/// A C-STORE request being received.
struct StoreRequest {
    context: u8,
    message_id: u16,
    sop_class: String,
    sop_instance: String,
    /// The Part 10 object being assembled, or the answer already decided (the data set is then
    /// read and dropped).
    body: Result<Spool, (u16, String)>,
}

/// Memory for objects being processed, in MiB: each takes three times its size (received,
/// parsed, de-identified), so many large objects at once wait rather than exhaust memory.
struct Budget {
    mib: Semaphore,
    total: u32,
}

impl Budget {
    fn new(bytes: u64) -> Self {
        let total = u32::try_from(bytes >> 20).unwrap_or(u32::MAX).max(1);
        Self {
            mib: Semaphore::new(total as usize),
            total,
        }
    }

    async fn reserve(&self, object_bytes: u64) -> Option<tokio::sync::SemaphorePermit<'_>> {
        let need = u32::try_from((object_bytes.saturating_mul(3) >> 20) + 1).unwrap_or(u32::MAX);
        self.mib.acquire_many(need.min(self.total)).await.ok()
    }
}

impl Session<'_> {
    async fn run(&self, mut association: Association) {
        let started = Instant::now();
        let mut pending: Option<StoreRequest> = None;
        loop {
            let left = self.config.total_timeout.saturating_sub(started.elapsed());
            if left.is_zero() {
                tracing::info!(origin = %self.origin, "association open too long: aborted");
                let _ = association.abort().await;
                return;
            }
            let pdu = match tokio::time::timeout(
                self.config.idle_timeout.min(left),
                association.receive(),
            )
            .await
            {
                Ok(Ok(pdu)) => pdu,
                Ok(Err(e)) => {
                    // A malformed PDU or a closed connection: whatever was being received is
                    // dropped whole. A peer still listening is told with A-ABORT (PS3.8 9.3.8).
                    tracing::info!(origin = %self.origin, error = %e, "association ended");
                    let _ = association.abort().await;
                    return;
                }
                Err(_) => {
                    tracing::info!(origin = %self.origin, "association idle too long: aborted");
                    let _ = association.abort().await;
                    return;
                }
            };
            match pdu {
                Pdu::PData { data } => {
                    for value in data {
                        if let Err(e) = self.on_value(&mut association, &mut pending, value).await {
                            tracing::warn!(origin = %self.origin, error = %e, "aborting association");
                            let _ = association.abort().await;
                            return;
                        }
                    }
                }
                Pdu::ReleaseRQ => {
                    let _ = association.send(&Pdu::ReleaseRP).await;
                    return;
                }
                Pdu::AbortRQ { .. } => {
                    // A request cut short by the sender is dropped: nothing half-stored.
                    return;
                }
                _ => {}
            }
        }
    }

    async fn on_value(
        &self,
        association: &mut Association,
        pending: &mut Option<StoreRequest>,
        value: PDataValue,
    ) -> Result<(), String> {
        match value.value_type {
            PDataValueType::Command => {
                if !value.is_last {
                    return Err("command sets split over several PDVs are not supported".into());
                }
                let command = read_command(&value.data)?;
                let field = command_u16(&command, tags::COMMAND_FIELD)?;
                let message_id = command_u16(&command, tags::MESSAGE_ID)?;
                match field {
                    0x0030 => {
                        let rsp = response(0x8030, message_id, VERIFICATION, None, 0x0000, None);
                        send_command(association, value.presentation_context_id, rsp).await
                    }
                    0x0001 => {
                        let sop_class = command_text(&command, tags::AFFECTED_SOP_CLASS_UID);
                        let sop_instance = command_text(&command, tags::AFFECTED_SOP_INSTANCE_UID);
                        let body = self.start(
                            association,
                            value.presentation_context_id,
                            &sop_class,
                            &sop_instance,
                        );
                        *pending = Some(StoreRequest {
                            context: value.presentation_context_id,
                            message_id,
                            sop_class,
                            sop_instance,
                            body,
                        });
                        Ok(())
                    }
                    other => Err(format!(
                        "DIMSE command 0x{other:04X} is not supported (only C-ECHO and C-STORE)"
                    )),
                }
            }
            PDataValueType::Data => {
                let Some(request) = pending.as_mut() else {
                    return Err("a data set arrived without a C-STORE request".into());
                };
                if let Ok(spool) = &mut request.body {
                    if spool.len() + value.data.len() as u64 > self.config.max_object_bytes {
                        request.body = Err((
                            0xA700,
                            format!(
                                "object larger than the limit of {} bytes",
                                self.config.max_object_bytes
                            ),
                        )); // read on, keep nothing
                    } else if let Err(e) = spool.push(&value.data).await {
                        tracing::error!(origin = %self.origin, error = %e, "cannot spool a received object");
                        request.body = Err((0xA700, format!("not stored, try again: {e}")));
                    }
                }
                if !value.is_last {
                    return Ok(());
                }
                let Some(request) = pending.take() else {
                    return Ok(());
                };
                let (status, comment) = self.store(request.body).await;
                let rsp = response(
                    0x8001,
                    request.message_id,
                    &request.sop_class,
                    Some(&request.sop_instance),
                    status,
                    comment.as_deref(),
                );
                send_command(association, request.context, rsp).await
            }
        }
    }

    /// How a C-STORE request's data set will be kept: a spool that starts with the Part 10
    /// preamble and file meta group (so the data set is appended as it arrives, never copied),
    /// or the answer when it will not be stored.
    fn start(
        &self,
        association: &Association,
        context: u8,
        sop_class: &str,
        sop_instance: &str,
    ) -> Result<Spool, (u16, String)> {
        if !corelab_ingest::checks::is_storage_sop_class(sop_class) {
            return Err((
                0x0122,
                format!("SOP class {sop_class} is not a storage SOP class"),
            ));
        }
        let ts = association
            .presentation_contexts()
            .iter()
            .find(|pc| pc.id == context)
            .map(|pc| pc.transfer_syntax.trim_end_matches('\0').to_owned())
            .unwrap_or_default();
        let head = part10_head(sop_class, sop_instance, &ts)
            .ok_or((0xC000, "cannot build the file meta group".to_owned()))?;
        Ok(Spool::new(
            head,
            self.config.spill_bytes,
            &self.config.spool_dir,
        ))
    }

    /// Ingests one received object; the status and error comment to answer with.
    async fn store(&self, body: Result<Spool, (u16, String)>) -> (u16, Option<String>) {
        let spool = match body {
            Ok(spool) => spool,
            Err((status, comment)) => return (status, Some(comment)),
        };
        let _memory = self.budget.reserve(spool.len()).await;
        let bytes = match spool.into_bytes().await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(origin = %self.origin, error = %e, "cannot read a spooled object");
                return (0xA700, Some(format!("not stored, try again: {e}")));
            }
        };
        let ingested = match &self.destination {
            Destination::Site { trial, site } => {
                let source = Source {
                    trial: trial.clone(),
                    site: site.clone(),
                    origin: self.origin.clone(),
                    subject: None,
                };
                self.ingestor.ingest(&source, bytes).await
            }
            Destination::ByClinicalTrial(sites) => {
                self.ingestor
                    .ingest_routed(sites, &self.origin, bytes)
                    .await
            }
        };
        match ingested {
            Ok(Outcome::Stored { .. } | Outcome::Duplicate { .. } | Outcome::Conflict { .. }) => {
                (0x0000, None)
            }
            Ok(Outcome::Quarantined { id, reason }) => {
                let status = if reason.starts_with("missing") {
                    0xA900 // data set does not match SOP class
                } else {
                    0xC000 // cannot understand
                };
                (status, Some(format!("quarantined {id}: {reason}")))
            }
            Ok(Outcome::Skipped { reason } | Outcome::Refused { reason }) => (0xC000, Some(reason)),
            Err(e) => {
                tracing::error!(origin = %self.origin, error = %e, "ingest failed");
                (0xA700, Some(format!("not stored, try again: {e}")))
            }
        }
    }
}

async fn send_command(
    association: &mut Association,
    context: u8,
    command: InMemDicomObject,
) -> Result<(), String> {
    let data = encode_command(&command)?;
    association
        .send(&Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: context,
                value_type: PDataValueType::Command,
                is_last: true,
                data,
            }],
        })
        .await
        .map_err(|e| format!("cannot send a DIMSE response: {e}"))
}

/// Where the SCP listens, resolved.
pub fn describe(addr: SocketAddr, config: &DimseConfig) -> String {
    format!(
        "DICOM storage SCP listening on {addr} as AE {}",
        config.ae_title
    )
}
