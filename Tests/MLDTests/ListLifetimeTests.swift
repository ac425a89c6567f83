import Foundation
import Testing
@testable import MLD

/// The CPU backend keeps a distance-ordered neighbour list for as long as every agent can certify
/// its neighbourhood from the list's build radius and the displacements, rather than until some
/// atom moved half the skin; the forces are the bits a list built afresh at every step gives.
@Suite struct ListLifetimeTests {
    static let models: [(String, LearnedModel)] = RenumberingTests.models + [
        ("nearest + angular sums, conservative", ConservativeTests.conservative(
            InvariantSpec.nearest(species: ["O", "H"], counts: [6, 8], searchRadius: 5.2)
                .adding(.angularSums(.grid(cutoff: 4, etas: [0.2], zetas: [1, 4]))), seed: 41)),
    ]

    /// Positions of a CP2K frame moved `steps` times: every atom drifts along its own random
    /// direction at up to `speed` Å per step, and with `jitter` also jumps by up to that much (Å)
    /// along a fresh random direction at every step, which the step estimate from the
    /// displacements' growth cannot foresee.
    static func path(steps: Int, speed: Double, jitter: Double, seed: UInt64)
        -> (frames: [[SIMD3<Double>]], species: [Int], box: Box) {
        let c = DynamicsFixtures.water.frames[200]
        let sp = try! CPUBackendTests.plantedModel().speciesIndices(elements: c.elements, species: c.species).map(Int.init)
        var rng = MLD.SplitMix64(seed: seed)
        func direction() -> SIMD3<Double> {
            while true {
                let v = SIMD3(DynamicsFixtures.uniform(&rng), DynamicsFixtures.uniform(&rng),
                              DynamicsFixtures.uniform(&rng)) * 2 - 1
                let r2 = (v * v).sum()
                if r2 > 0.01 && r2 <= 1 { return v / r2.squareRoot() }
            }
        }
        let drift = c.positions.map { _ in direction() * speed * DynamicsFixtures.uniform(&rng) }
        var frames: [[SIMD3<Double>]] = []
        for t in 0...steps {
            frames.append(c.positions.indices.map { i in
                c.positions[i] + drift[i] * Double(t) + direction() * jitter * DynamicsFixtures.uniform(&rng)
            })
        }
        return (frames, sp, c.box)
    }

    /// Along a smooth path the list outlives half the skin, and along a jittery one, with no
    /// reserve, agents force builds; at every step forces and losses are `==` those of a backend
    /// whose list is new.
    @Test(arguments: [0, 1, 2, 3])
    func keptListGivesTheBitsOfANewOne(model index: Int) throws {
        let (name, model) = Self.models[index]
        for (jitter, threads) in [(0.0, 2), (0.35, 1)] {
            let p = Self.path(steps: 70, speed: 0.03, jitter: jitter, seed: 90 + UInt64(index))
            let kept = try CPUBackend(model: model, species: p.species, box: p.box, threads: threads)
            #expect(kept.certifies)
            // along the jittery path the list is kept until an agent cannot decide
            if jitter > 0 { kept.marginReserve = 0 }
            var builds = 0
            var reference = p.frames[0]
            var keptPastHalfSkin = false
            for positions in p.frames {
                let (fa, la) = try RenumberingTests.forces(kept, positions)
                let fresh = try CPUBackend(model: model, species: p.species, box: p.box, threads: threads)
                let (fb, lb) = try RenumberingTests.forces(fresh, positions)
                #expect(fa == fb, "\(name), jitter \(jitter)")
                #expect(la == lb, "\(name), jitter \(jitter)")
                if kept.neighbourListBuilds != builds {
                    builds = kept.neighbourListBuilds
                    reference = positions
                } else {
                    let most = zip(positions, reference).map { (($0 - $1) * ($0 - $1)).sum() }.max()!
                    if most.squareRoot() > 0.5 * kept.list.skin { keptPastHalfSkin = true }
                }
            }
            if jitter == 0 {
                #expect(keptPastHalfSkin, "\(name): the list was rebuilt by half the skin")
            } else {
                #expect(kept.lateRebuilds > 0, "\(name): no build was forced by an agent")
            }
        }
    }

    /// A potential that does not certify its neighbourhoods (the pair losses of the tests) keeps
    /// the rule of half the skin.
    @Test func pairPotentialsRebuildAtHalfTheSkin() throws {
        let p = Self.path(steps: 40, speed: 0.03, jitter: 0, seed: 7)
        let pair = try CPUBackend(potential: PairAgentLoss(speciesCount: 2, cutoff: 4.5, epsilon: 0.006, sigma: 3.1),
                                  species: p.species, box: p.box)
        #expect(!pair.certifies)
        var builds = 0
        var reference = p.frames[0]
        for positions in p.frames {
            var f: [SIMD3<Double>] = []
            var l: [Double]? = nil
            try pair.computeForces(positions: positions, forces: &f, losses: &l)
            if pair.neighbourListBuilds != builds {
                builds = pair.neighbourListBuilds
                reference = positions
            }
            let most = zip(positions, reference).map { (($0 - $1) * ($0 - $1)).sum() }.max()!
            #expect(most.squareRoot() <= 0.5 * pair.list.skin)
        }
        #expect(builds > 1)
    }
}
