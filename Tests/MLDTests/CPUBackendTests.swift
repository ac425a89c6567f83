import Foundation
import Testing
@testable import MLD

/// The CPU backend (the oracle) against the model's own all-pairs evaluation.
@Suite struct CPUBackendTests {
    /// A planted model: nearest O:6,H:8 with random w and a random symmetric W.
    static func plantedModel(searchRadius: Double = 5.2, inverse: Bool = false, seed: UInt64 = 5) -> LearnedModel {
        var rng = MLD.SplitMix64(seed: seed)
        let P = 14
        func u() -> Double { DynamicsFixtures.uniform(&rng) * 2 - 1 }
        var losses: [QuadraticLoss] = []
        for _ in 0..<2 {
            let w = (0..<P).map { _ in u() }
            var W = [Double](repeating: 0, count: P * P)
            for a in 0..<P { for b in a..<P { let x = 0.1 * u(); W[a * P + b] = x; W[b * P + a] = x } }
            losses.append(QuadraticLoss(w: w, W: W))
        }
        let spec = InvariantSpec.nearest(species: ["O", "H"], counts: [6, 8], searchRadius: searchRadius,
                                         transform: inverse ? .inverse : .distance)
        let ranges = Array(repeating: InvariantRange(min: Array(repeating: 0, count: P), max: Array(repeating: 10, count: P)), count: 2)
        return LearnedModel(species: [.oxygen, .hydrogen], invariants: spec, form: .full, losses: losses, ranges: ranges)
    }

    /// |a - b| / max(|b|, 1) over every component.
    func worst(_ a: [SIMD3<Double>], _ b: [SIMD3<Double>]) -> Double {
        zip(a, b).map { x, y in ((x - y) * (x - y)).sum().squareRoot() / max((y * y).sum().squareRoot(), 1) }.max()!
    }

    @Test(arguments: [false, true])
    func fastNearestMatchesModelOnRealFrames(inverse: Bool) throws {
        let model = Self.plantedModel(inverse: inverse)
        for k in [0, 300, 899] {
            var c = DynamicsFixtures.water.frames[k]
            c.positions = c.positions.enumerated().map { $1 + c.box.lengths * Double($0 % 3 - 1) }   // outside the box
            let ref = try model.evaluate(c)
            let sp = try model.speciesIndices(elements: c.elements, species: c.species).map(Int.init)
            for threads in [1, 2] {
                let backend = try CPUBackend(model: model, species: sp, box: c.box, threads: threads)
                #expect((backend.potential as? LearnedModelPotential)?.isAdaptive == true)
                var f: [SIMD3<Double>] = []
                var l: [Double]? = []
                try backend.computeForces(positions: c.positions, forces: &f, losses: &l)
                #expect(worst(f, ref.forces) < 1e-12, "frame \(k) threads \(threads)")
                let lossErr = zip(l!, ref.losses).map { abs($0 - $1) / max(abs($1), 1) }.max()!
                #expect(lossErr < 1e-12)
            }
        }
    }


    /// A neighbour list started far too short grows until every nearest neighbour is certain,
    /// and the result is bit for bit the one of a list with the full search radius.
    @Test func adaptiveRadiusGrowsAndStaysExact() throws {
        let model = Self.plantedModel()
        let c = DynamicsFixtures.water.frames[500]
        let sp = try model.speciesIndices(elements: c.elements, species: c.species).map(Int.init)
        var small = LearnedModelPotential(model: model)
        small.radiusMargin = 0.2
        let a = try CPUBackend(potential: small, species: sp, box: c.box)
        let startRadius = a.list.radius
        var full = LearnedModelPotential(model: model)
        full.radiusMargin = 100
        let b = try CPUBackend(potential: full, species: sp, box: c.box)
        var fa: [SIMD3<Double>] = [], fb: [SIMD3<Double>] = []
        var none: [Double]? = nil
        try a.computeForces(positions: c.positions, forces: &fa, losses: &none)
        try b.computeForces(positions: c.positions, forces: &fb, losses: &none)
        #expect(a.list.radius > startRadius)
        #expect(a.neighbourListBuilds > 1)
        #expect(worst(fa, fb) < 1e-13)
    }

    @Test func tooFewNeighboursNamesTheAgent() throws {
        let model = Self.plantedModel(searchRadius: 2.5)
        let c = DynamicsFixtures.water.frames[0]
        let sp = try model.speciesIndices(elements: c.elements, species: c.species).map(Int.init)
        let backend = try CPUBackend(model: model, species: sp, box: c.box)
        var f: [SIMD3<Double>] = []
        var l: [Double]? = nil
        do {
            try backend.computeForces(positions: c.positions, forces: &f, losses: &l)
            Issue.record("expected an error")
        } catch let e as MLDError {
            #expect("\(e)".contains("agent "))
            #expect("\(e)".contains("search radius"))
        }
    }

    @Test func rangeLargerThanHalfTheBoxIsRefused() {
        #expect(throws: MLDError.self) {
            _ = try CPUBackend(potential: DynamicsFixtures.argonLJ, species: [0, 0], box: Box(cubic: 15))
        }
    }

    /// The pair agent loss is conservative: forces are minus the gradient of 1/2 sum_k H_k.
    @Test func pairLossForcesAreEnergyGradients() throws {
        let c = DynamicsFixtures.argonCrystal(cells: 4, jitter: 0.3, temperature: 50, seed: 2)
        let backend = try CPUBackend(potential: DynamicsFixtures.argonLJ, species: c.species, box: c.box)
        var f: [SIMD3<Double>] = []
        var l: [Double]? = []
        func energy(_ p: [SIMD3<Double>]) throws -> Double {
            var ff: [SIMD3<Double>] = []
            var ll: [Double]? = []
            try backend.computeForces(positions: p, forces: &ff, losses: &ll)
            return 0.5 * ll!.reduce(0, +)
        }
        try backend.computeForces(positions: c.positions, forces: &f, losses: &l)
        let h = 1e-5
        for i in [0, 17, 101, 255] {
            for d in 0..<3 {
                var p = c.positions, m = c.positions
                p[i][d] += h; m[i][d] -= h
                let fd = -(try energy(p) - energy(m)) / (2 * h)
                #expect(abs(fd - f[i][d]) < 1e-6 * max(1, abs(f[i][d])), "atom \(i) axis \(d): \(fd) vs \(f[i][d])")
            }
        }
        // Newton's third law holds for a pair loss: the net force vanishes.
        let net = f.reduce(SIMD3<Double>(), +)
        #expect((net * net).sum().squareRoot() < 1e-10)
    }
}

extension CPUBackendTests {
    @Test func outOfRangeFractionMatchesAllPairs() throws {
        var model = Self.plantedModel()
        // Narrow training ranges so that some agents fall outside.
        model.ranges = model.ranges.map { r in InvariantRange(min: r.min.map { _ in 0.95 }, max: r.max.map { _ in 4.0 }) }
        let c = DynamicsFixtures.water.frames[42]
        let ref = try model.evaluate(c).outOfRange
        let want = Double(ref.filter { $0 }.count) / Double(ref.count)
        #expect(want > 0 && want < 1)
        #expect(try model.outOfRangeFraction(c) == want)
    }
}
