import Foundation
import Testing
@testable import MLD

/// `DomainForces` (the forces mld lammps computes on one rank) equals the periodic CPU backend
/// on the atoms a domain owns, when the ghosts are explicit periodic images reaching
/// `ghostReach` beyond the domain.
@Suite struct DomainForcesTests {
    static let spec = InvariantSpec.nearest(species: InvariantFixtures.water, counts: [6, 8], searchRadius: 5.2)
        .adding(.angularSums(.grid(cutoff: 4, etas: [0.2], zetas: [1, 4])))

    /// A 2x1x1 tiling of CP2K frame `frame`; the domain is the half x < Lx/2. Returns the
    /// periodic configuration, the owned atoms' indices, and the owned-then-ghost positions and
    /// species of the domain with ghosts reaching `reach` Å beyond it.
    static func domain(frame: Int, reach: Double, model: LearnedModel)
        throws -> (c: Configuration, owned: [Int], positions: [SIMD3<Double>], species: [Int32]) {
        let c = DynamicsFixtures.water.frames[frame].replicated(SIMD3(2, 1, 1))
        let sp = try model.speciesIndices(elements: c.elements, species: c.species)
        let L = c.box.lengths
        let lo = SIMD3<Double>.zero, hi = SIMD3(L.x / 2, L.y, L.z)
        let wrapped = c.positions.map { c.box.wrap($0) }
        let owned = wrapped.indices.filter { wrapped[$0].x < hi.x }
        var positions = owned.map { wrapped[$0] }
        var species = owned.map { sp[$0] }
        for dz in -1...1 { for dy in -1...1 { for dx in -1...1 {
            let shift = SIMD3<Double>(Double(dx), Double(dy), Double(dz)) * L
            for i in wrapped.indices {
                let p = wrapped[i] + shift
                func within(_ a: SIMD3<Double>, _ b: SIMD3<Double>) -> Bool {
                    (0..<3).allSatisfy { p[$0] >= a[$0] && p[$0] < b[$0] }
                }
                let inside = within(lo, hi)
                let near = within(lo - reach, hi + reach)
                if near && !inside { positions.append(p); species.append(sp[i]) }
            }
        }}}
        return (c, owned, positions, species)
    }

    static func reference(_ model: LearnedModel, _ c: Configuration) throws -> [SIMD3<Double>] {
        let sp = try model.speciesIndices(elements: c.elements, species: c.species).map(Int.init)
        let backend = try CPUBackend(model: model, species: sp, box: c.box, threads: 1)
        var f: [SIMD3<Double>] = []
        var l: [Double]? = nil
        try backend.computeForces(positions: c.positions, forces: &f, losses: &l)
        return f
    }

    /// max |F_domain - F_cpu| / max |F_cpu| over the owned atoms.
    static func error(_ model: LearnedModel, frame: Int, reach: Double, threads: Int = 1) throws -> Double {
        let d = try domain(frame: frame, reach: reach, model: model)
        let ref = try reference(model, d.c)
        var f: [SIMD3<Double>] = []
        try d.positions.withUnsafeBufferPointer { p in
            try d.species.withUnsafeBufferPointer { s in
                _ = try DomainForces(model: model, threads: threads).compute(positions: p, species: s, owned: d.owned.count, forces: &f)
            }
        }
        let scale = ref.map { ($0 * $0).sum().squareRoot() }.max()!
        var worst = 0.0
        for (k, i) in d.owned.enumerated() {
            let e = f[k] - ref[i]
            worst = max(worst, (e * e).sum().squareRoot() / scale)
        }
        return worst
    }

    @Test(arguments: [0, 899])
    func selfishForcesMatchTheCPUBackend(frame: Int) throws {
        let model = InvariantFixtures.randomModel(Self.spec, seed: 31)
        let reach = DomainForces(model: model).ghostReach
        #expect(reach == model.invariants.range)
        for threads in [1, 2] {
            let e = try Self.error(model, frame: frame, reach: reach, threads: threads)
            #expect(e < 1e-12, "frame \(frame), \(threads) threads: \(e)")
        }
    }

    @Test(arguments: [0, 899])
    func conservativeForcesMatchTheCPUBackend(frame: Int) throws {
        var model = InvariantFixtures.randomModel(Self.spec, seed: 32)
        model.agents = .conservative
        let reach = DomainForces(model: model).ghostReach
        #expect(reach == 2 * model.invariants.range)
        let e = try Self.error(model, frame: frame, reach: reach)
        #expect(e < 1e-12, "frame \(frame): \(e)")
    }

    /// Conservative forces need ghosts to twice the range: with ghosts to one range, the agents
    /// just outside the domain lack neighbours, and the forces are wrong or cannot be computed.
    @Test func conservativeForcesNeedTwiceTheRange() throws {
        var model = InvariantFixtures.randomModel(Self.spec, seed: 32)
        model.agents = .conservative
        do {
            let e = try Self.error(model, frame: 0, reach: model.invariants.range)
            #expect(e > 1e-6, "ghosts to one range gave \(e)")
        } catch let error as MLDError {
            #expect("\(error)".contains("search radius"), "\(error)")
        }
    }

    /// Rows are kept while no atom moved more than half the skin, with the forces of fresh rows.
    @Test func rowsAreReusedWhileAtomsMoveLessThanHalfTheSkin() throws {
        var model = InvariantFixtures.randomModel(Self.spec, seed: 33)
        model.agents = .conservative
        let d = try Self.domain(frame: 0, reach: 2 * model.invariants.range, model: model)
        var rng = SplitMix64(seed: 5)
        let moved = d.positions.map { p -> SIMD3<Double> in
            p + SIMD3((0..<3).map { _ in 0.2 * (Double(rng.next() % 1_000_001) / 1e6 - 0.5) })   // up to 0.17 Å
        }
        let kept = DomainForces(model: model)
        var f1: [SIMD3<Double>] = [], f2: [SIMD3<Double>] = []
        try d.species.withUnsafeBufferPointer { s in
            try d.positions.withUnsafeBufferPointer { p in _ = try kept.compute(positions: p, species: s, owned: d.owned.count, forces: &f1) }
            try moved.withUnsafeBufferPointer { p in _ = try kept.compute(positions: p, species: s, owned: d.owned.count, forces: &f1) }
            try moved.withUnsafeBufferPointer { p in _ = try DomainForces(model: model).compute(positions: p, species: s, owned: d.owned.count, forces: &f2) }
        }
        #expect(kept.builds == 1)
        let scale = f2.map { ($0 * $0).sum().squareRoot() }.max()!
        let worst = zip(f1, f2).map { ($0 - $1) * ($0 - $1) }.map { $0.sum().squareRoot() / scale }.max()!
        #expect(worst < 1e-12, "kept rows against fresh rows: \(worst)")
    }
}
