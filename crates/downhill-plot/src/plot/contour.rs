//! Contour lines by marching squares, joined into polylines.

use std::collections::HashMap;

/// A sampled function on a regular grid: `z[j * nx + i] = f(xs[i], ys[j])`.
pub struct Grid {
    /// Abscissae, ascending.
    pub xs: Vec<f64>,
    /// Ordinates, ascending.
    pub ys: Vec<f64>,
    /// Values, row-major: `z[j * xs.len() + i]`.
    pub z: Vec<f64>,
}

impl Grid {
    /// Samples `f` on `nx x ny` points spanning the box.
    pub fn sample(f: impl Fn(f64, f64) -> f64, bounds: [f64; 4], nx: usize, ny: usize) -> Grid {
        let lin = |a: f64, b: f64, n: usize| {
            (0..n).map(|i| a + (b - a) * i as f64 / (n - 1) as f64).collect::<Vec<_>>()
        };
        let xs = lin(bounds[0], bounds[1], nx);
        let ys = lin(bounds[2], bounds[3], ny);
        let mut z = Vec::with_capacity(nx * ny);
        for &y in &ys {
            for &x in &xs {
                z.push(f(x, y));
            }
        }
        Grid { xs, ys, z }
    }

    fn at(&self, i: usize, j: usize) -> f64 {
        self.z[j * self.xs.len() + i]
    }

    /// Smallest and largest finite value.
    pub fn range(&self) -> (f64, f64) {
        self.z
            .iter()
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)))
    }

    /// The polylines where the sampled function equals `level`.
    pub fn isolines(&self, level: f64) -> Vec<Vec<(f64, f64)>> {
        let (nx, ny) = (self.xs.len(), self.ys.len());
        // Each crossing is identified by the grid edge it lies on, so neighbouring cells share it.
        type EdgeKey = (usize, usize, bool);
        let mut segments: Vec<(EdgeKey, EdgeKey)> = Vec::new();
        let mut points: HashMap<EdgeKey, (f64, f64)> = HashMap::new();
        let cross = |a: f64, b: f64| (a < level) != (b < level);
        let mut point = |key: EdgeKey| -> EdgeKey {
            points.entry(key).or_insert_with(|| {
                let (i, j, horizontal) = key;
                let (i2, j2) = if horizontal { (i + 1, j) } else { (i, j + 1) };
                let (a, b) = (self.at(i, j), self.at(i2, j2));
                let t = ((level - a) / (b - a)).clamp(0.0, 1.0);
                let x = self.xs[i] + t * (self.xs[i2] - self.xs[i]);
                let y = self.ys[j] + t * (self.ys[j2] - self.ys[j]);
                (x, y)
            });
            key
        };
        for j in 0..ny - 1 {
            for i in 0..nx - 1 {
                let (z00, z10, z01, z11) =
                    (self.at(i, j), self.at(i + 1, j), self.at(i, j + 1), self.at(i + 1, j + 1));
                if ![z00, z10, z01, z11].iter().all(|v| v.is_finite()) {
                    continue;
                }
                // Edges: bottom (i,j,h), top (i,j+1,h), left (i,j,v), right (i+1,j,v).
                let mut hits: Vec<EdgeKey> = Vec::with_capacity(4);
                if cross(z00, z10) {
                    hits.push(point((i, j, true)));
                }
                if cross(z10, z11) {
                    hits.push(point((i + 1, j, false)));
                }
                if cross(z01, z11) {
                    hits.push(point((i, j + 1, true)));
                }
                if cross(z00, z01) {
                    hits.push(point((i, j, false)));
                }
                match hits.len() {
                    2 => segments.push((hits[0], hits[1])),
                    4 => {
                        // Saddle cell: decide by the centre value.
                        let centre = 0.25 * (z00 + z10 + z01 + z11);
                        if (centre < level) == (z00 < level) {
                            segments.push((hits[0], hits[1]));
                            segments.push((hits[2], hits[3]));
                        } else {
                            segments.push((hits[0], hits[3]));
                            segments.push((hits[1], hits[2]));
                        }
                    }
                    _ => {}
                }
            }
        }
        chain(segments, &points)
    }
}

/// Joins segments that share endpoints into polylines.
fn chain<K: Copy + Eq + std::hash::Hash>(
    segments: Vec<(K, K)>,
    points: &HashMap<K, (f64, f64)>,
) -> Vec<Vec<(f64, f64)>> {
    let mut adjacency: HashMap<K, Vec<usize>> = HashMap::new();
    for (s, (a, b)) in segments.iter().enumerate() {
        adjacency.entry(*a).or_default().push(s);
        adjacency.entry(*b).or_default().push(s);
    }
    let mut used = vec![false; segments.len()];
    let mut lines = Vec::new();
    let mut order: Vec<usize> = (0..segments.len()).collect();
    // Start from line ends (points with one segment) so open lines come out whole.
    order.sort_by_key(|&s| {
        let (a, b) = segments[s];
        usize::from(!(adjacency[&a].len() == 1 || adjacency[&b].len() == 1))
    });
    for s in order {
        if used[s] {
            continue;
        }
        used[s] = true;
        let (a, b) = segments[s];
        let start_at_b = adjacency[&a].len() == 1;
        let (first, mut tip) = if start_at_b { (a, b) } else { (b, a) };
        let mut keys = vec![first, tip];
        loop {
            let next = adjacency[&tip].iter().copied().find(|&t| !used[t]);
            let Some(t) = next else { break };
            used[t] = true;
            let (c, d) = segments[t];
            tip = if c == tip { d } else { c };
            keys.push(tip);
        }
        lines.push(keys.iter().map(|k| points[k]).collect());
    }
    lines
}

/// `n` levels evenly spaced in log10 between `10^lo` and `10^hi` (numpy's logspace).
pub fn logspace(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    (0..n).map(|i| 10f64.powf(lo + (hi - lo) * i as f64 / (n - 1) as f64)).collect()
}

/// About `n` evenly spaced "nice" levels strictly inside `(min, max)`, as matplotlib's
/// `contour(levels=n)` picks them (MaxNLocator with steps 1, 2, 2.5, 5, 10).
pub fn nice_levels(min: f64, max: f64, n: usize) -> Vec<f64> {
    if max.partial_cmp(&min) != Some(std::cmp::Ordering::Greater) {
        return vec![min];
    }
    let raw = (max - min) / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|s| s * mag)
        .find(|s| (max - min) / s <= n as f64)
        .unwrap_or(10.0 * mag);
    let mut v = (min / step).floor() * step;
    let mut out = Vec::new();
    while v <= max {
        if v > min && v < max {
            out.push(v);
        }
        v += step;
    }
    out
}

/// Splits a polyline into the pieces inside `[x0, x1] x [y0, y1]`, cutting segments at the border
/// (Liang-Barsky), so lines that leave the axes stop at their edge.
pub fn clip(line: &[(f64, f64)], bounds: [f64; 4]) -> Vec<Vec<(f64, f64)>> {
    let [x0, x1, y0, y1] = bounds;
    let mut pieces: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    for w in line.windows(2) {
        let ((ax, ay), (bx, by)) = (w[0], w[1]);
        if ![ax, ay, bx, by].iter().all(|v| v.is_finite()) {
            if current.len() > 1 {
                pieces.push(std::mem::take(&mut current));
            }
            current.clear();
            continue;
        }
        let (dx, dy) = (bx - ax, by - ay);
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        let mut visible = true;
        for (p, q) in [(-dx, ax - x0), (dx, x1 - ax), (-dy, ay - y0), (dy, y1 - ay)] {
            if p == 0.0 {
                if q < 0.0 {
                    visible = false;
                }
            } else {
                let r = q / p;
                if p < 0.0 {
                    t0 = t0.max(r);
                } else {
                    t1 = t1.min(r);
                }
            }
        }
        if !visible || t0 > t1 {
            if current.len() > 1 {
                pieces.push(std::mem::take(&mut current));
            }
            current.clear();
            continue;
        }
        let start = (ax + t0 * dx, ay + t0 * dy);
        let end = (ax + t1 * dx, ay + t1 * dy);
        if current.last() != Some(&start) {
            if current.len() > 1 {
                pieces.push(std::mem::take(&mut current));
            }
            current = vec![start];
        }
        current.push(end);
        if t1 < 1.0 {
            pieces.push(std::mem::take(&mut current));
        }
    }
    if current.len() > 1 {
        pieces.push(current);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circle_isoline_is_one_closed_ring_at_the_right_radius() {
        let g = Grid::sample(|x, y| x * x + y * y, [-2.0, 2.0, -2.0, 2.0], 81, 81);
        let lines = g.isolines(1.0);
        assert_eq!(lines.len(), 1);
        let ring = &lines[0];
        assert_eq!(ring.first(), ring.last(), "closed");
        for (x, y) in ring {
            assert!(((x * x + y * y).sqrt() - 1.0).abs() < 2e-3);
        }
    }

    #[test]
    fn levels_and_clipping() {
        assert_eq!(nice_levels(0.0, 73.44, 20).first(), Some(&5.0));
        assert_eq!(nice_levels(0.0, 73.44, 20).len(), 14);
        let l = logspace(-1.0, 3.0, 20);
        assert_eq!((l[0], l[19]), (0.1, 1000.0));
        let pieces = clip(&[(0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.5, 0.5)], [-1.0, 1.0, -1.0, 1.0]);
        assert_eq!(pieces, vec![vec![(0.0, 0.0), (1.0, 0.0)], vec![(1.0, 1.0), (0.5, 0.5)]]);
    }
}
