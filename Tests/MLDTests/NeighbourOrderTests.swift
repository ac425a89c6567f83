import Foundation
import Testing
@testable import MLD

/// The order the evaluator sums over neighbours in (ascending identity) and the order of its
/// nearest selection from any candidates (ascending r², ties in ascending identity): the same
/// whatever order the candidates come in.
@Suite struct NeighbourOrderTests {
    /// The default model's kinds of blocks, with the paper's nearest counts: the nearest O:6,H:8
    /// distances, the bend H1-H2 and 12 angular sums (eta 0.2 Å^-2, zeta 1 and 3, cutoff 4 Å).
    static func defaultSpec(searchRadius: Double) -> InvariantSpec {
        InvariantSpec.nearest(species: InvariantFixtures.water, counts: [6, 8], searchRadius: searchRadius)
            .adding(.labelledAngles(LabelledAngles.parse("H1-H2")!))
            .adding(.angularSums(.grid(cutoff: 4, etas: [0.2], zetas: [1, 3])))
    }

    /// phi and dphi/dq_k of `agent` from the candidates in the given order.
    static func evaluate(_ ev: InvariantEvaluator, agent: Int, positions: [SIMD3<Double>], species: [Int32],
                         box: Box, candidates: [Int32]) throws -> (phi: [Double], gradient: [SIMD3<Double>], atoms: [Int32]) {
        try positions.withUnsafeBufferPointer { p in
            try species.withUnsafeBufferPointer { s in
                try candidates.withUnsafeBufferPointer { c in
                    _ = try ev.evaluate(agent: agent, positions: p, species: s, box: box, candidates: c)
                }
            }
        }
        let nearest = ev.spec.nearest.map { $0.counts.reduce(0, +) } ?? 0
        return (Array(ev.phi), Array(ev.gradient), (0..<nearest).map { ev.localAtom($0) })
    }

    @Test func theCandidatesOrderChangesNoBit() throws {
        let edge = 10.0
        let sys = InvariantFixtures.randomSystem(n: 90, edge: edge, seed: 41)
        var rng = SplitMix64(seed: 7)
        let specs = InvariantFixtures.specs(edge: edge) + [("default", Self.defaultSpec(searchRadius: 0.5 * edge))]
        let ascending = (0..<sys.positions.count).map { Int32($0) }
        for (name, spec) in specs {
            let ev = InvariantEvaluator(spec: spec)
            for agent in stride(from: 0, to: sys.positions.count, by: 7) {
                let a = try Self.evaluate(ev, agent: agent, positions: sys.positions, species: sys.species, box: sys.box,
                                          candidates: ascending)
                for order in [Array(ascending.reversed()), ascending.shuffled(using: &rng)] {
                    let b = try Self.evaluate(ev, agent: agent, positions: sys.positions, species: sys.species,
                                              box: sys.box, candidates: order)
                    #expect(a.phi == b.phi, "\(name), agent \(agent): phi")
                    #expect(a.gradient == b.gradient, "\(name), agent \(agent): gradient")
                    #expect(a.atoms == b.atoms, "\(name), agent \(agent): nearest atoms")
                }
            }
        }
    }

    /// An oxygen with six hydrogens and six oxygens at exactly the same distances (along the
    /// axes, at 1 and 2.5 Å: every r² is exact), and more atoms farther out: the nearest selection
    /// keeps the tied atoms of smallest index, in ascending index, and nothing depends on the
    /// candidates' order.
    @Test func tiesGoByIdentity() throws {
        let box = Box(cubic: 14)
        let centre = SIMD3<Double>(7, 7, 7)
        let axes: [SIMD3<Double>] = [[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]]
        // index 0: the agent; then the hydrogens and oxygens interleaved so that index order is
        // not the order along the axes
        var positions = [centre], species: [Int32] = [0]
        for (i, u) in axes.enumerated() {
            positions.append(centre + u * 1.0); species.append(1)
            positions.append(centre + axes[(i + 3) % 6] * 2.5); species.append(0)
        }
        for u in axes { positions.append(centre + u * 3.25 + SIMD3(0.5, 0.5, 0.5)); species.append(1) }
        let spec = InvariantSpec.nearest(species: InvariantFixtures.water, counts: [3, 4], searchRadius: 5)
            .adding(.labelledAngles(LabelledAngles.parse("H1-H2")!))
            .adding(.angularSums(.grid(cutoff: 4, etas: [0.2], zetas: [1, 3])))
        let ev = InvariantEvaluator(spec: spec)
        let ascending = (0..<positions.count).map { Int32($0) }
        let a = try Self.evaluate(ev, agent: 0, positions: positions, species: species, box: box, candidates: ascending)
        let oxygens = (1..<positions.count).filter { species[$0] == 0 }.map { Int32($0) }
        let hydrogens = (1..<positions.count).filter { species[$0] == 1 }.map { Int32($0) }
        #expect(a.atoms == Array(oxygens.prefix(3)) + Array(hydrogens.prefix(4)))
        #expect(a.phi.prefix(7) == [2.5, 2.5, 2.5, 1, 1, 1, 1])
        var rng = SplitMix64(seed: 3)
        for order in [Array(ascending.reversed()), ascending.shuffled(using: &rng), ascending.shuffled(using: &rng)] {
            let b = try Self.evaluate(ev, agent: 0, positions: positions, species: species, box: box, candidates: order)
            #expect(b.atoms == a.atoms)
            #expect(b.phi == a.phi)
            #expect(b.gradient == a.gradient)
        }
    }
}
