import Foundation
import Testing
@testable import MLD

/// The CPU backend's own numbering of the atoms (cell order): the same forces and losses, bit for
/// bit, as in the caller's order, in the caller's order.
@Suite struct RenumberingTests {
    /// Selfish models that allow renumbering: nearest distances (the distance fast path), nearest
    /// distances with angular sums, and with labelled angles.
    static let models: [(String, LearnedModel)] = [
        ("nearest", CPUBackendTests.plantedModel()),
        ("nearest + angular sums", InvariantFixtures.randomModel(
            InvariantSpec.nearest(species: ["O", "H"], counts: [6, 8], searchRadius: 5.2)
                .adding(.angularSums(.grid(cutoff: 4, etas: [0.2], zetas: [1, 4]))), seed: 31)),
        ("nearest + labelled angles", InvariantFixtures.randomModel(
            InvariantSpec.nearest(species: ["O", "H"], counts: [6, 8], searchRadius: 5.2)
                .adding(.labelledAngles(.water)), seed: 32)),
    ]

    /// Frame `k` of the bundled run with its atoms in a random order (`perm[new] = old`), a
    /// few of them moved out of the box by whole box vectors.
    static func shuffledFrame(_ k: Int, seed: UInt64) -> (positions: [SIMD3<Double>], species: [Int], box: Box, perm: [Int]) {
        let c = DynamicsFixtures.water.frames[k]
        var perm = Array(0..<c.positions.count)
        var rng = MLD.SplitMix64(seed: seed)
        for i in stride(from: perm.count - 1, to: 0, by: -1) {
            perm.swapAt(i, Int(rng.next() % UInt64(i + 1)))
        }
        let sp = try! CPUBackendTests.plantedModel().speciesIndices(elements: c.elements, species: c.species).map(Int.init)
        let pos = perm.enumerated().map { new, old in c.positions[old] + c.box.lengths * Double(new % 3 - 1) }
        return (pos, perm.map { sp[$0] }, c.box, perm)
    }

    static func forces(_ b: CPUBackend, _ positions: [SIMD3<Double>]) throws -> ([SIMD3<Double>], [Double]) {
        var f: [SIMD3<Double>] = []
        var l: [Double]? = []
        try b.computeForces(positions: positions, forces: &f, losses: &l)
        return (f, l!)
    }

    @Test(arguments: [0, 1, 2])
    func shuffledAtomsGiveTheSameBits(model index: Int) throws {
        let (name, model) = Self.models[index]
        let s = Self.shuffledFrame(300, seed: 77)
        for threads in [1, 2] {
            let on = try CPUBackend(model: model, species: s.species, box: s.box, threads: threads)
            let off = try CPUBackend(model: model, species: s.species, box: s.box, threads: threads, renumber: false)
            #expect(on.renumbers && !off.renumbers)
            let (fa, la) = try Self.forces(on, s.positions)
            let (fb, lb) = try Self.forces(off, s.positions)
            // a shuffled order is not local: the backend works in its own
            #expect(on.order != (0..<s.positions.count).map { Int32($0) }, "\(name)")
            #expect(Set(on.order).count == s.positions.count)
            #expect(fa == fb, "\(name), \(threads) threads")
            #expect(la == lb, "\(name), \(threads) threads")

            // the same frame in its own order (molecule by molecule): within rounding of the
            // shuffled one (the sums run in another order), and the order is kept
            let c = DynamicsFixtures.water.frames[300]
            let sp = try model.speciesIndices(elements: c.elements, species: c.species).map(Int.init)
            let plain = try CPUBackend(model: model, species: sp, box: c.box, threads: threads)
            let (fc, _) = try Self.forces(plain, c.positions)
            #expect(plain.order == (0..<c.positions.count).map { Int32($0) })
            var worst = 0.0
            for (new, old) in s.perm.enumerated() {
                let d = fa[new] - fc[old]
                worst = max(worst, (d * d).sum().squareRoot() / max((fc[old] * fc[old]).sum().squareRoot(), 1))
            }
            #expect(worst < 1e-12, "\(name): \(worst)")
        }
    }

    /// The training-range flags of the last evaluation come back in the caller's order too.
    @Test func trainingRangeFlagsInTheCallersOrder() throws {
        var model = CPUBackendTests.plantedModel()
        // nearest distances beyond 3.6 Å are outside: some agents in, some out
        model.ranges = model.ranges.map { InvariantRange(min: $0.min, max: $0.max.map { _ in 3.6 }) }
        let s = Self.shuffledFrame(450, seed: 81)
        let c = Configuration(elements: [.oxygen, .hydrogen], species: s.species, positions: s.positions, box: s.box)
        let oracle = try model.outsideTrainingRange(c)
        #expect(oracle.contains(true) && oracle.contains(false))
        for renumber in [true, false] {
            let b = try CPUBackend(model: model, species: s.species, box: s.box, threads: 2, renumber: renumber)
            _ = try Self.forces(b, s.positions)
            #expect(b.outsideTrainingRange?.flags == oracle, "renumber \(renumber)")
        }
    }

    /// Over successive moves (some rebuilding the list, and with it the numbering), the two
    /// backends stay bit for bit equal.
    @Test func rebuildsKeepTheSameBits() throws {
        let (_, model) = Self.models[1]
        var s = Self.shuffledFrame(600, seed: 78)
        let on = try CPUBackend(model: model, species: s.species, box: s.box, threads: 2)
        let off = try CPUBackend(model: model, species: s.species, box: s.box, threads: 2, renumber: false)
        var rng = MLD.SplitMix64(seed: 79)
        var orders: Set<[Int32]> = []
        for step in 0..<6 {
            let (fa, la) = try Self.forces(on, s.positions)
            let (fb, lb) = try Self.forces(off, s.positions)
            #expect(fa == fb, "step \(step)")
            #expect(la == lb, "step \(step)")
            orders.insert(on.order)
            // up to 0.4 Å per axis: past half the skin for some atoms, so the list is rebuilt
            s.positions = s.positions.map { p in
                p + 0.4 * (SIMD3(DynamicsFixtures.uniform(&rng), DynamicsFixtures.uniform(&rng), DynamicsFixtures.uniform(&rng)) * 2 - 1)
            }
        }
        #expect(on.neighbourListBuilds > 1)
        #expect(on.neighbourListBuilds == off.neighbourListBuilds)
        #expect(orders.count > 1, "the numbering follows the atoms")
    }

    /// A non-finite position (a blown-up state) lands in an edge cell of the renumbering's grid,
    /// as in the list build, instead of trapping: the backend answers as it does without it.
    @Test func nonFinitePositionDoesNotTrap() throws {
        let model = CPUBackendTests.plantedModel()
        var s = Self.shuffledFrame(300, seed: 82)
        s.positions[17] = SIMD3(.nan, 1, 2)
        var outcomes: [String] = []
        for renumber in [true, false] {
            let b = try CPUBackend(model: model, species: s.species, box: s.box, threads: 2, renumber: renumber)
            var f: [SIMD3<Double>] = []
            var l: [Double]? = nil
            do {
                try b.computeForces(positions: s.positions, forces: &f, losses: &l)
                outcomes.append("forces, finite: \(f.allSatisfy { ($0 * $0).sum().isFinite })")
            } catch {
                outcomes.append("\(error)")
            }
        }
        #expect(outcomes[0] == outcomes[1])
    }

    /// Conservative agents add their neighbours' forces in agent order: no renumbering.
    @Test func conservativeAgentsKeepTheCallersOrder() throws {
        var model = CPUBackendTests.plantedModel()
        model.agents = .conservative
        let s = Self.shuffledFrame(300, seed: 80)
        let b = try CPUBackend(model: model, species: s.species, box: s.box)
        #expect(!b.renumbers)
        _ = try Self.forces(b, s.positions)
        #expect(b.order == (0..<s.positions.count).map { Int32($0) })
    }

    /// `mld bench --shuffle`: the tiled box in a random order, which the backend numbers in cell
    /// order; the tiled box's own order (molecule by molecule, tile by tile) is local and kept.
    @Test func shuffledBenchBoxIsRenumberedAndTiledIsNot() throws {
        let model = CPUBackendTests.plantedModel()
        let frame = DynamicsFixtures.water.frames[0]
        let tiled = try BenchmarkSystem(atoms: 1536, reference: frame)
        let shuffled = try BenchmarkSystem(atoms: 1536, reference: frame, shuffled: true)
        #expect(shuffled.origin.hasSuffix("random order"))
        let order = BenchmarkSystem.randomOrder(1536, seed: 1)
        #expect(shuffled.configuration.positions == tiled.configuration.permuted(order).positions)
        #expect(shuffled.configuration.species == order.map { tiled.configuration.species[$0] })
        var forces: [[SIMD3<Double>]] = []
        for system in [tiled, shuffled] {
            let c = system.configuration
            let sp = try model.speciesIndices(elements: c.elements, species: c.species).map(Int.init)
            let b = try CPUBackend(model: model, species: sp, box: c.box, threads: 2)
            forces.append(try Self.forces(b, c.positions).0)
            #expect((b.order == (0..<1536).map { Int32($0) }) == (system.origin == tiled.origin))
        }
        for (new, old) in order.enumerated() {
            let d = forces[1][new] - forces[0][old]
            #expect((d * d).sum().squareRoot() < 1e-11 * max(1, (forces[0][old] * forces[0][old]).sum().squareRoot()))
        }
    }

    /// The Morton order of a grid's cells is a permutation that starts at the origin and keeps
    /// each 2 x 2 x 2 block together.
    @Test func mortonRanksArePermutations() {
        #expect(CPUBackend.mortonRanks(SIMD3(2, 2, 2)) == (0..<8).map { Int32($0) })
        #expect(CPUBackend.mortonRanks(SIMD3(1, 1, 1)) == [0])
        for grid in [SIMD3(3, 5, 7), SIMD3(8, 8, 8), SIMD3(1, 4, 2), SIMD3(13, 2, 6)] {
            let r = CPUBackend.mortonRanks(grid)
            #expect(r.count == grid.x * grid.y * grid.z)
            #expect(Set(r) == Set((0..<Int32(r.count))))
            #expect(r[0] == 0)
        }
        let r = CPUBackend.mortonRanks(SIMD3(8, 8, 8))
        for z in stride(from: 0, to: 8, by: 2) {
            for y in stride(from: 0, to: 8, by: 2) {
                for x in stride(from: 0, to: 8, by: 2) {
                    let block = (0..<8).map { c in r[((z + c / 4) * 8 + y + (c / 2) % 2) * 8 + x + c % 2] }
                    #expect(block.max()! - block.min()! == 7, "block at \(x), \(y), \(z)")
                }
            }
        }
    }
}
