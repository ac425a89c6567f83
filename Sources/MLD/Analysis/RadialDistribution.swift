import Foundation

/// The radial distribution function g_AB(r) of a periodic trajectory, averaged over frames.
///
/// Every pair at minimum-image distance r < rMax (at most half the shortest box edge, where
/// the minimum image is unique) is counted in bins of width `binWidth`. Normalisation: the
/// count in shell [r, r+dr) divided by what an ideal gas of the same pair density gives,
/// n_pairs × V_shell / V, with V_shell = 4π/3 ((r+dr)³ - r³) and n_pairs = N_A N_B for two
/// species or N_A (N_A - 1)/2 for one (each unordered pair counted once). So g → 1 at large r
/// for an uncorrelated system.
public struct RadialDistribution: Sendable {
    /// The two elements.
    public var first: String, second: String
    /// Bin centres, in Å.
    public var r: [Double]
    /// g(r), dimensionless.
    public var g: [Double]
    /// Bin width, in Å.
    public var binWidth: Double
    /// Upper end of the last bin, in Å.
    public var rMax: Double
    /// Density of the `second` atoms around a `first` atom (N_B/V, or (N_A - 1)/V for one
    /// species), in Å⁻³; used for coordination numbers.
    public var neighbourDensity: Double

    /// - Parameters:
    ///   - binWidth: histogram bin width, in Å (default 0.02 Å).
    ///   - rMax: upper limit in Å; nil means half the shortest box edge (also the largest allowed).
    public init(_ trajectory: Trajectory, _ first: String, _ second: String,
                binWidth: Double = 0.02, rMax: Double? = nil) throws {
        let a = trajectory.atoms(of: first), b = trajectory.atoms(of: second)
        let box = trajectory.box
        let limit = box.shortestEdge / 2
        let rm = min(rMax ?? limit, limit)
        guard binWidth > 0, rm > binWidth else {
            throw MLDError.usage("RDF needs 0 < bin width (\(binWidth) Å) < rMax (\(rm) Å)")
        }
        let same = first == second
        let pairs = same ? Double(a.count * (a.count - 1)) / 2 : Double(a.count * b.count)
        guard pairs > 0 else {
            throw MLDError.input(file: trajectory.source, line: nil,
                                 problem: "g_\(first)\(second) needs atoms of \(first) and \(second) (two of \(first) when they are the same)")
        }
        let n = Int((rm / binWidth).rounded(.down))
        var counts = [Double](repeating: 0, count: n)
        let rm2 = (Double(n) * binWidth) * (Double(n) * binWidth)
        let inv = 1 / binWidth
        for p in trajectory.positions {
            for (u, i) in a.enumerated() {
                let others = same ? b[(u + 1)...] : b[...]
                for j in others {
                    let d = box.displacement(from: p[i], to: p[j])
                    let d2 = (d * d).sum()
                    if d2 < rm2 {
                        let k = Int(d2.squareRoot() * inv)
                        if k < n { counts[k] += 1 }
                    }
                }
            }
        }
        let frames = Double(trajectory.frameCount)
        let volume = box.volume
        self.first = first
        self.second = second
        self.binWidth = binWidth
        self.rMax = Double(n) * binWidth
        neighbourDensity = Double(same ? b.count - 1 : b.count) / volume
        r = (0..<n).map { (Double($0) + 0.5) * binWidth }
        g = (0..<n).map { k in
            let lo = Double(k) * binWidth, hi = lo + binWidth
            let shell = 4 * Double.pi / 3 * (hi * hi * hi - lo * lo * lo)
            return counts[k] / (frames * pairs * shell / volume)
        }
    }

    /// A peak or trough of g(r): position in Å, height dimensionless.
    public struct Extremum: Sendable, Codable, Equatable {
        public var position: Double
        public var height: Double
    }

    /// g smoothed by a centred moving average over `2 half + 1` bins (peak search only).
    func smoothed(half: Int) -> [Double] {
        g.indices.map { k in
            let lo = max(0, k - half), hi = min(g.count - 1, k + half)
            return g[lo...hi].reduce(0, +) / Double(hi - lo + 1)
        }
    }

    /// The first peak: the first bin beyond `after` Å (where g > 1 unless `aboveOne` is false)
    /// that is the largest value of the lightly smoothed g (3 bins) within ±`window` Å; its
    /// position is refined by a parabola through the maximum and its neighbours. Height is
    /// the raw g at the peak bin. Nil if there is none.
    public func firstPeak(after: Double = 0, aboveOne: Bool = true, window: Double = 0.25) -> Extremum? {
        let s = smoothed(half: 1)
        let w = max(1, Int((window / binWidth).rounded()))
        for k in s.indices where r[k] > after && (!aboveOne || s[k] > 1) && s[k] > 0 {
            let lo = max(0, k - w), hi = min(s.count - 1, k + w)
            if s[k] >= s[lo...hi].max()! && k > 0 && hi - k == w {
                return Extremum(position: refine(s, k), height: g[k])
            }
        }
        return nil
    }

    /// The first minimum after the first peak (same rules, smoothed over 5 bins), or nil.
    public func firstMinimum(window: Double = 0.25) -> Extremum? {
        guard let p = firstPeak(window: window) else { return nil }
        let s = smoothed(half: 2)
        let w = max(1, Int((window / binWidth).rounded()))
        let start = Int(p.position / binWidth) + 1
        guard start < s.count - 1 else { return nil }
        for k in start..<(s.count - 1) {
            let lo = max(0, k - w), hi = min(s.count - 1, k + w)
            if s[k] <= s[lo...hi].min()! && hi - k == w {
                return Extremum(position: refine(s, k), height: s[k])
            }
        }
        return nil
    }

    /// Mean number of `second` atoms between `inner` and `radius` Å of a `first` atom:
    /// 4π ρ ∫ g(r) r² dr over that shell (bins whose centre lies in it), with ρ the density of the *other* `second` atoms
    /// (N_B/V, or (N_A - 1)/V for one species).
    public func coordination(within radius: Double, from inner: Double = 0) -> Double {
        var s = 0.0
        for k in r.indices where r[k] >= inner && r[k] < radius { s += g[k] * r[k] * r[k] * binWidth }
        return 4 * Double.pi * neighbourDensity * s
    }

    private func refine(_ s: [Double], _ k: Int) -> Double {
        let y0 = s[k - 1], y1 = s[k], y2 = s[k + 1]
        let den = y0 - 2 * y1 + y2
        let shift = den != 0 ? 0.5 * (y0 - y2) / den : 0
        return r[k] + max(-0.5, min(0.5, shift)) * binWidth
    }
}
