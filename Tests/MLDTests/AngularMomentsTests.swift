import Foundation
import Testing
@testable import MLD

/// The moment-tensor evaluation of the angular sums (O(n) in the neighbours) against the pair
/// loop (O(n^2)): the same invariants, own gradients and neighbour gradients up to rounding.
@Suite struct AngularMomentsTests {
    static let water = ["O", "H"]

    /// Integer-zeta blocks (the moment form applies), from the fit's default grid to rank 7 and
    /// two etas; ranks 1 to 4 each have a specialised lane path (`Count1` ... `Count4`; rank 3 folds
    /// its functions by rank, with one eta and with two),
    /// rank 7 the one that reads the rank at run time.
    static let specs: [(String, InvariantSpec)] = [
        ("default grid", InvariantSpec.nearest(species: water, counts: [2, 2], searchRadius: 4.5)
            .adding(.angularSums(.grid(cutoff: 4, etas: [0.2], zetas: [1, 4])))),
        ("two etas, zeta 1 2 3", InvariantSpec.nearest(species: water, counts: [1, 1], searchRadius: 4.5)
            .adding(.angularSums(.grid(cutoff: 4.4, etas: [0.2, 1], zetas: [1, 2, 3])))),
        ("rank 7, no nearest", InvariantSpec.radial(species: water, cutoff: 3, basis: .gaussian(size: 2, cutoff: 3))
            .adding(.angularSums(.grid(cutoff: 3.5, etas: [0.05], zetas: [7, 1])))),
        ("rank 1", InvariantSpec.nearest(species: water, counts: [1, 1], searchRadius: 4.5)
            .adding(.angularSums(.grid(cutoff: 4, etas: [0.2], zetas: [1])))),
        ("rank 2, two etas", InvariantSpec.nearest(species: water, counts: [1, 1], searchRadius: 4.5)
            .adding(.angularSums(.grid(cutoff: 4.2, etas: [0.1, 0.5], zetas: [2, 1])))),
        ("the default's zeta 1 3", InvariantSpec.nearest(species: water, counts: [2, 2], searchRadius: 4.5)
            .adding(.angularSums(.grid(cutoff: 4, etas: [0.2], zetas: [1, 3])))),
    ]

    @Test func appliesOnlyToIntegerZetasUpToTheMaximumRank() {
        #expect(AngularMoments(sums: .grid(cutoff: 4, etas: [0.2], zetas: [1, 4]), speciesCount: 2) != nil)
        #expect(AngularMoments(sums: .grid(cutoff: 4, etas: [0.2], zetas: [1, 2.5]), speciesCount: 2) == nil)
        #expect(AngularMoments(sums: .grid(cutoff: 4, etas: [0.2], zetas: [8]), speciesCount: 2) == nil)
        let t = AngularMoments(sums: .grid(cutoff: 4, etas: [0.2, 1, 0.2], zetas: [4]), speciesCount: 2)!
        #expect(t.rank == 4 && t.monomialCount == 35 && t.etaCount == 2)
        // The multinomial weights of rank m sum to 3^m ((1 + 1 + 1)^m).
        for m in 0...4 {
            let w = (t.rankStart[m]..<t.rankStart[m + 1]).map { t.weight[$0] }.reduce(0, +)
            #expect(w == pow(3, Double(m)))
        }
    }

    /// Selfish forces fold the sums' gradients with dH/dphi (`defersAngularGradients`): the folded
    /// sum equals sum_a c_a dphi_a/dq_k from every invariant's own gradient, for any coefficients.
    @Test(arguments: 0..<6)
    func foldedOwnGradientEqualsTheWeightedSum(specIndex: Int) throws {
        let (name, spec) = Self.specs[specIndex]
        let sys = InvariantFixtures.randomSystem(n: 96, edge: 9.5, seed: 950 + UInt64(specIndex), minDistance: 0.9)
        let folded = InvariantEvaluator(spec: spec), full = InvariantEvaluator(spec: spec)
        folded.defersAngularGradients = true
        var rng = SplitMix64(seed: 77)
        let c = (0..<spec.count).map { _ in Double(rng.next() % 2001) / 1000 - 1 }
        let cand = (0..<sys.positions.count).map { Int32($0) }
        var worst = 0.0
        for agent in 0..<sys.positions.count {
            try sys.positions.withUnsafeBufferPointer { p in
                try sys.species.withUnsafeBufferPointer { s in
                    try cand.withUnsafeBufferPointer { cp in
                        try folded.evaluate(agent: agent, positions: p, species: s, box: sys.box, candidates: cp)
                        try full.evaluate(agent: agent, positions: p, species: s, box: sys.box, candidates: cp)
                    }
                }
            }
            #expect(folded.angularGradientsDeferred && !full.angularGradientsDeferred)
            var a = SIMD3<Double>.zero, b = SIMD3<Double>.zero, scale = 0.0
            for i in 0..<spec.count {
                // The folded path evaluates the sums in SIMD lanes: the same up to rounding.
                #expect(abs(folded.phi[i] - full.phi[i]) <= 1e-13 * max(1, abs(full.phi[i])))
                a += c[i] * folded.gradient[i]
                b += c[i] * full.gradient[i]
                scale += abs(c[i]) * (full.gradient[i] * full.gradient[i]).sum().squareRoot()
            }
            a += c.withUnsafeBufferPointer { folded.angularOwnGradient($0.baseAddress!) }
            let d = a - b
            worst = max(worst, (d * d).sum().squareRoot() / max(scale, 1e-300))
        }
        #expect(worst < 1e-12, "\(name): worst relative difference \(worst)")
        // Recording neighbour gradients (conservative models) turns the folding off.
        folded.recordsNeighbourGradients = true
        try sys.positions.withUnsafeBufferPointer { p in
            try sys.species.withUnsafeBufferPointer { s in
                try cand.withUnsafeBufferPointer { cp in
                    try folded.evaluate(agent: 0, positions: p, species: s, box: sys.box, candidates: cp)
                }
            }
        }
        #expect(!folded.angularGradientsDeferred)
    }

    @Test(arguments: 0..<6)
    func momentsEqualThePairLoop(specIndex: Int) throws {
        let (name, spec) = Self.specs[specIndex]
        let sys = InvariantFixtures.randomSystem(n: 96, edge: 9.5, seed: 900 + UInt64(specIndex), minDistance: 0.9)
        let fast = InvariantEvaluator(spec: spec), slow = InvariantEvaluator(spec: spec)
        slow.usesTripletSums = true
        fast.recordsNeighbourGradients = true
        slow.recordsNeighbourGradients = true
        let cand = (0..<sys.positions.count).map { Int32($0) }
        var worst = 0.0
        for agent in 0..<sys.positions.count {
            try sys.positions.withUnsafeBufferPointer { p in
                try sys.species.withUnsafeBufferPointer { s in
                    try cand.withUnsafeBufferPointer { c in
                        try fast.evaluate(agent: agent, positions: p, species: s, box: sys.box, candidates: c)
                        try slow.evaluate(agent: agent, positions: p, species: s, box: sys.box, candidates: c)
                    }
                }
            }
            // Neighbour gradients summed per (invariant, atom).
            func perAtom(_ ev: InvariantEvaluator) -> [Int: SIMD3<Double>] {
                var out: [Int: SIMD3<Double>] = [:]
                for t in 0..<ev.termCount {
                    out[Int(ev.termInvariant[t]) * 1000 + Int(ev.termAtom[t]), default: .zero] += ev.termGradient[t]
                }
                return out
            }
            let nf = perAtom(fast), ns = perAtom(slow)
            for a in 0..<spec.count {
                let scale = max(1, abs(slow.phi[a]))
                let dphi = abs(fast.phi[a] - slow.phi[a]) / scale
                let g = fast.gradient[a] - slow.gradient[a]
                let gs = max(1, (slow.gradient[a] * slow.gradient[a]).sum().squareRoot())
                let dg = (g * g).sum().squareRoot() / gs
                worst = max(worst, dphi, dg)
                #expect(dphi < 1e-12 && dg < 1e-12, "\(name): agent \(agent) \(spec.label(a)): phi \(fast.phi[a]) vs \(slow.phi[a]), gradient \(fast.gradient[a]) vs \(slow.gradient[a])")
            }
            for key in Set(nf.keys).union(ns.keys) {
                let d = (nf[key] ?? .zero) - (ns[key] ?? .zero)
                let s = ns[key] ?? .zero
                #expect((d * d).sum().squareRoot() < 1e-12 * max(1, (s * s).sum().squareRoot()),
                        "\(name): agent \(agent) neighbour term \(key)")
            }
        }
        #expect(worst < 1e-12)
    }

    /// The folded path's lane layout at its edges: an agent with no neighbour of one species
    /// inside the cutoff (no batch of that species), one with a single neighbour (three padding
    /// lanes), and one with five of a species (a full batch and a partial one), against every
    /// invariant's own gradient.
    @Test func foldedPathHandlesEmptyAndPartialBatches() throws {
        let spec = InvariantSpec.radial(species: Self.water, cutoff: 3, basis: .gaussian(size: 2, cutoff: 3))
            .adding(.angularSums(.grid(cutoff: 4.4, etas: [0.2, 1], zetas: [1, 2, 3])))
        let box = Box(cubic: 20)
        let positions: [SIMD3<Double>] = [
            SIMD3(5, 5, 5), SIMD3(6, 5, 5), SIMD3(5, 7.5, 5.3), SIMD3(5, 5, 7), SIMD3(3, 5.2, 5), SIMD3(5, 3.2, 5.4),
            SIMD3(15, 15, 15), SIMD3(15.9, 15.2, 15),
        ]
        let species: [Int32] = [0, 1, 1, 1, 1, 1, 0, 1]
        let folded = InvariantEvaluator(spec: spec), full = InvariantEvaluator(spec: spec)
        folded.defersAngularGradients = true
        let c = (0..<spec.count).map { Double($0 % 7) / 3 - 1 }
        let cand = (0..<positions.count).map { Int32($0) }
        for agent in 0..<positions.count {
            try positions.withUnsafeBufferPointer { p in
                try species.withUnsafeBufferPointer { s in
                    try cand.withUnsafeBufferPointer { cp in
                        try folded.evaluate(agent: agent, positions: p, species: s, box: box, candidates: cp)
                        try full.evaluate(agent: agent, positions: p, species: s, box: box, candidates: cp)
                    }
                }
            }
            var a = SIMD3<Double>.zero, b = SIMD3<Double>.zero, scale = 0.0
            for i in 0..<spec.count {
                #expect(abs(folded.phi[i] - full.phi[i]) <= 1e-13 * max(1, abs(full.phi[i])), "agent \(agent) \(spec.label(i))")
                a += c[i] * folded.gradient[i]
                b += c[i] * full.gradient[i]
                scale += abs(c[i]) * (full.gradient[i] * full.gradient[i]).sum().squareRoot()
            }
            a += c.withUnsafeBufferPointer { folded.angularOwnGradient($0.baseAddress!) }
            let d = a - b
            #expect((d * d).sum().squareRoot() <= 1e-12 * max(scale, 1e-300), "agent \(agent): \(a) vs \(b)")
        }
        // Agent 6 sees one H and no O inside the cutoff: its O-O and O-H sums vanish, and its H-H
        // sums, (M:M - R²) / 2 for a single neighbour, to rounding.
        try positions.withUnsafeBufferPointer { p in
            try species.withUnsafeBufferPointer { s in
                try cand.withUnsafeBufferPointer { cp in
                    try folded.evaluate(agent: 6, positions: p, species: s, box: box, candidates: cp)
                }
            }
        }
        for i in 0..<spec.count where spec.label(i).hasPrefix("ang") {
            #expect(abs(folded.phi[i]) < 1e-14, "\(spec.label(i)): \(folded.phi[i])")
        }
    }
}
