import Foundation
import Testing
@testable import MLD

/// Random periodic systems and helpers for the invariant and loss tests.
enum InvariantFixtures {
    /// `n` atoms of species 0/1 (alternating O, H, H) in a cubic box of edge `edge` Å, no two
    /// closer than `minDistance`; some positions are pushed outside the box by whole box
    /// vectors so that minimum image is exercised.
    static func randomSystem(n: Int, edge: Double, seed: UInt64, minDistance: Double = 0.8) -> (positions: [SIMD3<Double>], species: [Int32], box: Box) {
        var rng = SplitMix64(seed: seed)
        let box = Box(cubic: edge)
        var pos: [SIMD3<Double>] = []
        while pos.count < n {
            let p = SIMD3(Double.random(in: 0..<edge, using: &rng), Double.random(in: 0..<edge, using: &rng),
                          Double.random(in: 0..<edge, using: &rng))
            if pos.allSatisfy({ q in let d = box.displacement(from: p, to: q); return (d * d).sum() > minDistance * minDistance }) {
                pos.append(p)
            }
        }
        for i in stride(from: 0, to: n, by: 5) {
            pos[i] += edge * SIMD3(Double(Int.random(in: -1...1, using: &rng)), Double(Int.random(in: -1...1, using: &rng)), 1)
        }
        let species = (0..<n).map { Int32($0 % 3 == 0 ? 0 : 1) }
        return (pos, species, box)
    }

    static let water = ["O", "H"]

    static func specs(edge: Double) -> [(String, InvariantSpec)] {
        let r = 0.5 * edge
        return [
            ("nearest distance", .nearest(species: water, counts: [3, 4], searchRadius: r)),
            ("nearest inverse", .nearest(species: water, counts: [2, 5], searchRadius: r, transform: .inverse)),
            ("radial gaussian", .radial(species: water, cutoff: r, basis: .gaussian(size: 6, cutoff: r))),
            ("radial inverse-power", .radial(species: water, cutoff: r, basis: .inversePower([1, 2, 3.5, 6]))),
            ("nearest + labelled angles", InvariantSpec.nearest(species: water, counts: [3, 4], searchRadius: r)
                .adding(.labelledAngles(.water))),
            ("nearest + angular sums", InvariantSpec.nearest(species: water, counts: [2, 2], searchRadius: r)
                .adding(.angularSums(.grid(cutoff: 4, etas: [0.2, 1], zetas: [1, 2.5, 4])))),
            ("radial + angular sums", InvariantSpec.radial(species: water, cutoff: 4, basis: .gaussian(size: 3, cutoff: 4))
                .adding(.angularSums(.grid(cutoff: 3.5, etas: [0.05], zetas: [1, 8])))),
        ]
    }

    /// phi of `agent` with its gradient.
    static func evaluate(_ spec: InvariantSpec, agent: Int, positions: [SIMD3<Double>], species: [Int32], box: Box) throws -> ([Double], [SIMD3<Double>]) {
        let ev = InvariantEvaluator(spec: spec)
        let cand = (0..<positions.count).map { Int32($0) }
        try positions.withUnsafeBufferPointer { p in
            try species.withUnsafeBufferPointer { s in
                try cand.withUnsafeBufferPointer { c in
                    try ev.evaluate(agent: agent, positions: p, species: s, box: box, candidates: c)
                }
            }
        }
        return (Array(ev.phi), Array(ev.gradient))
    }

    /// A random symmetric quadratic loss per species with O(1) curvature.
    static func randomModel(_ spec: InvariantSpec, seed: UInt64, form: LossForm = .full) -> LearnedModel {
        var rng = SplitMix64(seed: seed)
        let p = spec.count
        var losses: [QuadraticLoss] = []
        for _ in spec.species {
            let w = (0..<p).map { _ in Double.random(in: -1...1, using: &rng) }
            var W = [Double](repeating: 0, count: p * p)
            for a in 0..<p {
                for b in a..<p {
                    if form == .linear || (form == .diagonal && a != b) { continue }
                    let x = Double.random(in: -0.5...0.5, using: &rng)
                    W[a * p + b] = x; W[b * p + a] = x
                }
            }
            losses.append(QuadraticLoss(w: w, W: W))
        }
        let ranges = spec.species.map { _ in InvariantRange(min: .init(repeating: -1e9, count: p), max: .init(repeating: 1e9, count: p)) }
        return LearnedModel(species: [.oxygen, .hydrogen], invariants: spec, form: form, losses: losses, ranges: ranges)
    }
}

@Suite struct InvariantTests {
    /// The evaluator's fast minimum image equals `Box.displacement` bit for bit.
    @Test func minimumImageMatchesBoxDisplacement() {
        var rng = SplitMix64(seed: 8)
        let box = Box(12.4138, 9.5, 31.25)
        for i in 0..<100_000 {
            let span = i % 2 == 0 ? 40.0 : 4000.0
            let a = SIMD3(Double.random(in: -span...span, using: &rng), Double.random(in: -span...span, using: &rng), Double.random(in: -span...span, using: &rng))
            let b = i % 7 == 0 ? a + box.lengths * SIMD3(0.5, -0.5, 1.5) : SIMD3(Double.random(in: -span...span, using: &rng), Double.random(in: -span...span, using: &rng), Double.random(in: -span...span, using: &rng))
            let d = b - a
            let x = d - box.lengths * (d / box.lengths).rounded(.toNearestOrEven), y = minimumImage(d, lengths: box.lengths)
            #expect(x == y, "\(a) \(b): \(x) vs \(y)")
            if x != y { break }
        }
    }

    /// Central differences of every invariant against its analytic gradient, for every agent
    /// of a random periodic system (atoms outside the box, pairs across faces).
    @Test(arguments: [0, 1, 2, 3, 4, 5, 6])
    func gradientMatchesFiniteDifferences(specIndex: Int) throws {
        let edge = 9.0
        let (name, spec) = InvariantFixtures.specs(edge: edge)[specIndex]
        let sys = InvariantFixtures.randomSystem(n: 60, edge: edge, seed: 11 + UInt64(specIndex))
        let h = 1e-6
        var worst = 0.0
        for agent in 0..<sys.positions.count {
            let (_, grad) = try InvariantFixtures.evaluate(spec, agent: agent, positions: sys.positions, species: sys.species, box: sys.box)
            for c in 0..<3 {
                var plus = sys.positions, minus = sys.positions
                plus[agent][c] += h; minus[agent][c] -= h
                let (pp, _) = try InvariantFixtures.evaluate(spec, agent: agent, positions: plus, species: sys.species, box: sys.box)
                let (pm, _) = try InvariantFixtures.evaluate(spec, agent: agent, positions: minus, species: sys.species, box: sys.box)
                for a in 0..<spec.count {
                    let fd = (pp[a] - pm[a]) / (2 * h)
                    let err = abs(fd - grad[a][c]) / max(1, abs(fd))
                    worst = max(worst, err)
                    #expect(err < 1e-6, "\(name): agent \(agent) invariant \(spec.label(a)) component \(c): analytic \(grad[a][c]) vs FD \(fd)")
                }
            }
        }
        #expect(worst < 1e-6)
    }

    /// The neighbour terms dphi_a/dq_j against central differences in every neighbour's
    /// position, and translation invariance: the agent's own gradient is minus their sum.
    @Test(arguments: [0, 1, 2, 4, 5, 6])
    func neighbourGradientsMatchFiniteDifferences(specIndex: Int) throws {
        let edge = 9.0
        let (name, spec) = InvariantFixtures.specs(edge: edge)[specIndex]
        let sys = InvariantFixtures.randomSystem(n: 45, edge: edge, seed: 40 + UInt64(specIndex))
        let ev = InvariantEvaluator(spec: spec)
        ev.recordsNeighbourGradients = true
        let cand = (0..<sys.positions.count).map { Int32($0) }
        func phi(_ pos: [SIMD3<Double>], _ agent: Int) throws -> [Double] {
            try InvariantFixtures.evaluate(spec, agent: agent, positions: pos, species: sys.species, box: sys.box).0
        }
        let h = 1e-6
        for agent in [0, 1, 2, 17] {
            try sys.positions.withUnsafeBufferPointer { p in
                try sys.species.withUnsafeBufferPointer { s in
                    try cand.withUnsafeBufferPointer { c in
                        try ev.evaluate(agent: agent, positions: p, species: s, box: sys.box, candidates: c)
                    }
                }
            }
            // Sum the terms per (invariant, atom).
            var analytic = [[SIMD3<Double>]](repeating: [SIMD3<Double>](repeating: .zero, count: sys.positions.count), count: spec.count)
            for t in 0..<ev.termCount { analytic[Int(ev.termInvariant[t])][Int(ev.termAtom[t])] += ev.termGradient[t] }
            for a in 0..<spec.count {
                let sum = analytic[a].reduce(.zero, +)
                let e = ((sum + ev.gradient[a]) * (sum + ev.gradient[a])).sum().squareRoot()
                #expect(e < 1e-10 * max(1, (ev.gradient[a] * ev.gradient[a]).sum().squareRoot()), "\(name): translation invariance of \(spec.label(a))")
            }
            for j in 0..<sys.positions.count where j != agent {
                for c in 0..<3 {
                    var plus = sys.positions, minus = sys.positions
                    plus[j][c] += h; minus[j][c] -= h
                    let pp = try phi(plus, agent), pm = try phi(minus, agent)
                    for a in 0..<spec.count {
                        let fd = (pp[a] - pm[a]) / (2 * h)
                        #expect(abs(fd - analytic[a][j][c]) < 1e-6 * max(1, abs(fd)),
                                "\(name): agent \(agent) d\(spec.label(a))/dq_\(j)[\(c)]: analytic \(analytic[a][j][c]) vs FD \(fd)")
                    }
                }
            }
        }
    }

    /// Pairs just inside the radial cutoff and across the periodic boundary: gradient right and
    /// value continuous to zero at the cutoff.
    @Test func radialNearCutoffAndAcrossBoundary() throws {
        let box = Box(cubic: 10)
        let rc = 4.5
        let spec = InvariantSpec.radial(species: ["O", "H"], cutoff: rc, basis: .gaussian(size: 5, cutoff: rc))
        // Agent at x = 0.1, neighbour across the face at x = 10 - (rc - 0.1 - 1e-4) + ... via minimum image.
        for gap in [1e-3, 1e-2, 0.2] {
            let r = rc - gap
            let pos: [SIMD3<Double>] = [SIMD3(0.1, 5, 5), SIMD3(0.1 - r, 5, 5) + SIMD3(10, 0, 0), SIMD3(0.3, 7.1, 5.2)]
            let species: [Int32] = [0, 1, 1]
            let (phi, grad) = try InvariantFixtures.evaluate(spec, agent: 0, positions: pos, species: species, box: box)
            let h = 1e-6
            for c in 0..<3 {
                var p = pos, m = pos
                p[0][c] += h; m[0][c] -= h
                let fp = try InvariantFixtures.evaluate(spec, agent: 0, positions: p, species: species, box: box).0
                let fm = try InvariantFixtures.evaluate(spec, agent: 0, positions: m, species: species, box: box).0
                for a in 0..<spec.count {
                    let fd = (fp[a] - fm[a]) / (2 * h)
                    #expect(abs(fd - grad[a][c]) < 1e-6 * max(1, abs(fd)), "gap \(gap) invariant \(a) comp \(c)")
                }
            }
            // The far H contributes at most f_c(rc - gap) ~ (pi gap / rc)^2 / 4 to each H shell.
            let bound = pow(Double.pi * gap / rc, 2) / 4 + 1e-12
            let only = try InvariantFixtures.evaluate(spec, agent: 0, positions: [pos[0], pos[1]], species: [0, 1], box: box).0
            for a in 5..<10 { #expect(only[a] <= bound) }
            #expect(phi.allSatisfy { $0.isFinite })
        }
    }

    /// Fewer atoms of a species than requested within the search radius is an error naming the agent.
    @Test func nearestWithTooFewAtomsIsAnError() throws {
        let sys = InvariantFixtures.randomSystem(n: 12, edge: 9, seed: 5)
        let oxygens = sys.species.filter { $0 == 0 }.count   // 4
        let spec = InvariantSpec.nearest(species: ["O", "H"], counts: [oxygens, 2], searchRadius: 4.5)
        do {
            _ = try InvariantFixtures.evaluate(spec, agent: 0, positions: sys.positions, species: sys.species, box: sys.box)
            Issue.record("expected an error")
        } catch let e as MLDError {
            let s = e.description
            #expect(s.contains("agent 0 (O)"), "\(s)")
            #expect(s.contains("O atoms within the search radius"), "\(s)")
        }
        // A small search radius runs out of neighbours too.
        let tight = InvariantSpec.nearest(species: ["O", "H"], counts: [1, 1], searchRadius: 0.5)
        #expect(throws: MLDError.self) {
            _ = try InvariantFixtures.evaluate(tight, agent: 3, positions: sys.positions, species: sys.species, box: sys.box)
        }
    }

    /// The candidate list may be any superset of the neighbours within range, in any order.
    @Test func candidatesSupersetInAnyOrderGiveTheSameResult() throws {
        let sys = InvariantFixtures.randomSystem(n: 50, edge: 9, seed: 21)
        var rng = SplitMix64(seed: 3)
        for (name, spec) in InvariantFixtures.specs(edge: 9) {
            let ev = InvariantEvaluator(spec: spec)
            for agent in [0, 7, 31] {
                let (phi, grad) = try InvariantFixtures.evaluate(spec, agent: agent, positions: sys.positions, species: sys.species, box: sys.box)
                var cand = (0..<50).map { Int32($0) }.filter { j in
                    let d = sys.box.displacement(from: sys.positions[agent], to: sys.positions[Int(j)])
                    return (d * d).sum() < pow(spec.range + 0.3, 2)
                }
                cand.shuffle(using: &rng)
                try sys.positions.withUnsafeBufferPointer { p in
                    try sys.species.withUnsafeBufferPointer { s in
                        try cand.withUnsafeBufferPointer { c in
                            try ev.evaluate(agent: agent, positions: p, species: s, box: sys.box, candidates: c)
                        }
                    }
                }
                for a in 0..<spec.count {
                    #expect(abs(ev.phi[a] - phi[a]) < 1e-12 * max(1, abs(phi[a])), "\(name) agent \(agent)")
                    #expect(((ev.gradient[a] - grad[a]) * (ev.gradient[a] - grad[a])).sum() < 1e-22 * max(1, (grad[a] * grad[a]).sum()))
                }
            }
        }
    }

    /// Translation, a lattice rotation of the cubic box and a permutation of same-species atoms
    /// leave phi and H unchanged and rotate the forces.
    @Test func invariance() throws {
        let edge = 9.0
        let sys = InvariantFixtures.randomSystem(n: 48, edge: edge, seed: 99)
        for (name, spec) in InvariantFixtures.specs(edge: edge) {
            let model = InvariantFixtures.randomModel(spec, seed: 7)
            let c0 = Configuration(elements: [.oxygen, .hydrogen], species: sys.species.map(Int.init), positions: sys.positions, box: sys.box)
            let ref = try model.evaluate(c0)
            // Rotation by 90 degrees about z: a symmetry of the cubic lattice.
            func rotate(_ v: SIMD3<Double>) -> SIMD3<Double> { SIMD3(v.y, -v.x, v.z) }
            var rng = SplitMix64(seed: 1)
            let shift = SIMD3(Double.random(in: -20...20, using: &rng), Double.random(in: -20...20, using: &rng), 3.3)
            // Permute the H atoms among themselves and the O atoms among themselves.
            let hs = (0..<48).filter { sys.species[$0] == 1 }, os = (0..<48).filter { sys.species[$0] == 0 }
            var perm = Array(0..<48)
            for (a, b) in zip(hs, hs.shuffled(using: &rng)) { perm[a] = b }
            for (a, b) in zip(os, os.shuffled(using: &rng)) { perm[a] = b }
            // New atom i is old atom perm[i].
            let moved = (0..<48).map { rotate(sys.positions[perm[$0]]) + shift }
            let c1 = Configuration(elements: [.oxygen, .hydrogen], species: perm.map { Int(sys.species[$0]) }, positions: moved, box: sys.box)
            let got = try model.evaluate(c1)
            for i in 0..<48 {
                let old = perm[i]
                #expect(abs(got.losses[i] - ref.losses[old]) < 1e-9 * max(1, abs(ref.losses[old])), "\(name) loss of atom \(i)")
                let d = got.forces[i] - rotate(ref.forces[old])
                #expect((d * d).sum().squareRoot() < 1e-9 * max(1, (ref.forces[old] * ref.forces[old]).sum().squareRoot()), "\(name) force of atom \(i)")
            }
        }
    }
}
