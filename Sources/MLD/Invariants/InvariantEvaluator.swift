import Foundation

/// Evaluates one agent's invariants phi_k and their gradients dphi_a/dq_k, for one
/// `InvariantSpec`, from a list of candidate neighbours.
///
/// An evaluator owns its scratch memory (allocated once in `init`), so `evaluate` never
/// allocates: make one evaluator per thread and reuse it for every agent. It is not
/// thread-safe. After `evaluate`, `phi[a]` holds invariant a and `gradient[a]` holds
/// dphi_a/dq_k (only the agent's own coordinates are differentiated).
///
/// Candidates may be any superset of the atoms within `spec.range` of the agent (all atoms,
/// or a CSR row of a neighbour list with a skin); the agent itself and atoms farther than the
/// range are skipped. Each candidate must appear once. Distances are minimum-image, bit for bit as
/// `Box.displacement`, so `spec.range` must not exceed half the shortest box edge.
public final class InvariantEvaluator {
    public let spec: InvariantSpec
    /// Number of invariants P.
    public let count: Int
    /// phi_a after `evaluate` (Å or 1/Å for `nearest`, dimensionless sums for `radial`).
    public let phi: UnsafeMutableBufferPointer<Double>
    /// dphi_a/dq_k after `evaluate` (per Å for distances).
    public let gradient: UnsafeMutableBufferPointer<SIMD3<Double>>

    private let family: InvariantFamily
    private let speciesCount: Int
    private let range2: Double
    private let range: Double
    // nearest
    private let inverse: Bool
    private let counts: UnsafeMutableBufferPointer<Int>
    private let starts: UnsafeMutableBufferPointer<Int>
    private let filled: UnsafeMutableBufferPointer<Int>
    private let r2: UnsafeMutableBufferPointer<Double>
    private let disp: UnsafeMutableBufferPointer<SIMD3<Double>>
    // radial
    private let basisCount: Int
    private let gaussian: Bool
    private let params: UnsafeMutableBufferPointer<Double>
    private let width: Double

    public init(spec: InvariantSpec) {
        self.spec = spec
        count = spec.count
        family = spec.family
        speciesCount = spec.species.count
        range = spec.range
        range2 = spec.range * spec.range
        phi = .allocate(capacity: max(count, 1))
        gradient = .allocate(capacity: max(count, 1))
        phi.initialize(repeating: 0)
        gradient.initialize(repeating: .zero)
        counts = .allocate(capacity: speciesCount)
        starts = .allocate(capacity: speciesCount)
        filled = .allocate(capacity: speciesCount)
        for b in 0..<speciesCount {
            counts[b] = spec.blockSize(b)
            starts[b] = spec.blockStart(b)
            filled[b] = 0
        }
        r2 = .allocate(capacity: max(count, 1))
        disp = .allocate(capacity: max(count, 1))
        r2.initialize(repeating: 0)
        disp.initialize(repeating: .zero)
        inverse = spec.transform == .inverse
        let basis = spec.basis
        basisCount = basis?.count ?? 0
        gaussian = basis?.kind == .gaussian
        width = basis?.width ?? 1
        params = .allocate(capacity: max(basisCount, 1))
        params.initialize(repeating: 0)
        if let basis {
            let p = basis.kind == .gaussian ? basis.centres! : basis.powers!
            for i in 0..<basisCount { params[i] = p[i] }
        }
    }

    deinit {
        phi.deallocate(); gradient.deallocate()
        counts.deallocate(); starts.deallocate(); filled.deallocate()
        r2.deallocate(); disp.deallocate(); params.deallocate()
    }

    /// Evaluates phi and dphi/dq of `agent` into `phi` and `gradient`.
    ///
    /// - Parameters:
    ///   - agent: index of the agent atom.
    ///   - positions: positions of all atoms in Å (need not be wrapped).
    ///   - species: species index of every atom, in the spec's (model's) species order.
    ///   - box: the periodic box.
    ///   - candidates: indices of candidate neighbours (see the type's comment).
    /// - Throws: `MLDError.numerical` naming the agent if, for `nearest`, fewer than n_B atoms
    ///   of some species B lie within the search radius.
    @inline(__always)
    public func evaluate(agent: Int, positions: UnsafeBufferPointer<SIMD3<Double>>,
                         species: UnsafeBufferPointer<Int32>, box: Box,
                         candidates: UnsafeBufferPointer<Int32>) throws {
        if family == .nearest {
            try evaluateNearest(agent: agent, positions: positions, species: species, box: box, candidates: candidates)
        } else {
            evaluateRadial(agent: agent, positions: positions, species: species, box: box, candidates: candidates)
        }
    }

    /// Distance in Å of the atom behind `nearest` invariant `a` after the last `evaluate`.
    public func nearestDistance(_ a: Int) -> Double { r2[a].squareRoot() }

    private func evaluateNearest(agent: Int, positions: UnsafeBufferPointer<SIMD3<Double>>,
                                 species: UnsafeBufferPointer<Int32>, box: Box,
                                 candidates: UnsafeBufferPointer<Int32>) throws {
        for b in 0..<speciesCount { filled[b] = 0 }
        let qk = positions[agent]
        let r2p = r2.baseAddress!, dp = disp.baseAddress!
        let cnt = counts.baseAddress!, st = starts.baseAddress!, fl = filled.baseAddress!
        let sp = species.baseAddress!, pos = positions.baseAddress!
        let lengths = box.lengths
        let range2 = self.range2
        for jj in candidates {
            let j = Int(jj)
            if j == agent { continue }
            let s = Int(sp[j])
            let n = cnt[s]
            if n == 0 { continue }
            let d = minimumImage(pos[j] - qk, lengths: lengths)
            let rr = (d * d).sum()
            if rr > range2 { continue }
            let base = st[s]
            var c = fl[s]
            if c == n {
                if rr >= r2p[base + n - 1] { continue }
                c = n - 1
            } else {
                fl[s] = c + 1
            }
            var i = base + c
            while i > base && r2p[i - 1] > rr {
                r2p[i] = r2p[i - 1]; dp[i] = dp[i - 1]; i -= 1
            }
            r2p[i] = rr; dp[i] = d
        }
        for b in 0..<speciesCount where filled[b] < counts[b] {
            throw MLDError.numerical(String(
                format: "agent %d (%@): only %d %@ atoms within the search radius %.3f Å, %d needed",
                agent, spec.species[Int(species[agent])], filled[b], spec.species[b], range, counts[b]))
        }
        for a in 0..<count {
            let r = r2p[a].squareRoot()
            let d = dp[a]
            // dr/dq_k = (q_k - q_j)/r = -d/r.
            if inverse {
                let ir = 1 / r
                phi[a] = ir
                gradient[a] = d * (ir * ir * ir)          // d(1/r)/dq_k = -1/r^2 * (-d/r)
            } else {
                phi[a] = r
                gradient[a] = d * (-1 / r)
            }
        }
    }

    private func evaluateRadial(agent: Int, positions: UnsafeBufferPointer<SIMD3<Double>>,
                                species: UnsafeBufferPointer<Int32>, box: Box,
                                candidates: UnsafeBufferPointer<Int32>) {
        let ph = phi.baseAddress!, gr = gradient.baseAddress!
        for a in 0..<count { ph[a] = 0; gr[a] = .zero }
        let qk = positions[agent]
        let nb = basisCount
        let rc = range
        let piOverRc = Double.pi / rc
        let inv2s2 = 1 / (2 * width * width)
        let invS2 = 1 / (width * width)
        let pr = params.baseAddress!
        for jj in candidates {
            let j = Int(jj)
            if j == agent { continue }
            let d = minimumImage(positions[j] - qk, lengths: box.lengths)
            let rr = (d * d).sum()
            if rr >= range2 { continue }
            let r = rr.squareRoot()
            let x = piOverRc * r
            let fc = 0.5 * (1 + cos(x))
            let dfc = -0.5 * piOverRc * sin(x)
            let drdq = d * (-1 / r)
            let base = Int(species[j]) * nb
            if gaussian {
                for n in 0..<nb {
                    let u = r - pr[n]
                    let g = exp(-u * u * inv2s2)
                    let dg = -u * invS2 * g
                    ph[base + n] += g * fc
                    gr[base + n] += (dg * fc + g * dfc) * drdq
                }
            } else {
                let lr = log(r)
                for n in 0..<nb {
                    let p = pr[n]
                    let g = exp(-p * lr)
                    let dg = -p * g / r
                    ph[base + n] += g * fc
                    gr[base + n] += (dg * fc + g * dfc) * drdq
                }
            }
        }
    }
}

/// `Box.displacement` for a difference `d = b - a` (Å), bit for bit, without the libm `rint`
/// calls that `rounded(.toNearestOrEven)` compiles to on baseline x86-64: adding and
/// subtracting 1.5 * 2^52 rounds to the nearest integer, ties to even, for |d/L| < 2^51.
@inline(__always)
func minimumImage(_ d: SIMD3<Double>, lengths: SIMD3<Double>) -> SIMD3<Double> {
    let magic = SIMD3<Double>(repeating: 6_755_399_441_055_744.0)
    let n = (d / lengths + magic) - magic
    return d - lengths * n
}
