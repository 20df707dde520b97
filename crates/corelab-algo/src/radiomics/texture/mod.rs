//! Texture features (IBSI 1 ch. 3.6–3.11) with IBSI's aggregation methods (ch. 3.1 of the
//! texture chapter): by slice (2D), by slice with matrices merged over slices (2.5D), and
//! volumetric (3D); for the directional matrices (GLCM, GLRLM) also features averaged over
//! directions or computed from the merged matrix.

mod glcm;
mod ngtdm;
mod sizes;

use super::Feature;
use super::roi::Levels;
use glcm::Glcm;
use ngtdm::Ngtdm;
use rayon::prelude::*;
use sizes::SizeMatrix;
use std::collections::VecDeque;

/// Which aggregations to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dims {
    /// By slice (2D and 2.5D).
    Slices,
    /// Volumetric (3D).
    Volume,
    /// Both.
    All,
}

impl Dims {
    fn slices(self) -> bool {
        self != Dims::Volume
    }
    fn volume(self) -> bool {
        self != Dims::Slices
    }
}

/// The 13 directions of 3D (one of each opposite pair); the first four lie in a slice.
const DIRECTIONS: [[isize; 3]; 13] = [
    [1, 0, 0],
    [0, 1, 0],
    [1, 1, 0],
    [-1, 1, 0],
    [0, 0, 1],
    [1, 0, 1],
    [-1, 0, 1],
    [0, 1, 1],
    [0, -1, 1],
    [1, 1, 1],
    [-1, 1, 1],
    [1, -1, 1],
    [-1, -1, 1],
];

/// A region the matrices are counted over: one slice, or the whole grid.
#[derive(Debug, Clone, Copy)]
enum Region {
    Slice(usize),
    Volume,
}

impl Region {
    fn slices(self, levels: &Levels) -> std::ops::Range<usize> {
        match self {
            Region::Slice(k) => k..k + 1,
            Region::Volume => 0..levels.dims[2],
        }
    }
    /// Neighbour offsets: 8 in a slice, 26 in the volume.
    fn neighbours(self) -> Vec<[isize; 3]> {
        let dk: &[isize] = match self {
            Region::Slice(_) => &[0],
            Region::Volume => &[-1, 0, 1],
        };
        let mut v = Vec::new();
        for &c in dk {
            for b in -1..=1 {
                for a in -1..=1 {
                    if (a, b, c) != (0, 0, 0) {
                        v.push([a, b, c]);
                    }
                }
            }
        }
        v
    }
    /// Face neighbours: 4 in a slice, 6 in the volume.
    fn faces(self) -> Vec<[isize; 3]> {
        let mut v = vec![[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]];
        if let Region::Volume = self {
            v.extend([[0, 0, 1], [0, 0, -1]]);
        }
        v
    }
}

/// Calls `f(i, j, k, level)` for every ROI voxel of the region.
fn each(levels: &Levels, region: Region, mut f: impl FnMut(isize, isize, isize, u32)) {
    for k in region.slices(levels) {
        for j in 0..levels.dims[1] {
            for i in 0..levels.dims[0] {
                let l = levels.data[i + levels.dims[0] * (j + levels.dims[1] * k)];
                if l > 0 {
                    f(i as isize, j as isize, k as isize, l);
                }
            }
        }
    }
}

fn voxels(levels: &Levels, region: Region) -> f64 {
    match region {
        Region::Slice(k) => levels.count(Some(k)) as f64,
        Region::Volume => levels.count(None) as f64,
    }
}

fn glcm(levels: &Levels, region: Region, d: [isize; 3]) -> Glcm {
    let mut m = Glcm::new(levels.ng);
    each(levels, region, |i, j, k, a| {
        let b = levels.get(i + d[0], j + d[1], k + d[2]);
        if b > 0 {
            m.add(a, b);
        }
    });
    m
}

fn glrlm(levels: &Levels, region: Region, d: [isize; 3]) -> SizeMatrix {
    let mut m = SizeMatrix::new(levels.ng, voxels(levels, region));
    each(levels, region, |i, j, k, a| {
        if levels.get(i - d[0], j - d[1], k - d[2]) == a {
            return; // not the start of a run
        }
        let mut len = 1;
        while levels.get(
            i + len as isize * d[0],
            j + len as isize * d[1],
            k + len as isize * d[2],
        ) == a
        {
            len += 1;
        }
        m.add(a, len);
    });
    m
}

/// The size-zone and distance-zone matrices of a region.
fn zones(levels: &Levels, region: Region, distances: bool) -> (SizeMatrix, SizeMatrix) {
    let n = voxels(levels, region);
    let mut size = SizeMatrix::new(levels.ng, n);
    let mut dist = SizeMatrix::new(levels.ng, n);
    let [di, dj, _] = levels.dims;
    let index = |i: isize, j: isize, k: isize| i as usize + di * (j as usize + dj * k as usize);
    // Distance to the edge of the morphological mask in face steps (1 at the border), by
    // breadth-first search (IBSI: the morphological mask, so that re-segmentation holes do not
    // count as edges).
    let mut distance = vec![0u32; levels.data.len()];
    let mut queue = VecDeque::new();
    let faces = region.faces();
    for k in region.slices(levels).filter(|_| distances) {
        for j in 0..dj as isize {
            for i in 0..di as isize {
                let k = k as isize;
                if levels.in_morph(i, j, k)
                    && faces
                        .iter()
                        .any(|o| !levels.in_morph(i + o[0], j + o[1], k + o[2]))
                {
                    distance[index(i, j, k)] = 1;
                    queue.push_back((i, j, k));
                }
            }
        }
    }
    while let Some((i, j, k)) = queue.pop_front() {
        let d = distance[index(i, j, k)];
        for o in &faces {
            let (a, b, c) = (i + o[0], j + o[1], k + o[2]);
            if levels.in_morph(a, b, c) && distance[index(a, b, c)] == 0 {
                distance[index(a, b, c)] = d + 1;
                queue.push_back((a, b, c));
            }
        }
    }
    let neighbours = region.neighbours();
    let mut seen = vec![false; levels.data.len()];
    each(levels, region, |i, j, k, a| {
        if seen[index(i, j, k)] {
            return;
        }
        seen[index(i, j, k)] = true;
        let (mut count, mut nearest) = (0usize, u32::MAX);
        queue.push_back((i, j, k));
        while let Some((x, y, z)) = queue.pop_front() {
            count += 1;
            nearest = nearest.min(distance[index(x, y, z)]);
            for o in &neighbours {
                let (p, q, r) = (x + o[0], y + o[1], z + o[2]);
                if levels.get(p, q, r) == a && !seen[index(p, q, r)] {
                    seen[index(p, q, r)] = true;
                    queue.push_back((p, q, r));
                }
            }
        }
        size.add(a, count);
        if distances {
            dist.add(a, nearest as usize);
        }
    });
    (size, dist)
}

fn ngtdm(levels: &Levels, region: Region) -> Ngtdm {
    let mut m = Ngtdm::new(levels.ng);
    let neighbours = region.neighbours();
    each(levels, region, |i, j, k, a| {
        let (mut s, mut n) = (0.0, 0.0);
        for o in &neighbours {
            let b = levels.get(i + o[0], j + o[1], k + o[2]);
            if b > 0 {
                s += f64::from(b);
                n += 1.0;
            }
        }
        if n > 0.0 {
            m.add(a, (f64::from(a) - s / n).abs());
        }
    });
    m
}

/// Neighbouring grey level dependence with coarseness 0: a voxel's dependence is one plus its
/// neighbours of the same level.
fn ngldm(levels: &Levels, region: Region) -> SizeMatrix {
    let mut m = SizeMatrix::new(levels.ng, voxels(levels, region));
    let neighbours = region.neighbours();
    each(levels, region, |i, j, k, a| {
        let same = neighbours
            .iter()
            .filter(|o| levels.get(i + o[0], j + o[1], k + o[2]) == a)
            .count();
        m.add(a, same + 1);
    });
    m
}

/// Means of feature vectors, `None` when there are none.
fn mean(rows: &[Vec<f64>]) -> Option<Vec<f64>> {
    let first = rows.first()?;
    let mut s = vec![0.0; first.len()];
    for r in rows {
        for (a, b) in s.iter_mut().zip(r) {
            *a += b;
        }
    }
    Some(s.into_iter().map(|x| x / rows.len() as f64).collect())
}

fn sum<T: Clone>(items: &[T], merge: impl Fn(&mut T, &T)) -> Option<T> {
    let mut it = items.iter();
    let mut acc = it.next()?.clone();
    for x in it {
        merge(&mut acc, x);
    }
    Some(acc)
}

/// The six aggregations of a directional matrix: (tag suffix, features).
fn directional<T: Clone + Send>(
    levels: &Levels,
    dims: Dims,
    count: impl Fn(Region, [isize; 3]) -> T + Sync,
    merge: impl Fn(&mut T, &T) + Copy,
    features: impl Fn(&T) -> Option<Vec<f64>>,
) -> Vec<(&'static str, Vec<f64>)> {
    let mut out = Vec::new();
    if dims.slices() {
        let slices: Vec<usize> = (0..levels.dims[2])
            .filter(|k| levels.count(Some(*k)) > 0)
            .collect();
        let per: Vec<Vec<T>> = slices
            .par_iter()
            .map(|k| {
                DIRECTIONS[..4]
                    .iter()
                    .map(|d| count(Region::Slice(*k), *d))
                    .collect()
            })
            .collect();
        let all: Vec<Vec<f64>> = per.iter().flatten().filter_map(&features).collect();
        if let Some(f) = mean(&all) {
            out.push(("2D_avg", f));
        }
        let by_slice: Vec<Vec<f64>> = per
            .iter()
            .filter_map(|ms| sum(ms, merge).and_then(|m| features(&m)))
            .collect();
        if let Some(f) = mean(&by_slice) {
            out.push(("2D_comb", f));
        }
        let by_direction: Vec<T> = (0..4)
            .filter_map(|d| {
                let col: Vec<T> = per.iter().map(|ms| ms[d].clone()).collect();
                sum(&col, merge)
            })
            .collect();
        let fd: Vec<Vec<f64>> = by_direction.iter().filter_map(&features).collect();
        if let Some(f) = mean(&fd) {
            out.push(("2_5D_avg", f));
        }
        if let Some(f) = sum(&by_direction, merge).and_then(|m| features(&m)) {
            out.push(("2_5D_comb", f));
        }
    }
    if dims.volume() {
        let per: Vec<T> = DIRECTIONS
            .par_iter()
            .map(|d| count(Region::Volume, *d))
            .collect();
        let f: Vec<Vec<f64>> = per.iter().filter_map(&features).collect();
        if let Some(f) = mean(&f) {
            out.push(("3D_avg", f));
        }
        if let Some(f) = sum(&per, merge).and_then(|m| features(&m)) {
            out.push(("3D_comb", f));
        }
    }
    out
}

/// The three aggregations of a non-directional matrix: (tag suffix, features).
fn regional<T: Clone + Send>(
    levels: &Levels,
    dims: Dims,
    count: impl Fn(Region) -> T + Sync,
    merge: impl Fn(&mut T, &T),
    features: impl Fn(&T) -> Option<Vec<f64>>,
) -> Vec<(&'static str, Vec<f64>)> {
    let mut out = Vec::new();
    if dims.slices() {
        let per: Vec<T> = (0..levels.dims[2])
            .into_par_iter()
            .filter(|k| levels.count(Some(*k)) > 0)
            .map(|k| count(Region::Slice(k)))
            .collect();
        let f: Vec<Vec<f64>> = per.iter().filter_map(&features).collect();
        if let Some(f) = mean(&f) {
            out.push(("2D", f));
        }
        if let Some(f) = sum(&per, merge).and_then(|m| features(&m)) {
            out.push(("2_5D", f));
        }
    }
    if dims.volume()
        && let Some(f) = features(&count(Region::Volume))
    {
        out.push(("3D", f));
    }
    out
}

fn push(
    out: &mut Vec<Feature>,
    family: &'static str,
    prefix: &str,
    names: &[(&'static str, &'static str, &'static str)],
    rows: Vec<(&'static str, Vec<f64>)>,
) {
    for (suffix, values) in rows {
        for ((stem, name, id), v) in names.iter().zip(values) {
            let mut f = Feature::new(family, "", name, id, v);
            f.tag = format!("{prefix}_{stem}_{suffix}");
            f.aggregation = aggregation(suffix);
            out.push(f);
        }
    }
}

/// IBSI's name of an aggregation.
fn aggregation(suffix: &str) -> &'static str {
    match suffix {
        "2D_avg" => "2D, averaged",
        "2D_comb" => "2D, slice-merged",
        "2_5D_avg" => "2.5D, direction-merged",
        "2_5D_comb" => "2.5D, merged",
        "3D_avg" => "3D, averaged",
        "3D_comb" => "3D, merged",
        "2D" => "2D",
        "2_5D" => "2.5D",
        _ => "3D",
    }
}

const RLM: [(&str, &str, &str); 16] = [
    ("sre", "Short runs emphasis", "22OV"),
    ("lre", "Long runs emphasis", "W4KF"),
    ("lgre", "Low grey level run emphasis", "V3SW"),
    ("hgre", "High grey level run emphasis", "G3QZ"),
    ("srlge", "Short run low grey level emphasis", "HTZT"),
    ("srhge", "Short run high grey level emphasis", "GD3A"),
    ("lrlge", "Long run low grey level emphasis", "IVPO"),
    ("lrhge", "Long run high grey level emphasis", "3KUM"),
    ("glnu", "Grey level non-uniformity", "R5YN"),
    ("glnu_norm", "Normalised grey level non-uniformity", "OVBL"),
    ("rlnu", "Run length non-uniformity", "W92Y"),
    ("rlnu_norm", "Normalised run length non-uniformity", "IC23"),
    ("r_perc", "Run percentage", "9ZK5"),
    ("gl_var", "Grey level variance", "8CE5"),
    ("rl_var", "Run length variance", "SXLW"),
    ("rl_entr", "Run entropy", "HJ9O"),
];
const SZM: [(&str, &str, &str); 16] = [
    ("sze", "Small zone emphasis", "5QRC"),
    ("lze", "Large zone emphasis", "48P8"),
    ("lgze", "Low grey level zone emphasis", "XMSY"),
    ("hgze", "High grey level zone emphasis", "5GN9"),
    ("szlge", "Small zone low grey level emphasis", "5RAI"),
    ("szhge", "Small zone high grey level emphasis", "HW1V"),
    ("lzlge", "Large zone low grey level emphasis", "YH51"),
    ("lzhge", "Large zone high grey level emphasis", "J17V"),
    ("glnu", "Grey level non-uniformity", "JNSA"),
    ("glnu_norm", "Normalised grey level non-uniformity", "Y1RO"),
    ("zsnu", "Zone size non-uniformity", "4JP3"),
    ("zsnu_norm", "Normalised zone size non-uniformity", "VB3A"),
    ("z_perc", "Zone percentage", "P30P"),
    ("gl_var", "Grey level variance", "BYLV"),
    ("zs_var", "Zone size variance", "3NSA"),
    ("zs_entr", "Zone size entropy", "GU8N"),
];
const DZM: [(&str, &str, &str); 16] = [
    ("sde", "Small distance emphasis", "0GBI"),
    ("lde", "Large distance emphasis", "MB4I"),
    ("lgze", "Low grey level zone emphasis", "S1RA"),
    ("hgze", "High grey level zone emphasis", "K26C"),
    ("sdlge", "Small distance low grey level emphasis", "RUVG"),
    ("sdhge", "Small distance high grey level emphasis", "DKNJ"),
    ("ldlge", "Large distance low grey level emphasis", "A7WM"),
    ("ldhge", "Large distance high grey level emphasis", "KLTH"),
    ("glnu", "Grey level non-uniformity", "VFT7"),
    ("glnu_norm", "Normalised grey level non-uniformity", "7HP3"),
    ("zdnu", "Zone distance non-uniformity", "V294"),
    (
        "zdnu_norm",
        "Normalised zone distance non-uniformity",
        "IATH",
    ),
    ("z_perc", "Zone percentage", "VIWW"),
    ("gl_var", "Grey level variance", "QK93"),
    ("zd_var", "Zone distance variance", "7WT1"),
    ("zd_entr", "Zone distance entropy", "GBDU"),
];
const NGL: [(&str, &str, &str); 17] = [
    ("lde", "Low dependence emphasis", "SODN"),
    ("hde", "High dependence emphasis", "IMOQ"),
    ("lgce", "Low grey level count emphasis", "TL9H"),
    ("hgce", "High grey level count emphasis", "OAE7"),
    ("ldlge", "Low dependence low grey level emphasis", "EQ3F"),
    ("ldhge", "Low dependence high grey level emphasis", "JA6D"),
    ("hdlge", "High dependence low grey level emphasis", "NBZI"),
    ("hdhge", "High dependence high grey level emphasis", "9QMG"),
    ("glnu", "Grey level non-uniformity", "FP8K"),
    ("glnu_norm", "Normalised grey level non-uniformity", "5SPA"),
    ("dcnu", "Dependence count non-uniformity", "Z87G"),
    (
        "dcnu_norm",
        "Normalised dependence count non-uniformity",
        "OKJI",
    ),
    ("dc_perc", "Dependence count percentage", "6XV8"),
    ("gl_var", "Grey level variance", "1PFV"),
    ("dc_var", "Dependence count variance", "DNX2"),
    ("dc_entr", "Dependence count entropy", "FCBV"),
    ("dc_energy", "Dependence count energy", "CAS9"),
];

/// Pushes every wanted texture family's features at the aggregations `dims` asks for. The
/// families are computed in parallel and pushed in a fixed order.
pub fn features(
    levels: &Levels,
    dims: Dims,
    wanted: impl Fn(&str) -> bool + Sync,
    out: &mut Vec<Feature>,
) {
    let sized16 = |m: &SizeMatrix| m.features().map(|f| f[..16].to_vec());
    let merge_sizes = |a: &mut SizeMatrix, b: &SizeMatrix| a.merge(b);
    type Task<'a> = Box<dyn Fn() -> Vec<Feature> + Send + Sync + 'a>;
    let mut tasks: Vec<Task> = Vec::new();
    if wanted("glcm") {
        tasks.push(Box::new(move || {
            let rows = directional(
                levels,
                dims,
                |r, d| glcm(levels, r, d),
                |a: &mut Glcm, b| a.merge(b),
                Glcm::features,
            );
            let mut v = Vec::new();
            push(&mut v, "glcm", "cm", &glcm::NAMES, rows);
            v
        }));
    }
    if wanted("glrlm") {
        tasks.push(Box::new(move || {
            let rows = directional(
                levels,
                dims,
                |r, d| glrlm(levels, r, d),
                merge_sizes,
                sized16,
            );
            let mut v = Vec::new();
            push(&mut v, "glrlm", "rlm", &RLM, rows);
            v
        }));
    }
    let (szm, dzm) = (wanted("glszm"), wanted("gldzm"));
    if szm || dzm {
        // Zones are counted once per region for both zone matrices.
        tasks.push(Box::new(move || {
            let rows = regional(
                levels,
                dims,
                |r| zones(levels, r, dzm),
                |a: &mut (SizeMatrix, SizeMatrix), b| {
                    a.0.merge(&b.0);
                    a.1.merge(&b.1);
                },
                |m| {
                    let s = sized16(&m.0)?;
                    let d = if dzm { sized16(&m.1)? } else { vec![0.0; 16] };
                    Some([s, d].concat())
                },
            );
            let (s_rows, d_rows): (Vec<_>, Vec<_>) = rows
                .into_iter()
                .map(|(suffix, f)| ((suffix, f[..16].to_vec()), (suffix, f[16..].to_vec())))
                .unzip();
            let mut v = Vec::new();
            if szm {
                push(&mut v, "glszm", "szm", &SZM, s_rows);
            }
            if dzm {
                push(&mut v, "gldzm", "dzm", &DZM, d_rows);
            }
            v
        }));
    }
    if wanted("ngtdm") {
        tasks.push(Box::new(move || {
            let rows = regional(
                levels,
                dims,
                |r| ngtdm(levels, r),
                |a: &mut Ngtdm, b| a.merge(b),
                Ngtdm::features,
            );
            let mut v = Vec::new();
            push(&mut v, "ngtdm", "ngt", &ngtdm::NAMES, rows);
            v
        }));
    }
    if wanted("ngldm") {
        tasks.push(Box::new(move || {
            let rows = regional(
                levels,
                dims,
                |r| ngldm(levels, r),
                merge_sizes,
                |m| m.features().map(|f| f.to_vec()),
            );
            let mut v = Vec::new();
            push(&mut v, "ngldm", "ngl", &NGL, rows);
            v
        }));
    }
    let done: Vec<Vec<Feature>> = tasks.par_iter().map(|t| t()).collect();
    out.extend(done.into_iter().flatten());
}
