//! The IBSI soft-tissue sarcoma validation case (`../shared/data/radiomics/ibsi_validation_sts`):
//! its CT, PET and MR series, made into volumes by corelab, agree with the NIfTI images shipped
//! beside them (made by MIRP): every voxel of ours lands on a voxel of theirs in patient space and
//! holds the same value; and its RTSTRUCT contours rasterise to exactly the shipped masks.

mod common;

use common::series_in;
use corelab_dicom::series::{Instance, volumes};
use std::path::Path;

#[test]
fn the_ibsi_sts_series_agree_with_the_shipped_nifti_images() {
    let case = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/radiomics/ibsi_validation_sts/STS_008");
    for modality in ["CT", "PET", "MR_T1"] {
        let instances = series_in(&case.join("dicom").join(modality).join("image"));
        let ours = volumes(&instances).unwrap();
        assert_eq!(ours.len(), 1, "{modality}");
        let ours = &ours[0];
        let theirs =
            corelab_image::nifti_io::read(&case.join(format!("nifti/{modality}_image.nii.gz")))
                .unwrap();
        let mut dims = theirs.geometry.dims;
        dims.sort_unstable();
        let mut our_dims = ours.geometry.dims;
        our_dims.sort_unstable();
        assert_eq!(
            our_dims, dims,
            "{modality}: {:?} vs {:?}",
            ours.geometry.dims, theirs.geometry.dims
        );
        let (mut worst_index, mut worst_value) = (0.0f64, 0.0f64);
        // Our voxel → their voxel, one matrix.
        let to_theirs = theirs.geometry.affine.try_inverse().unwrap() * ours.geometry.affine;
        for ((i, j, k), v) in ours.data.indexed_iter() {
            let h = to_theirs * nalgebra::Vector4::new(i as f64, j as f64, k as f64, 1.0);
            let q = [h[0], h[1], h[2]];
            let r = q.map(|x| x.round());
            for a in 0..3 {
                worst_index = worst_index.max((q[a] - r[a]).abs());
            }
            let t = theirs.data[[r[0] as usize, r[1] as usize, r[2] as usize]];
            worst_value = worst_value.max(f64::from((v - t).abs()) / f64::from(t.abs()).max(1.0));
        }
        // Their affine is stored in float32 (NIfTI-1): positions agree to a thousandth of a voxel.
        assert!(
            worst_index < 1e-3,
            "{modality}: voxel positions differ by {worst_index}"
        );
        assert!(
            worst_value < 1e-5,
            "{modality}: values differ by {worst_value} (relative)"
        );
    }
}

#[test]
fn the_ibsi_sts_gtv_contours_rasterise_to_the_shipped_masks() {
    let case = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/radiomics/ibsi_validation_sts/STS_008");
    for modality in ["CT", "PET", "MR_T1"] {
        let dir = case.join("dicom").join(modality);
        let instances = series_in(&dir.join("image"));
        let grid = volumes(&instances).unwrap().remove(0).geometry;
        let rs = Instance::from_path(&dir.join("mask/RS.dcm")).unwrap();
        // Named GTV_Mass_<modality> in each structure set.
        let name = corelab_dicom::rtstruct::roi_names(&rs.object)
            .into_iter()
            .map(|(_, n)| n)
            .find(|n| n.starts_with("GTV_Mass"))
            .unwrap();
        let ours = corelab_dicom::rtstruct::rasterise(&rs.object, &name, &grid)
            .unwrap_or_else(|e| panic!("{modality}: {e}"));
        let theirs =
            corelab_image::nifti_io::read(&case.join(format!("nifti/{modality}_mask.nii.gz")))
                .unwrap();
        let to_theirs = theirs.geometry.affine.try_inverse().unwrap() * grid.affine;
        let (mut same, mut differ, mut total) = (0usize, 0usize, 0usize);
        for ((i, j, k), v) in ours.indexed_iter() {
            let h = to_theirs * nalgebra::Vector4::new(i as f64, j as f64, k as f64, 1.0);
            let t = theirs.data[[
                h[0].round() as usize,
                h[1].round() as usize,
                h[2].round() as usize,
            ]] > 0.5;
            if *v || t {
                total += 1;
                if *v == t {
                    same += 1;
                } else {
                    differ += 1;
                }
            }
        }
        eprintln!("{modality}: {same} voxels agree, {differ} differ, of {total} in either mask");
        assert!(same > 0);
        assert!(
            differ * 100 <= total,
            "{modality}: {differ} of {total} voxels differ"
        );
    }
}
