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
    /// Rows ordered by build-time distance: the nearest come first and the scan stops once
    /// no later candidate can be nearer than the current n-th.
    public var wantsDistanceOrder: Bool { true }
    /// Per-thread memory: scratch slots plus a private copy of the parameters (so threads share
    /// no reference counts or cache lines while evaluating).
    public func makeWorkspace() -> Workspace { Workspace(self) }

    public final class Workspace {
        let slots: UnsafeMutablePointer<SIMD4<Double>>   // (r², dx, dy, dz) per invariant
        let phi: UnsafeMutablePointer<Double>
        let coef: UnsafeMutablePointer<Double>
        let filled: UnsafeMutablePointer<Int>
        let counts: UnsafeMutablePointer<Int>
        let offsets: UnsafeMutablePointer<Int>
        let w: UnsafeMutablePointer<Double>
        let W: UnsafeMutablePointer<Double>
        let S: Int, P: Int

        init(_ p: NearestQuadraticPotential) {
            S = p.counts.count
            P = p.P
            slots = .allocate(capacity: max(P, 1))
            phi = .allocate(capacity: max(P, 1))
            coef = .allocate(capacity: max(P, 1))
            filled = .allocate(capacity: S)
            counts = .allocate(capacity: S)
            offsets = .allocate(capacity: S + 1)
            w = .allocate(capacity: max(p.flatw.count, 1))
            W = .allocate(capacity: max(p.flatW.count, 1))
            for s in 0..<S { counts[s] = p.counts[s]; filled[s] = 0 }
            for s in 0...S { offsets[s] = p.slotOffset[s] }
            for i in 0..<p.flatw.count { w[i] = p.flatw[i] }
            for i in 0..<p.flatW.count { W[i] = p.flatW[i] }
        }

        deinit {
            slots.deallocate(); phi.deallocate(); coef.deallocate(); filled.deallocate()
            counts.deallocate(); offsets.deallocate(); w.deallocate(); W.deallocate()
        }
    }

    /// The first neighbour-list radius holds on average `radiusMargin` times the needed count
    /// (plus one) of every species; the list grows when some agent needs more.
    public var radiusMargin = 1.2

    /// The radius holding on average `radiusMargin` times the needed count of every species.
    public func initialRadius(counts n: [Int], box: Box) -> Double {
        var r = 0.0
        for (s, c) in counts.enumerated() where c > 0 {
            let density = Double(max(n[s], 1)) / box.volume
            r = max(r, pow(3 * radiusMargin * Double(c + 1) / (4 * Double.pi * density), 1.0 / 3))
        }
        return min(searchRadius, r)
    }

    public func evaluate(_ n: AgentNeighbourhood, workspace ws: Workspace) throws -> AgentResult {
        let S = ws.S, P = ws.P
        let slots = ws.slots, phi = ws.phi, coef = ws.coef, filled = ws.filled
        let cnt = ws.counts, off = ws.offsets
        // Keep the counts[s] nearest of each species, sorted by r², with their vectors.
        let qk = n.positions[n.agent]
        let L = n.lengths, half = n.halfLengths
        let pos = n.positions.baseAddress!, nbr = n.neighbours.baseAddress
        for s in 0..<S {
            let c = cnt[s]
            filled[s] = 0
            if c == 0 { continue }
            let base = slots + off[s]
            var m = 0
            var worst = Double.infinity
            let skin = n.skin
            for t in n.speciesStarts[s]..<n.speciesStarts[s + 1] {
                // Rows sorted by build-time distance d0, and every atom is now farther than
                // d0 - skin: once that exceeds the n-th nearest so far, no later one can enter.
                if m == c, let d0 = n.buildDistances {
                    let lower = Double(d0[t]) - skin
                    if lower > 0 && lower * lower > worst { break }
                }
                let j = Int(nbr![t])
                var d = pos[j] - qk
                d.replace(with: d - L, where: d .> half)
                d.replace(with: d + L, where: d .< -half)
                let r2 = (d * d).sum()
                if r2 >= worst { continue }
                var i = m
                if m < c { m += 1 } else { i = c - 1 }
                while i > 0 && base[i - 1].x > r2 {
                    base[i] = base[i - 1]
                    i -= 1
                }
                base[i] = SIMD4(r2, d.x, d.y, d.z)
                if m == c { worst = base[c - 1].x }
            }
            filled[s] = m
        }
        // Is the list long enough to be sure of every n-th nearest?
        var needed = 0.0
        for s in 0..<S where cnt[s] > 0 {
            let far = filled[s] < cnt[s] ? Double.infinity : slots[off[s] + cnt[s] - 1].x.squareRoot()
            if far <= n.radius { continue }
            if n.radius >= searchRadius {
                throw MLDError.numerical(tooFew(n.agent, n.species[n.agent], s))
            }
            needed = max(needed, far > searchRadius ? searchRadius : far)
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
        let Wa = ws.W + A * P * P
        let wa = ws.w + A * P
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

    func tooFew(_ k: Int, _ own: Int32, _ s: Int) -> String {
        "agent \(k) (\(symbols[Int(own)])): fewer than \(counts[s]) atoms of \(symbols[s]) within the model's search radius \(searchRadius) Å"
    }
}
