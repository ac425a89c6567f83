import Foundation
import Testing
@testable import MLD

/// Conservative agents: F_i = -dU/dq_i with U = sum_k H_k, from the evaluator's neighbour terms.
@Suite struct ConservativeTests {
    static func specs(edge: Double) -> [(String, InvariantSpec)] {
        let r = 0.5 * edge
        return [
            ("nearest", .nearest(species: InvariantFixtures.water, counts: [3, 4], searchRadius: r)),
            ("nearest + labelled + sums", InvariantSpec.nearest(species: InvariantFixtures.water, counts: [2, 3], searchRadius: r)
                .adding(.labelledAngles(.water)).adding(.angularSums(.grid(cutoff: 3.5, etas: [0.2], zetas: [1, 4])))),
            ("radial + sums", InvariantSpec.radial(species: InvariantFixtures.water, cutoff: 4, basis: .gaussian(size: 4, cutoff: 4))
                .adding(.angularSums(.grid(cutoff: 3.5, etas: [0.1], zetas: [2])))),
        ]
    }

    static func conservative(_ spec: InvariantSpec, seed: UInt64) -> LearnedModel {
        var m = InvariantFixtures.randomModel(spec, seed: seed)
        m.agents = .conservative
        return m
    }

    /// The all-pairs forces are minus central differences of U = sum of the losses.
    @Test(arguments: [0, 1, 2])
    func forcesAreMinusTheGradientOfTheSumOfLosses(index: Int) throws {
        let edge = 9.0
        let (name, spec) = Self.specs(edge: edge)[index]
        let model = Self.conservative(spec, seed: 9 + UInt64(index))
        let sys = InvariantFixtures.randomSystem(n: 36, edge: edge, seed: 70 + UInt64(index))
        func config(_ p: [SIMD3<Double>]) -> Configuration {
            Configuration(elements: [.oxygen, .hydrogen], species: sys.species.map(Int.init), positions: p, box: sys.box)
        }
        let ref = try model.evaluate(config(sys.positions))
        let h = 1e-6
        var worst = 0.0
        for i in stride(from: 0, to: sys.positions.count, by: 5) {
            for c in 0..<3 {
                var plus = sys.positions, minus = sys.positions
                plus[i][c] += h; minus[i][c] -= h
                let up = try model.evaluate(config(plus)).losses.reduce(0, +)
                let um = try model.evaluate(config(minus)).losses.reduce(0, +)
                let fd = -(up - um) / (2 * h)
                let err = abs(fd - ref.forces[i][c]) / max(1, abs(fd))
                worst = max(worst, err)
                #expect(err < 1e-6, "\(name): atom \(i) component \(c): force \(ref.forces[i][c]) vs -dU/dq \(fd)")
            }
        }
        // Newton's third law: the forces sum to zero.
        let net = ref.forces.reduce(SIMD3<Double>.zero, +)
        #expect((net * net).sum().squareRoot() < 1e-9 * Double(sys.positions.count), "\(name): net force \(net)")
        #expect(worst < 1e-6)
    }

    /// The CPU backend (neighbour lists, parallel blocks, deterministic scatter) gives the
    /// all-pairs forces, identically for one and two threads, on real CP2K frames.
    @Test func cpuBackendMatchesAllPairs() throws {
        let spec = InvariantSpec.nearest(species: InvariantFixtures.water, counts: [6, 8], searchRadius: 5.2)
            .adding(.labelledAngles(LabelledAngles(pairs: [(NeighbourLabel("H", 1), NeighbourLabel("H", 2))])))
            .adding(.angularSums(.grid(cutoff: 4, etas: [0.2], zetas: [1, 4])))
        var model = InvariantFixtures.randomModel(spec, seed: 12)
        model.agents = .conservative
        for k in [0, 899] {
            let c = DynamicsFixtures.water.frames[k]
            let ref = try model.evaluate(c)
            let sp = try model.speciesIndices(elements: c.elements, species: c.species).map(Int.init)
            var byThreads: [[SIMD3<Double>]] = []
            for threads in [1, 2] {
                let backend = try CPUBackend(model: model, species: sp, box: c.box, threads: threads)
                #expect(backend.potential.isConservative)
                var f: [SIMD3<Double>] = []
                var l: [Double]? = []
                try backend.computeForces(positions: c.positions, forces: &f, losses: &l)
                let worst = zip(f, ref.forces).map { x, y in ((x - y) * (x - y)).sum().squareRoot() / max((y * y).sum().squareRoot(), 1) }.max()!
                #expect(worst < 1e-11, "frame \(k), \(threads) threads: \(worst)")
                byThreads.append(f)
            }
            #expect(byThreads[0] == byThreads[1], "frame \(k): the thread count changed the forces")
        }
    }

    /// The joint fit recovers a planted conservative model from its own forces.
    @Test func jointFitRecoversAPlantedModel() throws {
        var planted = Self.conservative(.nearest(species: ["O", "H"], counts: [2, 3], searchRadius: 5.5), seed: 3)
        planted.losses = planted.losses.map { l in QuadraticLoss(w: l.w, W: l.W.map { 0.2 * $0 }) }
        var run = DynamicsFixtures.water
        run.frames = Array(run.frames[0..<60]).map { c in
            var c = c
            c.forces = try! planted.evaluate(c).forces
            return c
        }
        var s = FitSettings()
        s.agents = .conservative
        s.nearestCounts = ["O": 2, "H": 3]
        s.train = FrameRange(0, 45, stride: 3)
        s.test = FrameRange(45, 60, stride: 3)
        s.ridge = 0
        s.sensitivity = false
        let (model, report) = try LossFitter.fit(run: run, settings: s)
        #expect(model.agents == .conservative)
        for e in report.test { #expect(e.relRMSE < 1e-6, "\(e.species): \(e.relRMSE)") }
    }
}
