import Foundation
import MLD
@testable import MLDOpenCL

/// A plain all-pairs evaluation of an `OpenCLModel` in double precision: the definition the
/// kernels implement, written as directly as possible (independent of the CPU backend).
enum ReferenceForces {
    static func compute(_ model: OpenCLModel, species: [Int], positions: [SIMD3<Double>], box: Box)
        -> (forces: [SIMD3<Double>], losses: [Double]) {
        let n = positions.count, p = model.invariantCount
        var forces = [SIMD3<Double>](repeating: .zero, count: n)
        var losses = [Double](repeating: 0, count: n)
        for k in 0..<n {
            var phi = [Double](repeating: 0, count: p)
            // dphi_a/dq_k as a list of (a, coefficient c, displacement d): dphi_a/dq_k += -c d.
            var terms: [(Int, Double, SIMD3<Double>)] = []
            switch model.invariants {
            case let .nearest(counts, inverse, _):
                var offset = 0
                for (b, m) in counts.enumerated() {
                    var cand: [(Double, Int, SIMD3<Double>)] = []
                    for j in 0..<n where j != k && species[j] == b {
                        let d = box.displacement(from: positions[k], to: positions[j])
                        cand.append(((d * d).sum().squareRoot(), j, d))
                    }
                    cand.sort { ($0.0, $0.1) < ($1.0, $1.1) }
                    for s in 0..<m {
                        let (r, _, d) = cand[s]
                        phi[offset + s] = inverse ? 1 / r : r
                        let dt = inverse ? -1 / (r * r) : 1
                        terms.append((offset + s, dt / r, d))
                    }
                    offset += m
                }
            case let .radial(basis, rc):
                for j in 0..<n where j != k {
                    let d = box.displacement(from: positions[k], to: positions[j])
                    let r = (d * d).sum().squareRoot()
                    if r >= rc { continue }
                    let fc = 0.5 * (1 + cos(Double.pi * r / rc)), dfc = -0.5 * Double.pi / rc * sin(Double.pi * r / rc)
                    for m in 0..<basis.count {
                        let g: Double, dg: Double
                        switch basis {
                        case let .gaussian(c, s):
                            g = exp(-(r - c[m]) * (r - c[m]) / (2 * s[m] * s[m])); dg = -(r - c[m]) / (s[m] * s[m]) * g
                        case let .inversePower(pw):
                            g = pow(r, -pw[m]); dg = -pw[m] * g / r
                        }
                        let a = species[j] * basis.count + m
                        phi[a] += g * fc
                        terms.append((a, (dg * fc + g * dfc) / r, d))
                    }
                }
            }
            let A = species[k]
            var g = model.linear[A]
            for a in 0..<p { for b in 0..<p { g[a] += model.quadratic[A][a * p + b] * phi[b] } }
            var h = 0.0
            for a in 0..<p { h += phi[a] * 0.5 * (model.linear[A][a] + g[a]) }
            losses[k] = h
            var f = SIMD3<Double>.zero
            for (a, c, d) in terms { f += g[a] * c * d }
            forces[k] = f
        }
        return (forces, losses)
    }
}

/// Test systems and planted models.
enum TestSystems {
    /// A jittered simple-cubic arrangement of `n` atoms in `box` (no two closer than about
    /// 0.4 of the spacing), a third of them species 0, the rest species 1, shuffled; some atoms
    /// shifted by whole boxes.
    static func water(_ n: Int, box: Box, seed: UInt64) -> (species: [Int], positions: [SIMD3<Double>]) {
        var rng = SplitMix64(seed: seed)
        let m = Int(ceil(pow(Double(n), 1.0 / 3.0)))
        var sites: [SIMD3<Double>] = []
        for x in 0..<m { for y in 0..<m { for z in 0..<m { sites.append(SIMD3(Double(x), Double(y), Double(z))) } } }
        sites.shuffle(using: &rng)
        let a = box.lengths / Double(m)
        var positions: [SIMD3<Double>] = []
        for s in sites.prefix(n) {
            let jitter = SIMD3(Double.random(in: -0.3...0.3, using: &rng), Double.random(in: -0.3...0.3, using: &rng),
                               Double.random(in: -0.3...0.3, using: &rng))
            var r = (s + 0.5 + jitter) * a
            if Double.random(in: 0..<1, using: &rng) < 0.05 { r += box.lengths * SIMD3(-1, 2, 1) }
            positions.append(r)
        }
        var species = (0..<n).map { $0 % 3 == 0 ? 0 : 1 }
        species.shuffle(using: &rng)
        return (species, positions)
    }

    /// A planted quadratic loss: a minimum near typical invariant values, so g = w + W phi
    /// cancels as it does in a fitted model. W symmetric positive-ish, in eV per unit^2.
    static func plantedLoss(p: Int, species: Int, center: [Double], seed: UInt64) -> ([[Double]], [[Double]]) {
        var rng = SplitMix64(seed: seed)
        var linear: [[Double]] = [], quadratic: [[Double]] = []
        for _ in 0..<species {
            var W = [Double](repeating: 0, count: p * p)
            for a in 0..<p {
                for b in a..<p {
                    let v = a == b ? Double.random(in: 1...4, using: &rng) : Double.random(in: -0.3...0.3, using: &rng)
                    W[a * p + b] = v; W[b * p + a] = v
                }
            }
            // w = -W phi0: the loss has its minimum at phi0 = center (+ noise).
            let phi0 = center.map { $0 * Double.random(in: 0.9...1.1, using: &rng) }
            var w = [Double](repeating: 0, count: p)
            for a in 0..<p { for b in 0..<p { w[a] -= W[a * p + b] * phi0[b] } }
            linear.append(w); quadratic.append(W)
        }
        return (linear, quadratic)
    }
}
