import Foundation

/// The `nearest` invariants with the quadratic loss, evaluated per agent from a neighbour list:
/// the CPU backend's fast path for the default model.
///
/// For agent k of species A: `phi` = for each species B in model order, `t(r)` of the distances
/// to the `counts[B]` nearest atoms of B (k excluded), ascending; `t(r) = r` or `1/r`.
/// `H_A = w_A . phi + 1/2 phi^T W_A phi`, `g = w_A + W_A phi`, and
/// `F_k = -sum_a g_a dphi_a/dq_k = sum_a g_a t'(r_a) (q_j(a) - q_k) / r_a`, in eV/Å.
///
/// The neighbour list may be shorter than the search radius: the n-th nearest atom found is the
/// true n-th nearest as long as it lies within the list's exact radius; otherwise the evaluation
/// reports the radius it needs and the backend rebuilds the list.
public struct NearestQuadraticPotential: AgentPotential {
    /// Neighbour counts per species (model order).
    public let counts: [Int]
    /// `true`: t(r) = 1/r; `false`: t(r) = r.
    public let inverse: Bool
    /// The search radius in Å: fewer than `counts[B]` atoms of B within it is an error.
    public let searchRadius: Double
    /// Linear coefficients per agent species, P each (eV per invariant unit).
    public let w: [[Double]]
    /// Quadratic coefficients per agent species, P x P row-major, symmetric.
    public let W: [[Double]]
    /// Element symbols, for messages.
    public let symbols: [String]

    /// Invariants per agent, `sum(counts)`.
    public let P: Int
    let slotOffset: [Int]
    let flatW: [Double]
    let flatw: [Double]

    public init(counts: [Int], inverse: Bool, searchRadius: Double, w: [[Double]], W: [[Double]],
                symbols: [String]) {
        self.counts = counts
        self.inverse = inverse
        self.searchRadius = searchRadius
        self.w = w
        self.W = W
        self.symbols = symbols
        P = counts.reduce(0, +)
        var off = [0]
        for c in counts { off.append(off.last! + c) }
        slotOffset = off
        flatw = w.flatMap { $0 }
        flatW = W.flatMap { $0 }
        precondition(w.count == counts.count && W.count == counts.count)
        precondition(w.allSatisfy { $0.count == P } && W.allSatisfy { $0.count == P * P })
    }

    public var speciesCount: Int { counts.count }
    public var interactionRange: Double { searchRadius }
    public var isAdaptive: Bool { true }
    /// Per invariant: (r², dx, dy, dz) slot, then phi, then t'(r)/r.
    public var scratchCount: Int { 4 * P + 2 * P + counts.count }

    /// The radius holding on average 1.4 times the needed count of every species, plus 0.3 Å.
    public func initialRadius(counts n: [Int], box: Box) -> Double {
        var r = 0.0
        for (s, c) in counts.enumerated() where c > 0 {
            let density = Double(max(n[s], 1)) / box.volume
            r = max(r, pow(3 * 1.4 * Double(c + 1) / (4 * Double.pi * density), 1.0 / 3))
        }
        return min(searchRadius, r + 0.3)
    }

    public func evaluate(_ n: AgentNeighbourhood, scratch: UnsafeMutablePointer<Double>) throws -> AgentResult {
        let S = counts.count
        let slots = UnsafeMutableRawPointer(scratch).bindMemory(to: SIMD4<Double>.self, capacity: P)
        let phi = scratch + 4 * P
        let coef = phi + P
        let filled = UnsafeMutableRawPointer(coef + P).bindMemory(to: Int.self, capacity: S)
        for s in 0..<S { filled[s] = 0 }

        return try counts.withUnsafeBufferPointer { cnt in
            try slotOffset.withUnsafeBufferPointer { off in
                // Keep the counts[s] nearest of each species, sorted by r², with their vectors.
                for jj in n.neighbours {
                    let j = Int(jj)
                    let d = n.displacement(to: j)
                    let r2 = (d * d).sum()
                    let s = Int(n.species[j])
                    let c = cnt[s]
                    let base = slots + off[s]
                    var m = filled[s]
                    if m < c {
                        filled[s] = m + 1
                    } else {
                        if c == 0 || r2 >= base[c - 1].x { continue }
                        m = c - 1
                    }
                    while m > 0 && base[m - 1].x > r2 {
                        base[m] = base[m - 1]
                        m -= 1
                    }
                    base[m] = SIMD4(r2, d.x, d.y, d.z)
                }
                // Is the list long enough to be sure of every n-th nearest?
                var needed = 0.0
                for s in 0..<S where cnt[s] > 0 {
                    let far = filled[s] < cnt[s] ? Double.infinity : slots[off[s] + cnt[s] - 1].x.squareRoot()
                    if far <= n.radius { continue }
                    if n.radius >= searchRadius || far > searchRadius {
                        if n.radius >= searchRadius {
                            throw MLDError.numerical(tooFew(n.agent, n.species, s))
                        }
                        needed = max(needed, searchRadius)
                    } else {
                        needed = max(needed, far)
                    }
                }
                if needed > 0 { return AgentResult(loss: 0, force: .zero, neededRadius: needed) }

                // Invariants and t'(r)/r.
                for a in 0..<P {
                    let r2 = slots[a].x
                    let r = r2.squareRoot()
                    if inverse {
                        phi[a] = 1 / r
                        coef[a] = -1 / (r2 * r)
                    } else {
                        phi[a] = r
                        coef[a] = 1 / r
                    }
                }
                // g = w + W phi, H = phi . (w + W phi / 2), F = sum_a g_a t'(r_a)/r_a d_a.
                let A = Int(n.species[n.agent])
                return flatW.withUnsafeBufferPointer { Wp in
                    flatw.withUnsafeBufferPointer { wp in
                        let Wa = Wp.baseAddress! + A * P * P
                        let wa = wp.baseAddress! + A * P
                        var loss = 0.0
                        var force = SIMD3<Double>()
                        for a in 0..<P {
                            let row = Wa + a * P
                            var wphi = 0.0
                            for b in 0..<P { wphi += row[b] * phi[b] }
                            loss += phi[a] * (wa[a] + 0.5 * wphi)
                            let g = wa[a] + wphi
                            let v = slots[a]
                            force += (g * coef[a]) * SIMD3(v.y, v.z, v.w)
                        }
                        return AgentResult(loss: loss, force: force)
                    }
                }
            }
        }
    }

    func tooFew(_ k: Int, _ species: UnsafePointer<Int32>, _ s: Int) -> String {
        "agent \(k) (\(symbols[Int(species[k])])): fewer than \(counts[s]) atoms of \(symbols[s]) within the model's search radius \(searchRadius) Å"
    }
}
