//! DICOMweb (PS3.18) per trial under `/dicomweb/{trial}`: STOW-RS into the ingest pipeline
//! ([`stow`]), QIDO-RS from the index ([`qido`]), WADO-RS of instances, metadata, frames and bulk
//! data ([`wado`]), each route checking the caller's role on the trial and site, and readers'
//! answers blinded ([`blind`]).

pub mod blind;
pub mod qido;
pub mod stow;
pub mod wado;

use super::AppState;
use axum::Router;
use axum::routing::get;
use bytes::{BufMut, Bytes, BytesMut};

/// The DICOMweb routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/dicomweb/{trial}/studies",
            get(qido::studies).post(stow::store),
        )
        .route(
            "/dicomweb/{trial}/studies/{study}",
            get(wado::study).post(stow::store_in_study),
        )
        .route("/dicomweb/{trial}/studies/{study}/metadata", get(wado::study_metadata))
        .route("/dicomweb/{trial}/series", get(qido::all_series))
        .route("/dicomweb/{trial}/instances", get(qido::all_instances))
        .route("/dicomweb/{trial}/studies/{study}/series", get(qido::study_series))
        .route(
            "/dicomweb/{trial}/studies/{study}/instances",
            get(qido::study_instances),
        )
        .route(
            "/dicomweb/{trial}/studies/{study}/series/{series}",
            get(wado::series),
        )
        .route(
            "/dicomweb/{trial}/studies/{study}/series/{series}/metadata",
            get(wado::series_metadata),
        )
        .route(
            "/dicomweb/{trial}/studies/{study}/series/{series}/instances",
            get(qido::series_instances),
        )
        .route(
            "/dicomweb/{trial}/studies/{study}/series/{series}/instances/{instance}",
            get(wado::instance),
        )
        .route(
            "/dicomweb/{trial}/studies/{study}/series/{series}/instances/{instance}/metadata",
            get(wado::instance_metadata),
        )
        .route(
            "/dicomweb/{trial}/studies/{study}/series/{series}/instances/{instance}/frames/{frames}",
            get(wado::frames),
        )
        .route(
            "/dicomweb/{trial}/studies/{study}/series/{series}/instances/{instance}/bulk/{tag}",
            get(wado::bulk),
        )
        .route(
            "/dicomweb/{trial}/studies/{study}/series/{series}/instances/{instance}/rendered",
            get(wado::rendered),
        )
        .route(
            "/dicomweb/{trial}/studies/{study}/series/{series}/instances/{instance}/frames/{frames}/rendered",
            get(wado::rendered_frame),
        )
}

/// A `multipart/related` body: each part with its content type.
pub fn multipart_related(boundary: &str, parts: &[(String, Bytes)]) -> Bytes {
    let mut out = BytesMut::new();
    for (ctype, body) in parts {
        out.put_slice(format!("--{boundary}\r\nContent-Type: {ctype}\r\n\r\n").as_bytes());
        out.put_slice(body);
        out.put_slice(b"\r\n");
    }
    out.put_slice(format!("--{boundary}--\r\n").as_bytes());
    out.freeze()
}

/// A boundary that does not occur in any of the parts.
pub fn boundary_for(parts: &[(String, Bytes)]) -> String {
    let mut n = 0_u32;
    loop {
        let b = format!("corelab-{n:08x}-boundary");
        let needle = b.as_bytes();
        if !parts
            .iter()
            .any(|(_, p)| p.windows(needle.len()).any(|w| w == needle))
        {
            return b;
        }
        n += 1;
    }
}
