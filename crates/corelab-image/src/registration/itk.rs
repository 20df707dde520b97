//! ITK transform text files (`#Insight Transform File V1.0`), as ITK, ANTs (`.txt`) and
//! SimpleITK write and read them. Points are in LPS millimetres, as ITK's are, and the transform
//! maps fixed points to moving points.
//!
//! Written: `AffineTransform_double_3_3` (12 parameters: the matrix row by row, then the
//! translation; fixed parameters: the centre), which every ITK-based tool reads, for rigid and
//! affine results alike. Read: that, `MatrixOffsetTransformBase_double_3_3`, the `float`
//! variants, `Euler3DTransform` (angles x, y, z and translation; ITK's Z·X·Y order),
//! `VersorRigid3DTransform` (versor x, y, z and translation) and `TranslationTransform`.

use super::transform::AffineTransform;
use nalgebra::{Matrix3, Quaternion, UnitQuaternion, Vector3};

/// The text of a transform file.
pub fn write(t: &AffineTransform) -> String {
    let m = &t.matrix;
    let mut params: Vec<f64> = (0..3)
        .flat_map(|r| (0..3).map(move |c| (r, c)))
        .map(|(r, c)| m[(r, c)])
        .collect();
    params.extend(t.translation.iter());
    let join = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:?}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "#Insight Transform File V1.0\n#Transform 0\nTransform: AffineTransform_double_3_3\nParameters: {}\nFixedParameters: {}\n",
        join(&params),
        join(t.center.as_slice())
    )
}

/// The transform in a transform file's text, or what is wrong with it.
pub fn read(text: &str) -> Result<AffineTransform, String> {
    if !text.trim_start().starts_with("#Insight Transform File") {
        return Err("not an ITK transform file (no \"#Insight Transform File\" first line)".into());
    }
    let mut kind = None;
    let mut params: Option<Vec<f64>> = None;
    let mut fixed: Option<Vec<f64>> = None;
    let mut transforms = 0;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        let numbers = |rest: &str| -> Result<Vec<f64>, String> {
            rest.split_whitespace()
                .map(|w| {
                    w.parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| format!("line {}: {w:?} is not a number", n + 1))
                })
                .collect()
        };
        if let Some(rest) = line.strip_prefix("Transform:") {
            transforms += 1;
            kind = Some(rest.trim().to_owned());
        } else if let Some(rest) = line.strip_prefix("Parameters:") {
            params = Some(numbers(rest)?);
        } else if let Some(rest) = line.strip_prefix("FixedParameters:") {
            fixed = Some(numbers(rest)?);
        }
    }
    if transforms != 1 {
        return Err(format!(
            "the file holds {transforms} transforms; corelab reads files of exactly one (a composite or an empty file is not read)"
        ));
    }
    let kind = kind.unwrap_or_default();
    let params = params.ok_or("no \"Parameters:\" line")?;
    let fixed = fixed.unwrap_or_default();
    let center = |n: usize| -> Result<Vector3<f64>, String> {
        if fixed.len() < n {
            return Err(format!(
                "{kind} needs {n} fixed parameters (the centre), the file has {}",
                fixed.len()
            ));
        }
        Ok(Vector3::new(fixed[0], fixed[1], fixed[2]))
    };
    let need = |n: usize| -> Result<(), String> {
        if params.len() != n {
            return Err(format!(
                "{kind} has {n} parameters, the file gives {}",
                params.len()
            ));
        }
        Ok(())
    };
    let base = kind
        .strip_suffix("_double_3_3")
        .or_else(|| kind.strip_suffix("_float_3_3"))
        .unwrap_or("");
    match base {
        "AffineTransform" | "MatrixOffsetTransformBase" => {
            need(12)?;
            Ok(AffineTransform {
                matrix: Matrix3::from_row_slice(&params[..9]),
                translation: Vector3::new(params[9], params[10], params[11]),
                center: center(3)?,
            })
        }
        "Euler3DTransform" => {
            need(6)?;
            // ITK 5 may add a fourth fixed parameter, ComputeZYX; corelab reads the default order.
            if fixed.get(3).is_some_and(|z| *z != 0.0) {
                return Err("Euler3DTransform with ComputeZYX on is not read".into());
            }
            let c = center(3)?;
            Ok(AffineTransform::euler(
                [params[0], params[1], params[2]],
                [params[3], params[4], params[5]],
                [c[0], c[1], c[2]],
            ))
        }
        "VersorRigid3DTransform" => {
            need(6)?;
            let v = Vector3::new(params[0], params[1], params[2]);
            let w2 = 1.0 - v.norm_squared();
            if w2 < 0.0 {
                return Err("the versor's length is over 1".into());
            }
            let q = UnitQuaternion::from_quaternion(Quaternion::new(w2.sqrt(), v[0], v[1], v[2]));
            Ok(AffineTransform {
                matrix: q.to_rotation_matrix().into_inner(),
                translation: Vector3::new(params[3], params[4], params[5]),
                center: center(3)?,
            })
        }
        "TranslationTransform" => {
            need(3)?;
            Ok(AffineTransform {
                matrix: Matrix3::identity(),
                translation: Vector3::new(params[0], params[1], params[2]),
                center: Vector3::zeros(),
            })
        }
        _ => Err(format!(
            "transform type {kind:?} is not read (corelab reads affine, matrix-offset, Euler3D, versor-rigid and translation transforms in 3-D)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_files_read_back_exactly() {
        let t = AffineTransform::euler([0.1, -0.05, 0.2], [3.5, -2.25, 10.0], [1.0, 2.0, 3.0]);
        let back = read(&write(&t)).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn euler_files_give_the_same_transform_as_their_affine_form() {
        let text = "#Insight Transform File V1.0\n#Transform 0\nTransform: Euler3DTransform_double_3_3\nParameters: 0.1 -0.05 0.2 3.5 -2.25 10\nFixedParameters: 1 2 3 0\n";
        let t = read(text).unwrap();
        let direct = AffineTransform::euler([0.1, -0.05, 0.2], [3.5, -2.25, 10.0], [1.0, 2.0, 3.0]);
        assert!((t.matrix - direct.matrix).abs().max() < 1e-15);
        // A versor for the same rotation gives the same matrix.
        let q = UnitQuaternion::from_matrix(&direct.matrix);
        let text = format!(
            "#Insight Transform File V1.0\n#Transform 0\nTransform: VersorRigid3DTransform_double_3_3\nParameters: {} {} {} 3.5 -2.25 10\nFixedParameters: 1 2 3\n",
            q.i, q.j, q.k
        );
        let v = read(&text).unwrap();
        assert!((v.matrix - direct.matrix).abs().max() < 1e-12);
    }

    #[test]
    fn bad_files_are_refused_saying_why() {
        let head = "#Insight Transform File V1.0\n#Transform 0\n";
        let cases = [
            (
                "Transform: AffineTransform_double_3_3\n",
                "no \"Parameters:\" line",
            ),
            (
                "Transform: AffineTransform_double_3_3\nParameters: 1 0 0 0 1 0 0 0 1 0 0\nFixedParameters: 0 0 0\n",
                "has 12 parameters, the file gives 11",
            ),
            (
                "Transform: AffineTransform_double_3_3\nParameters: 1 0 0 0 1 0 0 0 1 0 0 x\n",
                "\"x\" is not a number",
            ),
            (
                "Transform: BSplineTransform_double_3_3\nParameters: 1\n",
                "is not read",
            ),
            ("", "holds 0 transforms"),
        ];
        for (body, why) in cases {
            let e = read(&format!("{head}{body}")).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
        assert!(
            read("hello")
                .unwrap_err()
                .contains("not an ITK transform file")
        );
    }
}
