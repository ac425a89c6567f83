import Foundation
import Testing
@testable import MLD

/// `CPUPrecision.mixed`: the angular sums' per-neighbour terms in single precision, eight
/// neighbours a vector, against the double-precision oracle. The tolerance is the one the OpenCL
/// backend's single precision meets (1e-5 of max(|F|, 1) eV/Å).
@Suite struct MixedPrecisionTests {
    static let tolerance = 1e-5

    @Test func singleExpMatchesTheLibrary() {
        var worst = 0.0
        var x: Float = -80
        while x < 80 {
            let v = SIMD8<Float>(x, x * 0.5, -x * 1e-3, x * 1e-6, x + 0.3, -x, x * 0.9, 0)
            let e = VectorMath.exp(v)
            for i in 0..<8 {
                let ref = Foundation.exp(Double(v[i]))
                worst = max(worst, abs(Double(e[i]) - ref) / ref)
            }
            x += 0.0731
        }
        #expect(worst < 4e-7, "worst relative difference \(worst)")
        let edge = VectorMath.exp(SIMD8<Float>(-100, 100, -87.5, 0, 1, -1, 88.8, 2))
        #expect(edge[0] == 0 && edge[1] == .infinity && edge[2] == 0 && edge[3] == 1 && edge[6] == .infinity)
    }

    @Test func singleCosineAndSineOnTheHalfTurn() {
        var worst = 0.0
        for i in 0...4000 {
            let x = Float.pi * Float(i) / 4000
            let v = SIMD8<Float>(x, x * 0.5, x * 0.999, Float.pi - x * 1e-3, x * 0.1, x * 0.25, x * 0.75, x * 0.01)
            let (c, s) = VectorMath.cosSinHalfTurn(v)
            for l in 0..<8 {
                let xd = Double(v[l])
                worst = max(worst, abs(Double(c[l]) - Foundation.cos(xd)), abs(Double(s[l]) - Foundation.sin(xd)))
            }
        }
        #expect(worst < 3e-7, "worst absolute difference \(worst)")
    }

    /// Every rank path of the lanes (ranks 1 to 4, the rank-3 fold with one eta and two, and
    /// rank 7) in single precision: phi and the folded own gradient within the tolerance of the
    /// double lanes, for any coefficients; 5e-5 for rank 7, whose alternating sum over ranks
    /// (zeta 7, lambda -1) cancels more of the single-precision moments (1.2e-5 measured).
    @Test(arguments: 0..<6)
    func singleLanesMatchDoubleLanes(specIndex: Int) throws {
        let (name, spec) = AngularMomentsTests.specs[specIndex]
        let sys = InvariantFixtures.randomSystem(n: 96, edge: 9.5, seed: 970 + UInt64(specIndex), minDistance: 0.9)
        let single = InvariantEvaluator(spec: spec), double = InvariantEvaluator(spec: spec)
        single.defersAngularGradients = true
        double.defersAngularGradients = true
        single.singlePrecisionLanes = true
        #expect(single.singlePrecisionLanes && !double.singlePrecisionLanes)
        var rng = SplitMix64(seed: 78)
        let c = (0..<spec.count).map { _ in Double(rng.next() % 2001) / 1000 - 1 }
        let cand = (0..<sys.positions.count).map { Int32($0) }
        var worstPhi = 0.0, worstGradient = 0.0, largest = 0.0
        for agent in 0..<sys.positions.count {
            try sys.positions.withUnsafeBufferPointer { p in
                try sys.species.withUnsafeBufferPointer { s in
                    try cand.withUnsafeBufferPointer { cp in
                        try single.evaluate(agent: agent, positions: p, species: s, box: sys.box, candidates: cp)
                        try double.evaluate(agent: agent, positions: p, species: s, box: sys.box, candidates: cp)
                    }
                }
            }
            #expect(single.angularGradientsDeferred && double.angularGradientsDeferred)
            for i in 0..<spec.count {
                worstPhi = max(worstPhi, abs(single.phi[i] - double.phi[i]) / max(1, abs(double.phi[i])))
            }
            let a = c.withUnsafeBufferPointer { single.angularOwnGradient($0.baseAddress!) }
            let b = c.withUnsafeBufferPointer { double.angularOwnGradient($0.baseAddress!) }
            let d = a - b
            let size = (b * b).sum().squareRoot()
            largest = max(largest, size)
            worstGradient = max(worstGradient, (d * d).sum().squareRoot() / max(size, 1))
        }
        #expect(largest > 0.1, "\(name): the sums' gradients are not trivial")
        let tolerance = AngularMoments(sums: spec.angularSums!, speciesCount: 2)!.rank > 4 ? 5e-5 : Self.tolerance
        #expect(worstPhi < tolerance, "\(name): phi \(worstPhi)")
        #expect(worstGradient < tolerance, "\(name): gradient \(worstGradient)")
        // and off again: the double lanes, the same bits
        single.singlePrecisionLanes = false
        #expect(!single.singlePrecisionLanes)
    }

    static func forces(_ model: LearnedModel, _ positions: [SIMD3<Double>], species: [Int], box: Box,
                       precision: CPUPrecision, threads: Int) throws -> (CPUBackend, [SIMD3<Double>], [Double]) {
        let b = try CPUBackend(model: model, species: species, box: box, threads: threads, precision: precision)
        var f: [SIMD3<Double>] = []
        var l: [Double]? = []
        try b.computeForces(positions: positions, forces: &f, losses: &l)
        return (b, f, l!)
    }

    /// The default model of `mld fit` (nearest O:4,H:4, the H-O-H bend, 12 angular sums with zeta
    /// 1 and 3), fitted to the bundled data once.
    static let defaultModel: LearnedModel = {
        var settings = FitSettings()
        settings.sensitivity = false
        settings.nearestCounts = FitSettings.defaultNearestCountsWithSums
        settings.labelledAngles = FitSettings.defaultLabelledAngles
        settings.angularSums = .grid(cutoff: FitSettings.defaultAngularCutoff, etas: FitSettings.defaultAngularEtas,
                                     zetas: FitSettings.defaultAngularZetas)
        return try! LossFitter.fit(run: DynamicsFixtures.water, settings: settings).model
    }()

    /// The default model on real CP2K frames: mixed within the tolerance of double, the same
    /// bits on one thread and two, and the backend says which arithmetic it ran.
    @Test func defaultModelOnRealFrames() throws {
        let model = Self.defaultModel
        #expect(model.invariants.angularSums != nil && model.invariants.labelledAngles != nil)
        for k in [0, 450, 899] {
            let c = DynamicsFixtures.water.frames[k]
            let sp = try model.speciesIndices(elements: c.elements, species: c.species).map(Int.init)
            let (bd, fd, ld) = try Self.forces(model, c.positions, species: sp, box: c.box, precision: .double, threads: 2)
            let (bm, fm, lm) = try Self.forces(model, c.positions, species: sp, box: c.box, precision: .mixed, threads: 2)
            let (_, f1, l1) = try Self.forces(model, c.positions, species: sp, box: c.box, precision: .mixed, threads: 1)
            #expect(bd.precision == .double && bm.precision == .mixed)
            #expect(bm.deviceName.contains("mixed") && bd.deviceName.contains("double"))
            let ef = zip(fm, fd).map { a, b in ((a - b) * (a - b)).sum().squareRoot() / max((b * b).sum().squareRoot(), 1) }.max()!
            let el = zip(lm, ld).map { abs($0 - $1) / max(abs($1), 1) }.max()!
            print("mixed precision, default model, CP2K frame \(k): force \(ef), loss \(el)")
            #expect(ef < Self.tolerance && el < Self.tolerance, "frame \(k): force \(ef), loss \(el)")
            #expect(ef > 0, "frame \(k): the mixed path ran")
            #expect(fm == f1 && lm == l1, "frame \(k): thread count changed the bits")
        }
    }

    /// The paper's distance-only model has no angular sums: mixed is double, bit for bit.
    @Test func distanceOnlyModelIsUnaffected() throws {
        let model = CPUBackendTests.plantedModel()
        let c = DynamicsFixtures.water.frames[300]
        let sp = try model.speciesIndices(elements: c.elements, species: c.species).map(Int.init)
        let (_, fd, ld) = try Self.forces(model, c.positions, species: sp, box: c.box, precision: .double, threads: 2)
        let (_, fm, lm) = try Self.forces(model, c.positions, species: sp, box: c.box, precision: .mixed, threads: 2)
        #expect(fd == fm && ld == lm)
    }

    /// The backend's own numbering (cell order) changes no bit in mixed precision either.
    @Test func shuffledAtomsGiveTheSameBits() throws {
        let (_, model) = RenumberingTests.models[1]
        let s = RenumberingTests.shuffledFrame(450, seed: 78)
        var lp = LearnedModelPotential(model: model)
        lp.precision = .mixed
        let on = try CPUBackend(potential: lp, species: s.species, box: s.box, threads: 2)
        let off = try CPUBackend(potential: lp, species: s.species, box: s.box, threads: 2, renumber: false)
        #expect(on.renumbers && !off.renumbers && on.precision == .mixed)
        let (fa, la) = try RenumberingTests.forces(on, s.positions)
        let (fb, lb) = try RenumberingTests.forces(off, s.positions)
        #expect(fa == fb && la == lb)
    }
}
