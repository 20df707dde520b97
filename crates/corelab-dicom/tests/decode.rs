//! Pixel data in the transfer syntaxes that need more than jpeg-decoder, held to twins and peer
//! decoders from the shared conformance corpus:
//! - JPEG-LS (CharLS through dicom-pixeldata's `charls` feature): the lossless objects are their
//!   uncompressed twins voxel for voxel; the near-lossless ones are within the NEAR their own
//!   codestream states of their uncompressed twin, and exactly what dcmtk's `dcmdjpls` decodes.
//! - 12-bit JPEG Extended, which dicom-rs cannot decode: transcoded by GDCM's `gdcmconv --raw`
//!   (Debian libgdcm-tools), it is what dcmtk's `dcmdjpeg` (a 12-bit IJG build) decodes, voxel
//!   for voxel; without gdcmconv it is refused saying how to decode it.

use corelab_dicom::series::{Instance, Transcoder, volumes, volumes_with};
use corelab_image::Volume;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_pixeldata::{ConvertOptions, ModalityLutOption, PixelDecoder};
use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/dicom_conformance")
        .join(rel)
}

/// An instance of the corpus (or a peer's output), named by its file name.
fn read(path: &Path) -> Instance {
    let mut i = Instance::from_path(path).unwrap_or_else(|e| panic!("{e}"));
    i.name = path.file_name().unwrap().to_string_lossy().into_owned();
    i
}

/// The instance given an axial plane where it has none (the corpus's test objects are secondary
/// captures without Image Position, Orientation or Pixel Spacing): a one-slice volume of its
/// pixels.
fn placed(mut i: Instance) -> Instance {
    let ds = |tag, v: &str| DataElement::new(tag, VR::DS, PrimitiveValue::from(v));
    for (tag, value) in [
        (tags::IMAGE_POSITION_PATIENT, "0\\0\\0"),
        (tags::IMAGE_ORIENTATION_PATIENT, "1\\0\\0\\0\\1\\0"),
        (tags::PIXEL_SPACING, "1\\1"),
    ] {
        if i.object.get(tag).is_none() {
            i.object.put(ds(tag, value));
        }
    }
    i
}

fn one_volume(v: Vec<Volume<f32>>, what: &str) -> Volume<f32> {
    assert_eq!(v.len(), 1, "{what}");
    v.into_iter().next().unwrap()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The NEAR parameter of the first JPEG-LS scan of the object's first fragment (ISO 14495-1
/// C.2.3: the SOS segment, after Ns component selectors and mapping tables).
fn near(i: &Instance) -> u8 {
    let fragments = i.object.get(tags::PIXEL_DATA).unwrap().value().fragments();
    let frame = &fragments.expect("encapsulated pixel data")[0];
    let sos = frame
        .windows(2)
        .position(|w| w == [0xFF, 0xDA])
        .expect("an SOS marker");
    let ns = usize::from(frame[sos + 4]);
    frame[sos + 5 + 2 * ns]
}

/// Every sample of the object's pixel data (all frames, each pixel's samples together), stored
/// values without any LUT, whatever the transfer syntax.
fn samples(i: &Instance) -> ndarray::Array4<i32> {
    let options = ConvertOptions::new().with_modality_lut(ModalityLutOption::None);
    i.object
        .decode_pixel_data()
        .unwrap_or_else(|e| panic!("{}: {e}", i.name))
        .to_ndarray_with_options::<i32>(&options)
        .unwrap_or_else(|e| panic!("{}: {e}", i.name))
}

#[test]
fn jpeg_ls_lossless_objects_decode_to_the_voxels_of_their_uncompressed_twins() {
    // MR_small as a volume of one slice: the JPEG-LS twin's is the same, voxel and affine.
    let jls = read(&corpus("pydicom_test_files/MR_small_jpeg_ls_lossless.dcm"));
    assert_eq!(near(&jls), 0, "lossless");
    let ours = one_volume(volumes(&[jls]).unwrap(), "MR_small JPEG-LS");
    let twin = one_volume(
        volumes(&[read(&corpus("pydicom_test_files/MR_small.dcm"))]).unwrap(),
        "MR_small",
    );
    assert_eq!(ours.geometry, twin.geometry);
    assert_eq!(ours.data, twin.data);
    assert!(twin.data.iter().any(|v| *v != twin.data[[0, 0, 0]]));

    // emri_small (ten 64² frames, 12 bits stored) without the geometry that would make it a
    // volume (tests/dcm2niix.rs gives it back): every sample of every frame.
    let jls = read(&corpus("pydicom_data/emri_small_jpeg_ls_lossless.dcm"));
    assert_eq!(near(&jls), 0, "lossless");
    let twin = samples(&read(&corpus("pydicom_data/emri_small.dcm")));
    assert_eq!(twin.shape(), [10, 64, 64, 1]);
    assert_eq!(samples(&jls), twin);
}

#[test]
fn jpeg_ls_near_lossless_objects_decode_within_their_near_bound_and_as_dcmtk_does() {
    // The colour ones (line and sample interleaved) against SC_rgb, their uncompressed twin: each
    // sample within NEAR, and not all exact (they are lossy).
    let twin = samples(&read(&corpus("pydicom_data/SC_rgb.dcm")));
    assert_eq!(twin.shape(), [1, 100, 100, 3]);
    for file in ["SC_rgb_jls_lossy_line.dcm", "SC_rgb_jls_lossy_sample.dcm"] {
        let jls = read(&corpus(&format!("pydicom_test_files/{file}")));
        let bound = i32::from(near(&jls));
        assert_eq!(bound, 2, "{file}: the NEAR its codestream states");
        let ours = samples(&jls);
        assert_eq!(ours.shape(), twin.shape(), "{file}");
        let worst = ours
            .iter()
            .zip(twin.iter())
            .map(|(a, b)| (a - b).abs())
            .max()
            .unwrap();
        assert!(
            worst > 0 && worst <= bound,
            "{file}: {worst} > NEAR {bound}"
        );
    }

    // The grey 8- and 16-bit ones have no twin: they are what dcmtk's own JPEG-LS decoder makes
    // of them, through series::volumes.
    let dir = tempfile::tempdir().unwrap();
    for (file, bits) in [
        ("JPEGLSNearLossless_08.dcm", 8),
        ("JPEGLSNearLossless_16.dcm", 16),
    ] {
        let path = corpus(&format!("pydicom_test_files/{file}"));
        let jls = read(&path);
        assert_eq!(near(&jls), 2, "{file}");
        let decoded = dir.path().join(file);
        run(Command::new("dcmdjpls").arg(&path).arg(&decoded));
        let ours = one_volume(volumes(&[placed(jls)]).unwrap(), file);
        let theirs = one_volume(volumes(&[placed(read(&decoded))]).unwrap(), file);
        assert_eq!(ours.geometry, theirs.geometry, "{file}");
        assert_eq!(ours.data, theirs.data, "{file}");
        let max = ours.data.iter().fold(0f32, |m, v| m.max(*v));
        assert_eq!(max, ((1u32 << bits) - 1) as f32, "{file}: full range");
    }
}

/// The two 12-bit JPEG Extended objects of the corpus (NM1_JPLY from WG04, and its fixed copy).
const TWELVE_BIT: [&str; 2] = ["JPEG-lossy.dcm", "JPGExtended.dcm"];

fn gdcmconv() -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("gdcmconv"))
        .find(|p| p.is_file())
        .expect("gdcmconv (Debian libgdcm-tools; .ci/run installs it)")
}

#[test]
fn twelve_bit_jpeg_is_transcoded_by_gdcmconv_to_the_voxels_dcmtk_decodes() {
    let gdcmconv = gdcmconv();
    let out = Command::new(&gdcmconv).arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .skip_while(|w| *w != "gdcm")
        .nth(1)
        .expect("gdcmconv --version names gdcm's version")
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    for file in TWELVE_BIT {
        let path = corpus(&format!("pydicom_test_files/{file}"));
        let ours = one_volume(
            volumes_with(&[placed(read(&path))], &Transcoder::from_path()).unwrap(),
            file,
        );
        assert_eq!(ours.geometry.dims, [256, 1024, 1], "{file}");
        assert_eq!(
            ours.source.notes.last().map(String::as_str),
            Some(
                format!(
                    "1 instance: pixel data in 12-bit JPEG Extended (1.2.840.10008.1.2.4.51), which dicom-rs does not decode, transcoded to transfer syntax 1.2.840.10008.1.2.1 by gdcmconv --raw (gdcm {version})"
                )
                .as_str()
            ),
            "{file}"
        );
        // The same as decoding gdcmconv's own output…
        let raw = dir.path().join(format!("raw-{file}"));
        run(Command::new(&gdcmconv).arg("--raw").arg(&path).arg(&raw));
        let direct = one_volume(volumes(&[placed(read(&raw))]).unwrap(), file);
        assert_eq!(ours.data, direct.data, "{file}: gdcmconv's output decoded");
        assert!(direct.source.notes.iter().all(|n| !n.contains("gdcmconv")));
        // …and as dcmtk's 12-bit IJG decoder, an independent peer.
        let dcmtk = dir.path().join(format!("dcmtk-{file}"));
        run(Command::new("dcmdjpeg").arg(&path).arg(&dcmtk));
        let theirs = one_volume(volumes(&[placed(read(&dcmtk))]).unwrap(), file);
        assert_eq!(ours.geometry, theirs.geometry, "{file}");
        assert_eq!(ours.data, theirs.data, "{file}: dcmdjpeg");
        // A whole-body bone scan's counts: 12-bit, an image not a constant.
        let max = ours.data.iter().fold(0f32, |m, v| m.max(*v));
        let min = ours.data.iter().fold(f32::MAX, |m, v| m.min(*v));
        assert!(
            min >= 0.0 && max > 100.0 && max < 4096.0,
            "{file}: {min}..{max}"
        );
    }
}

#[test]
fn twelve_bit_jpeg_without_gdcmconv_is_refused_saying_how_to_decode_it() {
    for file in TWELVE_BIT {
        let instance = placed(read(&corpus(&format!("pydicom_test_files/{file}"))));
        let e = volumes_with(std::slice::from_ref(&instance), &Transcoder::none())
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!(
                "{file}: cannot decode pixel data (transfer syntax 1.2.840.10008.1.2.4.51, JPEG Extended (Process 2 & 4)): 12-bit JPEG (1.2.840.10008.1.2.4.51) is not decoded by dicom-rs (Could not decode pixel data: JPEG decoding failure on frame 0: unsupported JPEG feature: SamplePrecision(12)); install GDCM's gdcmconv (Debian libgdcm-tools) to transcode it"
            )
        );
    }
}

#[test]
fn a_gdcmconv_that_cannot_run_or_fails_is_named_in_the_error() {
    let instance = placed(read(&corpus("pydicom_test_files/JPGExtended.dcm")));
    let e = volumes_with(
        std::slice::from_ref(&instance),
        &Transcoder::gdcmconv("/nonexistent/gdcmconv"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("JPGExtended.dcm: cannot decode pixel data (transfer syntax 1.2.840.10008.1.2.4.51, JPEG Extended (Process 2 & 4)): 12-bit JPEG (1.2.840.10008.1.2.4.51) transcoded by /nonexistent/gdcmconv: cannot run it: "),
        "{e}"
    );
    let e = volumes_with(
        std::slice::from_ref(&instance),
        &Transcoder::gdcmconv("/bin/false"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.ends_with("12-bit JPEG (1.2.840.10008.1.2.4.51) transcoded by /bin/false: it failed (exit status: 1): "),
        "{e}"
    );
}
