import Foundation
import Testing
@testable import MLD

/// The fused path of distance-only models (`InvariantEvaluator.nearestLoss`), the nearest search
/// that skips atoms by their own displacement since the list was built, the neighbour-list
/// build's sort and the Nose-Hoover chain of one: each against the general code it replaces.
@Suite struct DistanceFastPathTests {
    typealias Fixture = CPUBackendTests

    /// |a - b| / max(|b|, 1) over every component.
    func worst(_ a: [SIMD3<Double>], _ b: [SIMD3<Double>]) -> Double {
        zip(a, b).map { x, y in ((x - y) * (x - y)).sum().squareRoot() / max((y * y).sum().squareRoot(), 1) }.max()!
    }

    func backend(_ model: LearnedModel, species: [Int], box: Box, threads: Int, general: Bool) throws -> CPUBackend {
        var p = LearnedModelPotential(model: model)
        p.usesGeneralEvaluator = general
        return try CPUBackend(potential: p, species: species, box: box, threads: threads)
    }

    /// On CP2K frames (positions moved out of the box), with 1 and 2 threads, the fused path
    /// gives the forces, losses and training-range flags of the general evaluator, bit for bit.
    @Test(arguments: [false, true])
    func fusedPathEqualsGeneralEvaluator(inverse: Bool) throws {
        let model = Fixture.plantedModel(inverse: inverse)
        for k in [0, 300, 899] {
            var c = DynamicsFixtures.water.frames[k]
            c.positions = c.positions.enumerated().map { $1 + c.box.lengths * Double($0 % 3 - 1) }
            let sp = try model.speciesIndices(elements: c.elements, species: c.species).map(Int.init)
            for threads in [1, 2] {
                let fast = try backend(model, species: sp, box: c.box, threads: threads, general: false)
                let general = try backend(model, species: sp, box: c.box, threads: threads, general: true)
                var ff: [SIMD3<Double>] = [], fg: [SIMD3<Double>] = []
                var lf: [Double]? = [], lg: [Double]? = []
                try fast.computeForces(positions: c.positions, forces: &ff, losses: &lf)
                try general.computeForces(positions: c.positions, forces: &fg, losses: &lg)
                #expect(ff == fg, "frame \(k), \(threads) threads")
                #expect(lf! == lg!, "frame \(k), \(threads) threads")
                #expect(fast.outsideTrainingRange?.flags == general.outsideTrainingRange?.flags)
            }
        }
    }

    /// The model fitted to the bundled data (`FitSettings()`: nearest distances only) through
    /// `LearnedModel.evaluate` (all pairs, no list) and the CPU backend: the fused path and the
    /// general evaluator agree bit for bit, and `invariants.phi`, `invariants.gradient` and
    /// `lastLossGradient` hold the same after either.
    @Test func fittedModelEqualsGeneralEvaluator() throws {
        let model = DynamicsFixtures.fittedModel
        #expect(model.invariants.blocks.count == 1 && model.invariants.nearest != nil)
        let c = DynamicsFixtures.water.frames[450]
        let spi = try model.speciesIndices(elements: c.elements, species: c.species).map(Int.init)
        for threads in [1, 2] {
            let fast = try backend(model, species: spi, box: c.box, threads: threads, general: false)
            let general = try backend(model, species: spi, box: c.box, threads: threads, general: true)
            var ff: [SIMD3<Double>] = [], fg: [SIMD3<Double>] = []
            var lf: [Double]? = [], lg: [Double]? = []
            try fast.computeForces(positions: c.positions, forces: &ff, losses: &lf)
            try general.computeForces(positions: c.positions, forces: &fg, losses: &lg)
            #expect(ff == fg)
            #expect(lf! == lg!)
            #expect(fast.outsideTrainingRange?.flags == general.outsideTrainingRange?.flags)
        }
        let general = model.makeAgentEvaluator()
        general.usesGeneralPath = true
        let a = try model.evaluate(c)
        let b = try model.evaluate(c, evaluator: general)
        #expect(a.forces == b.forces)
        #expect(a.losses == b.losses)
        #expect(a.outOfRange == b.outOfRange)
        let fast = model.makeAgentEvaluator()
        let sp = try model.speciesIndices(elements: c.elements, species: c.species)
        let all = (0..<Int32(c.count)).map { $0 }
        try c.positions.withUnsafeBufferPointer { pos in
            try sp.withUnsafeBufferPointer { spp in
                try all.withUnsafeBufferPointer { row in
                    for k in [0, 1, 2, 95, 191] {
                        let x = try fast.force(agent: k, positions: pos, species: spp, box: c.box, candidates: row)
                        let y = try general.force(agent: k, positions: pos, species: spp, box: c.box, candidates: row)
                        #expect(x.force == y.force && x.loss == y.loss)
                        for i in 0..<model.invariantCount {
                            #expect(fast.invariants.phi[i] == general.invariants.phi[i])
                            #expect(fast.invariants.gradient[i] == general.invariants.gradient[i])
                            #expect(fast.lastLossGradient[i] == general.lastLossGradient[i])
                        }
                    }
                }
            }
        }
    }

    /// Along 60 consecutive CP2K frames (30 fs) on one backend, whose list is rebuilt only when
    /// some atom moved more than half the skin, the search that skips atoms by their
    /// displacement since the build finds the forces of the all-pairs evaluation, on the
    /// 64-water box and on its 2x2x2 tiling (1,536 atoms, several blocks), with 1 and 2 threads.
    @Test(arguments: [1, 2])
    func displacementSkipsKeepTheNearestExact(tiles: Int) throws {
        let model = Fixture.plantedModel()
        let frames = (0..<60).map { k -> Configuration in
            let c = DynamicsFixtures.water.frames[200 + k]
            return tiles == 1 ? c : c.replicated(SIMD3(repeating: tiles))
        }
        let sp = try model.speciesIndices(elements: frames[0].elements, species: frames[0].species).map(Int.init)
        for threads in [1, 2] {
            let fast = try backend(model, species: sp, box: frames[0].box, threads: threads, general: false)
            let general = try backend(model, species: sp, box: frames[0].box, threads: threads, general: true)
            for (k, c) in frames.enumerated() {
                var ff: [SIMD3<Double>] = [], fg: [SIMD3<Double>] = []
                var none: [Double]? = nil
                try fast.computeForces(positions: c.positions, forces: &ff, losses: &none)
                try general.computeForces(positions: c.positions, forces: &fg, losses: &none)
                #expect(ff == fg, "frame \(k)")
                if k % 10 == 9 {
                    let ref = try model.evaluate(c)
                    #expect(worst(ff, ref.forces) < 1e-12, "frame \(k), \(threads) threads")
                }
            }
            #expect(fast.neighbourListBuilds >= 2 && fast.neighbourListBuilds < 60)
            #expect(fast.neighbourListBuilds == general.neighbourListBuilds)
        }
    }

    /// Distance-ordered rows, through the shell sort (rows of more than 16) and the plain
    /// insertion sort, in the cell-list build and the all-pairs fallback: exactly the atoms
    /// within radius + skin, ordered by rounded-down Float distance and then index.
    @Test(arguments: [(26.0, 2000), (9.0, 60)])
    func distanceOrderedRowsAreSortedByDistanceThenIndex(edge: Double, atoms: Int) {
        let c = DynamicsFixtures.randomConfiguration(n: atoms, box: Box(cubic: edge), seed: 33)
        let sp = c.species.map(Int32.init)
        for threads in [1, 2] {
            var list = NeighbourList(radius: 3.4, skin: 1.0, speciesCount: 2, threads: threads, orderByDistance: true)
            list.build(c.positions, box: c.box, species: sp)
            #expect(list.usedAllPairs == (edge < 10))
            var longest = 0
            for i in 0..<c.count {
                for s in 0..<2 {
                    var expected: [(Float, Int32)] = []
                    for j in 0..<c.count where j != i && sp[j] == s {
                        let d = minimumImage(box(c).wrap(c.positions[j]) - box(c).wrap(c.positions[i]), lengths: c.box.lengths)
                        let r2 = (d * d).sum()
                        if r2 < 4.4 * 4.4 { expected.append((Float(r2.squareRoot()).nextDown, Int32(j))) }
                    }
                    expected.sort { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
                    longest = max(longest, expected.count)
                    let start = list.offsets[i * 2 + s]
                    let row = Array(list.neighbours(of: i, species: s))
                    #expect(row == expected.map(\.1), "atom \(i) species \(s)")
                    #expect(Array(list.buildDistances[start..<(start + row.count)]) == expected.map(\.0))
                }
            }
            #expect(longest > 16)
        }
    }

    private func box(_ c: Configuration) -> Box { c.box }

    /// The chain of one (plain Nose-Hoover, the default) takes its own path in
    /// `NoseHooverChain.propagate`; it equals the general chain loop written out, bit for bit.
    @Test func chainOfOneEqualsTheGeneralLoop() {
        let nf = 3.0, kT = Units.boltzmann * 300, tau = 20.0, dt = 0.5
        let weights = NoseHooverChain.weights(order: 3)
        for (substeps, ke2Start, v0) in [(1, 0.07, 0.013), (2, 0.02, -0.04), (1, 0.0, 0.0)] {
            var xi = [0.25], vxi = [v0]
            let scale = xi.withUnsafeMutableBufferPointer { x in
                vxi.withUnsafeMutableBufferPointer { v in
                    NoseHooverChain.propagate(xi: x.baseAddress!, vxi: v.baseAddress!, length: 1, degreesOfFreedom: nf,
                                              kT: kT, tau: tau, twiceKinetic: ke2Start, dt: dt, weights: weights,
                                              substeps: substeps)
                }
            }
            // The general loop for a chain of length 1: the end kick, no inner links, the scaling,
            // the position, the end kick again.
            let q = kT * tau * tau
            func force(_ ke2: Double) -> Double { (ke2 - nf * kT) / (nf * q) }
            var x = 0.25, v = v0, ke2 = ke2Start, s = 1.0
            for w in weights {
                let d = w * dt / Double(substeps)
                for _ in 0..<substeps {
                    v += 0.25 * d * force(ke2)
                    let e = exp(-0.5 * d * v)
                    s *= e
                    ke2 *= e * e
                    x += 0.5 * d * v
                    v += 0.25 * d * force(ke2)
                }
            }
            #expect(scale == s)
            #expect(xi[0] == x)
            #expect(vxi[0] == v)
        }
    }
}
