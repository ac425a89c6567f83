/// The shape of the quadratic loss's matrix W.
public enum LossForm: String, Codable, Sendable, CaseIterable {
    /// W symmetric and full: P + P(P+1)/2 parameters.
    case full
    /// W diagonal: 2P parameters.
    case diagonal
    /// W = 0: the loss is a sum of pair terms (an exact pair potential), P parameters.
    case linear

    /// Number of fitted parameters for P invariants.
    public func parameterCount(_ p: Int) -> Int {
        switch self {
        case .full: return p + p * (p + 1) / 2
        case .diagonal: return 2 * p
        case .linear: return p
        }
    }
}

/// One species' loss H(phi) = w.phi + 1/2 phi^T W phi, in eV, with W symmetric.
///
/// g = dH/dphi = w + W phi, and the force on the agent is F_k = -sum_a g_a dphi_a/dq_k in eV/Å.
public struct QuadraticLoss: Sendable, Equatable {
    /// Number of invariants P.
    public var count: Int
    /// Linear coefficients w_a (eV per unit of phi_a).
    public var w: [Double]
    /// W, P x P, row-major, symmetric.
    public var W: [Double]

    public init(w: [Double], W: [Double]) {
        precondition(W.count == w.count * w.count)
        self.count = w.count
        self.w = w
        self.W = W
    }

    /// The zero loss on P invariants.
    public init(count p: Int) { self.init(w: [Double](repeating: 0, count: p), W: [Double](repeating: 0, count: p * p)) }

    /// H(phi) in eV.
    public func value(_ phi: [Double]) -> Double {
        var h = 0.0
        for a in 0..<count {
            var s = 0.0
            for b in 0..<count { s += W[a * count + b] * phi[b] }
            h += phi[a] * (w[a] + 0.5 * s)
        }
        return h
    }

    /// g = dH/dphi = w + W phi.
    public func gradient(_ phi: [Double]) -> [Double] {
        (0..<count).map { a in
            var s = w[a]
            for b in 0..<count { s += W[a * count + b] * phi[b] }
            return s
        }
    }

    /// Force F = -sum_a g_a dphi_a (eV/Å) and loss (eV) from phi and dphi/dq_k, with no
    /// allocation, given W (row-major P x P) and w as raw pointers. `g` is scratch of length P; on return it holds dH/dphi.
    ///
    /// W phi is accumulated row by row of W (`g += phi_b W[b, :]`), which for a symmetric W adds
    /// the same products in the same order as the dot product of row a with phi, but lets the
    /// P sums advance side by side (SIMD) instead of one long chain each.
    @inline(__always)
    public static func lossAndForce(count p: Int, phi: UnsafePointer<Double>, dphi: UnsafePointer<SIMD3<Double>>,
                                    g: UnsafeMutablePointer<Double>, Wp: UnsafePointer<Double>,
                                    wp: UnsafePointer<Double>) -> (force: SIMD3<Double>, loss: Double) {
        for a in 0..<p { g[a] = 0 }
        for b in 0..<p {
            let x = phi[b], row = Wp + b * p
            for a in 0..<p { g[a] += x * row[a] }
        }
        var h = 0.0
        var f = SIMD3<Double>.zero
        for a in 0..<p {
            let s = g[a]
            let ga = wp[a] + s
            g[a] = ga
            h += phi[a] * (wp[a] + 0.5 * s)
            f -= ga * dphi[a]
        }
        return (f, h)
    }

    /// The same with W stored row by row in SIMD4 chunks, `chunks` per row (row b is
    /// `Wv[b * chunks ..< (b + 1) * chunks]`, zero past column P), and `gv` as `chunks` SIMD4 of
    /// scratch: the P sums advance four at a time. Same products, same order, same bits as
    /// `lossAndForce(count:phi:dphi:g:Wp:wp:)` for a symmetric W; on return `g` (length P) holds dH/dphi.
    @inline(__always)
    public static func lossAndForce(count p: Int, chunks: Int, phi: UnsafePointer<Double>,
                                    dphi: UnsafePointer<SIMD3<Double>>, g: UnsafeMutablePointer<Double>,
                                    gv: UnsafeMutablePointer<SIMD4<Double>>, Wv: UnsafePointer<SIMD4<Double>>,
                                    wp: UnsafePointer<Double>) -> (force: SIMD3<Double>, loss: Double) {
        switch chunks {
        case 1: weightedRows(Count1.self, count: p, phi: phi, Wv: Wv, into: gv)
        case 2: weightedRows(Count2.self, count: p, phi: phi, Wv: Wv, into: gv)
        case 3: weightedRows(Count3.self, count: p, phi: phi, Wv: Wv, into: gv)
        case 4: weightedRows(Count4.self, count: p, phi: phi, Wv: Wv, into: gv)
        case 5: weightedRows(Count5.self, count: p, phi: phi, Wv: Wv, into: gv)
        case 6: weightedRows(Count6.self, count: p, phi: phi, Wv: Wv, into: gv)
        case 7: weightedRows(Count7.self, count: p, phi: phi, Wv: Wv, into: gv)
        case 8: weightedRows(Count8.self, count: p, phi: phi, Wv: Wv, into: gv)
        default:
            for c in 0..<chunks { gv[c] = .zero }
            for b in 0..<p {
                let x = SIMD4<Double>(repeating: phi[b]), row = Wv + b * chunks
                for c in 0..<chunks { gv[c] += x * row[c] }
            }
        }
        return lossAndForce(count: p, rowSums: UnsafeRawPointer(gv).assumingMemoryBound(to: Double.self),
                            phi: phi, dphi: dphi, g: g, wp: wp)
    }

    /// The last pass of the chunked form (and of `InvariantEvaluator.nearestLoss`), given
    /// `rowSums` = W phi: g = w + W phi into `g`, H = sum_a phi_a (w_a + (W phi)_a / 2) (eV) and
    /// F = -sum_a g_a dphi_a (eV/Å, summed in the first three lanes of a SIMD4).
    @inline(__always)
    static func lossAndForce(count p: Int, rowSums sums: UnsafePointer<Double>, phi: UnsafePointer<Double>,
                             dphi: UnsafePointer<SIMD3<Double>>, g: UnsafeMutablePointer<Double>,
                             wp: UnsafePointer<Double>) -> (force: SIMD3<Double>, loss: Double) {
        var h = 0.0
        var f = SIMD4<Double>.zero
        var a = 0
        while a < p {
            let s = sums[a], wa = wp[a]
            let ga = wa + s
            g[a] = ga
            h += phi[a] * (wa + 0.5 * s)
            f -= ga * lanes4(dphi, a)
            a &+= 1
        }
        return (SIMD3(f.x, f.y, f.z), h)
    }

    /// gv = sum over b of phi_b times row b of W (`n` = `N.value` SIMD4 per row, 1 <= n <= 8),
    /// with the n sums in registers: specialised per n, the same products in the same order as the
    /// loop over memory it replaces.
    private static func weightedRows<N: StaticCount>(_: N.Type, count p: Int, phi: UnsafePointer<Double>,
                                                         Wv: UnsafePointer<SIMD4<Double>>,
                                                         into gv: UnsafeMutablePointer<SIMD4<Double>>) {
        let n = N.value!
        var a0 = SIMD4<Double>.zero, a1 = SIMD4<Double>.zero, a2 = SIMD4<Double>.zero, a3 = SIMD4<Double>.zero
        var a4 = SIMD4<Double>.zero, a5 = SIMD4<Double>.zero, a6 = SIMD4<Double>.zero, a7 = SIMD4<Double>.zero
        var row = Wv
        for b in 0..<p {
            let x = SIMD4<Double>(repeating: phi[b])
            a0 += x * row[0]
            if n > 1 { a1 += x * row[1] }
            if n > 2 { a2 += x * row[2] }
            if n > 3 { a3 += x * row[3] }
            if n > 4 { a4 += x * row[4] }
            if n > 5 { a5 += x * row[5] }
            if n > 6 { a6 += x * row[6] }
            if n > 7 { a7 += x * row[7] }
            row += n
        }
        gv[0] = a0
        if n > 1 { gv[1] = a1 }
        if n > 2 { gv[2] = a2 }
        if n > 3 { gv[3] = a3 }
        if n > 4 { gv[4] = a4 }
        if n > 5 { gv[5] = a5 }
        if n > 6 { gv[6] = a6 }
        if n > 7 { gv[7] = a7 }
    }
}
