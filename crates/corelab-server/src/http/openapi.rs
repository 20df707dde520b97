//! The OpenAPI 3.1 document of the REST API, generated from the handlers' annotations
//! (`utoipa`), served at `/api/v1/openapi.json`. DICOMweb follows PS3.18 and is described there.

use super::dicomweb::{qido, stow, wado};
use super::{api, auth, exports, reads, views};
use axum::Json;
use utoipa::OpenApi;

/// The API's description.
#[derive(OpenApi)]
#[openapi(
    info(title = "corelab API", description = "corelab's REST API: the catalogue, QC, queries, jobs, \
        results, central reads with e-signatures, the audit trail and users. Errors are RFC 9457 problem details. DICOMweb \
        (STOW-RS, QIDO-RS, WADO-RS per DICOM PS3.18) is served per trial under /dicomweb/{trial}; \
        its query keys and media types are those of the standard."),
    paths(
        auth::login, auth::logout, api::me, api::trials, api::trial, api::sites, api::subjects,
        api::series, api::qc, api::qc_decisions, api::decide_qc, api::queries, api::raise_query,
        api::answer_query, api::close_query, api::jobs, api::job, api::run, api::measurements, exports::results, exports::dictionary,
        api::audit_events, api::audit_verify, api::users, api::add_user, api::status,
        api::algorithms, api::quarantine, api::create_trial, api::provenance,
        views::dashboard, views::series_detail, views::series_volume, views::job_image,
        reads::worklist, reads::task, reads::save, reads::sign_task, reads::propose, reads::trial_reads,
        reads::plan, reads::stats, reads::sign_record, reads::signatures, reads::signature,
        qido::studies, qido::all_series, qido::study_series, qido::all_instances,
        qido::study_instances, qido::series_instances, stow::store, stow::store_in_study,
        wado::study, wado::series, wado::instance, wado::study_metadata, wado::series_metadata,
        wado::instance_metadata, wado::frames, wado::bulk, wado::rendered, wado::rendered_frame,
    ),
    components(schemas(auth::Login, api::Decision, api::NewQuery, api::StepText, api::AddUser, reads::SignBody, reads::Click)),
    tags(
        (name = "auth", description = "login, logout, the caller"),
        (name = "catalogue", description = "trials, sites, subjects, series"),
        (name = "qc", description = "QC evaluations, decisions and queries"),
        (name = "results", description = "jobs, measurements and the endpoint dataset"),
        (name = "images", description = "images as NIfTI for the viewer: series volumes, derived images"),
        (name = "reads", description = "central reads: worklists, blinded cases, e-signatures, adjudication, reader statistics"),
        (name = "audit", description = "the hash-chained audit trail"),
        (name = "users", description = "accounts and grants"),
        (name = "dicomweb", description = "DICOM PS3.18 per trial: STOW-RS, QIDO-RS, WADO-RS"),
    )
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json` (no login needed).
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
