//! WADO-RS (PS3.18 §10.4): whole studies, series and instances as `multipart/related` of
//! `application/dicom` (the stored, de-identified bytes), their metadata as DICOM JSON (stored at
//! ingest, bulk data by URI), frames and bulk data, and frames rendered as PNG or JPEG (window
//! from the object or `?window=center,width`, `?viewport=w,h`). Blinded callers get metadata (blinded) and
//! pixels, never whole instances, which carry dates.

use super::blind::blind;
use super::qido::{Reach, base_url, reach};
use super::{boundary_for, multipart_related};
use crate::http::AppState;
use crate::http::auth::Authed;
use crate::http::problem::{ApiError, ApiResult};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use corelab_core::{Action, Principal};
use corelab_store::dicomweb::{InstanceKeys, InstanceRow, Match, SeriesKeys, StudyKeys};
use dicom_core::value::Value as DicomValue;
use dicom_dictionary_std::tags;
use serde_json::Value;

/// The latest versions of the instances a path names, within the caller's reach.
async fn instances_of(
    state: &AppState,
    reach: &Reach,
    study: &str,
    series: Option<&str>,
    instance: Option<&str>,
) -> ApiResult<Vec<InstanceRow>> {
    let mut within = reach.within.clone();
    within.limit = i64::MAX;
    let study_keys = StudyKeys {
        study_uid: Some(Match::Exact(study.to_owned())),
        ..StudyKeys::default()
    };
    let series_keys = SeriesKeys {
        series_uid: series.map(|s| Match::Exact(s.to_owned())),
        ..SeriesKeys::default()
    };
    let instance_keys = InstanceKeys {
        sop_instance_uid: instance.map(|s| Match::Exact(s.to_owned())),
        ..InstanceKeys::default()
    };
    let rows = state
        .store
        .search_instances(&within, &study_keys, &series_keys, &instance_keys)
        .await?;
    if rows.is_empty() {
        let what = match (series, instance) {
            (Some(se), Some(i)) => format!("instance {i} of series {se} of study {study}"),
            (Some(se), None) => format!("series {se} of study {study}"),
            _ => format!("study {study}"),
        };
        return Err(ApiError::not_found(format!(
            "no {what} in trial {} that you may see",
            within.trial
        )));
    }
    Ok(rows)
}

fn checked(p: &Principal, trial: &str) -> ApiResult<Reach> {
    reach(p, trial, Action::ReadImages)
}

/// Whole instances as `multipart/related; type="application/dicom"`.
async fn retrieve(
    state: &AppState,
    p: &Principal,
    trial: &str,
    study: &str,
    series: Option<&str>,
    instance: Option<&str>,
) -> ApiResult<Response> {
    let reach = checked(p, trial)?;
    if reach.blinded {
        return Err(ApiError::forbidden(
            "blinded readers receive metadata (blinded), frames and bulk data, not whole instances, \
             which carry dates and sites",
        ));
    }
    let rows = instances_of(state, &reach, study, series, instance).await?;
    let mut parts = Vec::with_capacity(rows.len());
    for r in &rows {
        let bytes = state.store.blob_bytes(&r.blob_sha256).await?;
        parts.push((
            format!("application/dicom; transfer-syntax={}", r.transfer_syntax),
            bytes,
        ));
    }
    Ok(multipart(parts, "application/dicom"))
}

fn multipart(parts: Vec<(String, Bytes)>, kind: &str) -> Response {
    let boundary = boundary_for(&parts);
    let body = multipart_related(&boundary, &parts);
    (
        [(
            header::CONTENT_TYPE,
            format!("multipart/related; type=\"{kind}\"; boundary={boundary}"),
        )],
        body,
    )
        .into_response()
}

/// Metadata of instances as a DICOM JSON array, bulk data URIs made absolute.
async fn metadata(
    state: &AppState,
    p: &Principal,
    headers: &HeaderMap,
    trial: &str,
    study: &str,
    series: Option<&str>,
    instance: Option<&str>,
) -> ApiResult<Response> {
    let reach = checked(p, trial)?;
    let rows = instances_of(state, &reach, study, series, instance).await?;
    let base = base_url(headers, trial);
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let Some(sha) = &r.metadata_sha256 else {
            return Err(ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                format!(
                    "instance {} was stored before metadata was kept at ingest, or its metadata could not be written as DICOM JSON",
                    r.sop_instance_uid
                ),
            ));
        };
        let bytes = state.store.blob_bytes(sha).await?;
        let mut v: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("stored metadata of {}: {e}", r.sop_instance_uid),
            )
        })?;
        let at = format!(
            "{base}/studies/{}/series/{}/instances/{}",
            r.study_uid, r.series_uid, r.sop_instance_uid
        );
        if let Some(o) = v.as_object_mut() {
            for e in o.values_mut() {
                if let Some(uri) = e.get_mut("BulkDataURI")
                    && let Some(rel) = uri.as_str()
                    && !rel.contains("://")
                {
                    *uri = Value::String(format!("{at}/{rel}"));
                }
            }
        }
        if reach.blinded {
            blind(&mut v);
        }
        out.push(v);
    }
    Ok((
        [(header::CONTENT_TYPE, "application/dicom+json")],
        Value::Array(out).to_string(),
    )
        .into_response())
}

/// The frames of a stored instance: native pixel data cut into frames, or an encapsulated
/// object's fragments when there is one per frame (or one frame).
fn frames_of(bytes: &[u8]) -> ApiResult<(Vec<Bytes>, String)> {
    let parsed = corelab_dicom::read::read_bytes(bytes)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let obj = &parsed.dataset;
    let num =
        |tag| corelab_dicom::values::text(obj, tag).and_then(|t| t.trim().parse::<usize>().ok());
    let frames = num(tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1);
    let Ok(pixels) = obj.element(tags::PIXEL_DATA) else {
        return Err(ApiError::not_found("the instance has no pixel data"));
    };
    match pixels.value() {
        DicomValue::Primitive(v) => {
            let data = v.to_bytes();
            let rows = num(tags::ROWS).unwrap_or(0);
            let cols = num(tags::COLUMNS).unwrap_or(0);
            let spp = num(tags::SAMPLES_PER_PIXEL).unwrap_or(1);
            let bits = num(tags::BITS_ALLOCATED).unwrap_or(16);
            if bits % 8 != 0 {
                return Err(ApiError::new(
                    StatusCode::NOT_IMPLEMENTED,
                    format!("frames of {bits}-bit pixel data are not served"),
                ));
            }
            let size = rows * cols * spp * bits / 8;
            if size == 0 || data.len() < size * frames {
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!(
                        "pixel data of {} bytes cannot hold {frames} frames of {rows}×{cols}×{spp} at {bits} bits",
                        data.len()
                    ),
                ));
            }
            let out = (0..frames)
                .map(|f| Bytes::copy_from_slice(&data[f * size..(f + 1) * size]))
                .collect();
            Ok((out, "1.2.840.10008.1.2.1".to_owned()))
        }
        DicomValue::PixelSequence(seq) => {
            let fragments = seq.fragments();
            let out: Vec<Bytes> = if fragments.len() == frames {
                fragments
                    .iter()
                    .map(|f| Bytes::copy_from_slice(f))
                    .collect()
            } else if frames == 1 {
                vec![Bytes::from(fragments.concat())]
            } else {
                return Err(ApiError::new(
                    StatusCode::NOT_IMPLEMENTED,
                    format!(
                        "{frames} frames in {} fragments: frames split across fragments are not served yet",
                        fragments.len()
                    ),
                ));
            };
            Ok((out, parsed.transfer_syntax))
        }
        _ => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "pixel data is a sequence",
        )),
    }
}

async fn one_instance(
    state: &AppState,
    p: &Principal,
    trial: &str,
    study: &str,
    series: &str,
    instance: &str,
) -> ApiResult<Bytes> {
    let reach = checked(p, trial)?;
    let rows = instances_of(state, &reach, study, Some(series), Some(instance)).await?;
    Ok(state.store.blob_bytes(&rows[0].blob_sha256).await?)
}

/// `GET …/instances/{instance}/frames/{list}`: the frames asked for (1-based, comma-separated).
#[utoipa::path(get, path = "/dicomweb/{trial}/studies/{study}/series/{series}/instances/{instance}/frames/{frames}", tag = "dicomweb", params(("trial" = String, Path), ("study" = String, Path), ("series" = String, Path), ("instance" = String, Path), ("frames" = String, Path)),
    responses((status = 200, description = "WADO-RS: frames (1-based, comma-separated), application/octet-stream")))]
pub async fn frames(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path((trial, study, series, instance, list)): Path<(String, String, String, String, String)>,
) -> ApiResult<Response> {
    let wanted: Vec<usize> = list
        .split(',')
        .map(|n| n.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| {
            ApiError::bad_request(format!(
                "frame list {list:?}: expected numbers from 1, comma-separated"
            ))
        })?;
    let bytes = one_instance(&state, &p, &trial, &study, &series, &instance).await?;
    let (all, ts) = tokio::task::spawn_blocking(move || frames_of(&bytes))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    let mut parts = Vec::with_capacity(wanted.len());
    for n in wanted {
        let f = n.checked_sub(1).and_then(|i| all.get(i)).ok_or_else(|| {
            ApiError::not_found(format!("frame {n}: the instance has {} frames", all.len()))
        })?;
        parts.push((
            format!("application/octet-stream; transfer-syntax={ts}"),
            f.clone(),
        ));
    }
    Ok(multipart(parts, "application/octet-stream"))
}

/// `GET …/instances/{instance}/bulk/{tag}`: a bulk data element (pixel data: every frame).
#[utoipa::path(get, path = "/dicomweb/{trial}/studies/{study}/series/{series}/instances/{instance}/bulk/{tag}", tag = "dicomweb", params(("trial" = String, Path), ("study" = String, Path), ("series" = String, Path), ("instance" = String, Path), ("tag" = String, Path)),
    responses((status = 200, description = "WADO-RS: a bulk data element")))]
pub async fn bulk(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path((trial, study, series, instance, tag)): Path<(String, String, String, String, String)>,
) -> ApiResult<Response> {
    let bytes = one_instance(&state, &p, &trial, &study, &series, &instance).await?;
    if p.blinded(Action::ReadImages, &trial) && !bulk_for_blinded(&tag) {
        return Err(ApiError::forbidden(format!(
            "bulk data {tag}: blinded readers receive pixel data and binary bulk data, not \
             attributes, which may carry dates or name the site"
        )));
    }
    let part = tokio::task::spawn_blocking(move || -> ApiResult<(String, Bytes)> {
        if tag.eq_ignore_ascii_case("7FE00010") {
            let (frames, ts) = frames_of(&bytes)?;
            return Ok((
                format!("application/octet-stream; transfer-syntax={ts}"),
                Bytes::from(frames.concat()),
            ));
        }
        let t = u32::from_str_radix(&tag, 16)
            .ok()
            .filter(|_| tag.len() == 8)
            .ok_or_else(|| {
                ApiError::bad_request(format!("bulk data tag {tag:?}: expected GGGGEEEE"))
            })?;
        let t = dicom_core::Tag((t >> 16) as u16, (t & 0xFFFF) as u16);
        let parsed = corelab_dicom::read::read_bytes(&bytes)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
        let e = parsed
            .dataset
            .element(t)
            .map_err(|_| ApiError::not_found(format!("the instance has no element {tag}")))?;
        let v = e
            .value()
            .primitive()
            .ok_or_else(|| ApiError::not_found(format!("element {tag} is not bulk data")))?;
        Ok((
            "application/octet-stream".to_owned(),
            Bytes::from(v.to_bytes().into_owned()),
        ))
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(multipart(vec![part], "application/octet-stream"))
}

/// Whether a blinded caller may have element `tag` as bulk data: pixel data, or an element the
/// standard gives a binary VR that is not one of the site's (any other, a private one included,
/// may be a date or a name).
fn bulk_for_blinded(tag: &str) -> bool {
    use dicom_core::VR;
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
    let Some(t) = u32::from_str_radix(tag, 16).ok().filter(|_| tag.len() == 8) else {
        return false;
    };
    if super::blind::SITE_TAGS.contains(&tag.to_ascii_uppercase().as_str()) {
        return false;
    }
    let t = dicom_core::Tag((t >> 16) as u16, (t & 0xFFFF) as u16);
    matches!(
        dicom_dictionary_std::StandardDataDictionary
            .by_tag(t)
            .map(|e| e.vr()),
        Some(
            VirtualVr::Px
                | VirtualVr::Ox
                | VirtualVr::Exact(VR::OB | VR::OW | VR::OF | VR::OD | VR::OL | VR::OV)
        )
    )
}

/// `GET /dicomweb/{trial}/studies/{study}`.
#[utoipa::path(get, path = "/dicomweb/{trial}/studies/{study}", tag = "dicomweb", params(("trial" = String, Path), ("study" = String, Path)),
    responses((status = 200, description = "WADO-RS: the study's instances, multipart/related application/dicom")))]
pub async fn study(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path((trial, study)): Path<(String, String)>,
) -> ApiResult<Response> {
    retrieve(&state, &p, &trial, &study, None, None).await
}

/// `GET /dicomweb/{trial}/studies/{study}/series/{series}`.
#[utoipa::path(get, path = "/dicomweb/{trial}/studies/{study}/series/{series}", tag = "dicomweb", params(("trial" = String, Path), ("study" = String, Path), ("series" = String, Path)),
    responses((status = 200, description = "WADO-RS: the series' instances")))]
pub async fn series(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path((trial, study, series)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    retrieve(&state, &p, &trial, &study, Some(&series), None).await
}

/// `GET …/instances/{instance}`.
#[utoipa::path(get, path = "/dicomweb/{trial}/studies/{study}/series/{series}/instances/{instance}", tag = "dicomweb", params(("trial" = String, Path), ("study" = String, Path), ("series" = String, Path), ("instance" = String, Path)),
    responses((status = 200, description = "WADO-RS: the instance")))]
pub async fn instance(
    State(state): State<AppState>,
    Authed(p): Authed,
    Path((trial, study, series, instance)): Path<(String, String, String, String)>,
) -> ApiResult<Response> {
    retrieve(&state, &p, &trial, &study, Some(&series), Some(&instance)).await
}

/// `GET /dicomweb/{trial}/studies/{study}/metadata`.
#[utoipa::path(get, path = "/dicomweb/{trial}/studies/{study}/metadata", tag = "dicomweb", params(("trial" = String, Path), ("study" = String, Path)),
    responses((status = 200, description = "WADO-RS: DICOM JSON metadata of the study's instances")))]
pub async fn study_metadata(
    State(state): State<AppState>,
    Authed(p): Authed,
    headers: HeaderMap,
    Path((trial, study)): Path<(String, String)>,
) -> ApiResult<Response> {
    metadata(&state, &p, &headers, &trial, &study, None, None).await
}

/// `GET …/series/{series}/metadata`.
#[utoipa::path(get, path = "/dicomweb/{trial}/studies/{study}/series/{series}/metadata", tag = "dicomweb", params(("trial" = String, Path), ("study" = String, Path), ("series" = String, Path)),
    responses((status = 200, description = "WADO-RS: metadata of the series' instances")))]
pub async fn series_metadata(
    State(state): State<AppState>,
    Authed(p): Authed,
    headers: HeaderMap,
    Path((trial, study, series)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    metadata(&state, &p, &headers, &trial, &study, Some(&series), None).await
}

/// `GET …/instances/{instance}/metadata`.
#[utoipa::path(get, path = "/dicomweb/{trial}/studies/{study}/series/{series}/instances/{instance}/metadata", tag = "dicomweb", params(("trial" = String, Path), ("study" = String, Path), ("series" = String, Path), ("instance" = String, Path)),
    responses((status = 200, description = "WADO-RS: metadata of the instance")))]
pub async fn instance_metadata(
    State(state): State<AppState>,
    Authed(p): Authed,
    headers: HeaderMap,
    Path((trial, study, series, instance)): Path<(String, String, String, String)>,
) -> ApiResult<Response> {
    metadata(
        &state,
        &p,
        &headers,
        &trial,
        &study,
        Some(&series),
        Some(&instance),
    )
    .await
}

/// `?window=center,width[,function]` and `?viewport=w,h` of a rendered request.
#[derive(Debug, Default, serde::Deserialize)]
pub struct RenderQuery {
    /// Window center and width (and an ignored function name).
    pub window: Option<String>,
    /// Largest width and height; the image is scaled down to fit, keeping its aspect.
    pub viewport: Option<String>,
}

/// Renders frame `frame` (0-based) of a stored instance: the Modality LUT, then the window asked
/// for or the object's first VOI LUT (min–max when it has none), to 8 bits; PNG when the caller
/// accepts it before JPEG, else JPEG.
fn render(bytes: &[u8], frame: u32, q: &RenderQuery, png: bool) -> ApiResult<(String, Bytes)> {
    use dicom_pixeldata::{ConvertOptions, PixelDecoder, VoiLutOption, WindowLevel};
    let obj = dicom_object::OpenFileOptions::new()
        .read_preamble(dicom_object::file::ReadPreamble::Auto)
        .from_reader(bytes)
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("stored instance: {e}"),
            )
        })?;
    let decoded = obj.decode_pixel_data().map_err(|e| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!("the pixel data cannot be decoded here: {e}"),
        )
    })?;
    if frame >= decoded.number_of_frames() {
        return Err(ApiError::not_found(format!(
            "frame {}: the instance has {} frames",
            frame + 1,
            decoded.number_of_frames()
        )));
    }
    let mut options = ConvertOptions::new().force_8bit();
    if let Some(w) = &q.window {
        let parts: Vec<f64> = w
            .split(',')
            .take(2)
            .map(|x| x.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| ApiError::bad_request(format!("window={w:?}: expected center,width")))?;
        match parts.as_slice() {
            [center, width] if *width > 0.0 => {
                options = options.with_voi_lut(VoiLutOption::Custom(WindowLevel {
                    center: *center,
                    width: *width,
                }));
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "window={w:?}: expected center,width with width > 0"
                )));
            }
        }
    }
    let mut img = decoded
        .to_dynamic_image_with_options(frame, &options)
        .map_err(|e| {
            ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                format!("cannot render the frame: {e}"),
            )
        })?;
    if let Some(v) = &q.viewport {
        let wh: Vec<u32> = v
            .split(',')
            .take(2)
            .map(|x| x.trim().parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|_| ApiError::bad_request(format!("viewport={v:?}: expected width,height")))?;
        if let [w, h] = wh.as_slice()
            && *w > 0
            && *h > 0
            && (img.width() > *w || img.height() > *h)
        {
            img = img.resize(*w, *h, image::imageops::FilterType::Triangle);
        }
    }
    let mut out = std::io::Cursor::new(Vec::new());
    let (format, ctype) = if png {
        (image::ImageFormat::Png, "image/png")
    } else {
        img = image::DynamicImage::ImageLuma8(img.to_luma8());
        (image::ImageFormat::Jpeg, "image/jpeg")
    };
    img.write_to(&mut out, format).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding {ctype}: {e}"),
        )
    })?;
    Ok((ctype.to_owned(), Bytes::from(out.into_inner())))
}

/// Whether the Accept header prefers PNG to JPEG (JPEG is the default, as PS3.18 has it).
fn wants_png(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match (accept.find("image/png"), accept.find("image/jpeg")) {
        (Some(p), Some(j)) => p < j,
        (Some(_), None) => true,
        _ => false,
    }
}

async fn rendered_response(
    state: &AppState,
    p: &Principal,
    path: (String, String, String, String),
    frame: u32,
    q: RenderQuery,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let (trial, study, series, instance) = path;
    let bytes = one_instance(state, p, &trial, &study, &series, &instance).await?;
    let png = wants_png(headers);
    let (ctype, body) = tokio::task::spawn_blocking(move || render(&bytes, frame, &q, png))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(([(header::CONTENT_TYPE, ctype)], body).into_response())
}

/// `GET …/instances/{instance}/rendered`: the first frame as an image.
#[utoipa::path(get, path = "/dicomweb/{trial}/studies/{study}/series/{series}/instances/{instance}/rendered", tag = "dicomweb", params(("trial" = String, Path), ("study" = String, Path), ("series" = String, Path), ("instance" = String, Path)),
    responses((status = 200, description = "WADO-RS: the first frame rendered as JPEG or PNG")))]
pub async fn rendered(
    State(state): State<AppState>,
    Authed(p): Authed,
    headers: HeaderMap,
    Path(path): Path<(String, String, String, String)>,
    axum::extract::Query(q): axum::extract::Query<RenderQuery>,
) -> ApiResult<Response> {
    rendered_response(&state, &p, path, 0, q, &headers).await
}

/// `GET …/instances/{instance}/frames/{n}/rendered`: frame n (from 1) as an image.
#[utoipa::path(get, path = "/dicomweb/{trial}/studies/{study}/series/{series}/instances/{instance}/frames/{frames}/rendered", tag = "dicomweb", params(("trial" = String, Path), ("study" = String, Path), ("series" = String, Path), ("instance" = String, Path), ("frames" = String, Path)),
    responses((status = 200, description = "WADO-RS: a frame rendered as JPEG or PNG")))]
pub async fn rendered_frame(
    State(state): State<AppState>,
    Authed(p): Authed,
    headers: HeaderMap,
    Path((trial, study, series, instance, n)): Path<(String, String, String, String, String)>,
    axum::extract::Query(q): axum::extract::Query<RenderQuery>,
) -> ApiResult<Response> {
    let frame = n
        .trim()
        .parse::<u32>()
        .ok()
        .and_then(|f| f.checked_sub(1))
        .ok_or_else(|| ApiError::bad_request(format!("frame {n:?}: one frame number from 1")))?;
    rendered_response(
        &state,
        &p,
        (trial, study, series, instance),
        frame,
        q,
        &headers,
    )
    .await
}
