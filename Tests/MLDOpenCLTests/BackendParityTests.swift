import Foundation
import MLD
import Testing
@testable import MLDOpenCL

/// Forces and losses of every backend against the CPU backend (the oracle), on random periodic
/// systems from 1,000 to 20,000 atoms and on the real CP2K frames.
///
/// Rule: |a - b| / max(|b|, 1 eV/Å) per atom (force vectors) and |a - b| / max(|b|, 1 eV)
/// (losses) below 1e-12 in double precision and 1e-5 in single precision (5e-5 for `radial` or angular blocks on a device without fp64,
/// see `tolerance`). One exception, in single precision only: the `nearest` force jumps where
/// two neighbours of a species swap rank (phi stays continuous, its gradient does not), so an
/// agent whose ranked distances are tied within float resolution (1e-5 Å) may select the other
/// neighbour. Such agents are found by brute force, counted and printed; any other agent over
/// the tolerance fails the test.
@Suite(.enabled(if: openCLAvailable, "needs an OpenCL device (SKIPPED otherwise, see OpenCLAvailabilityTests)"))
struct BackendParityTests {
    /// Whether agent k has two of its first n_B + 1 ranked distances of some species within
    /// `eps` Å of each other.
    static func nearTie(_ k: Int, positions: [SIMD3<Double>], species: [Int], box: Box, counts: [Int], eps: Double = 1e-5) -> Bool {
        for (b, m) in counts.enumerated() where m > 0 {
            var r: [Double] = []
            for j in positions.indices where j != k && species[j] == b {
                let d = box.displacement(from: positions[k], to: positions[j])
                r.append((d * d).sum().squareRoot())
            }
            r.sort()
            for i in 0..<min(m, r.count - 1) where r[i + 1] - r[i] < eps { return true }
        }
        return false
    }

    /// Compares `backend` against `reference` forces and losses; returns the largest errors.
    @discardableResult
    static func compare(_ backend: TestBackend, model: LearnedModel, species: [Int], positions: [SIMD3<Double>], box: Box,
                        reference: (forces: [SIMD3<Double>], losses: [Double]), label: String) throws -> (Double, Double) {
        let b = try backend.make(model, species: species, box: box)
        var forces: [SIMD3<Double>] = []
        var losses: [Double]? = []
        try b.computeForces(positions: positions, forces: &forces, losses: &losses)
        let radial = model.invariants.family == .radial
        // Angular blocks are evaluated in float on a device without fp64, like radial sums.
        let tol = backend.tolerance(radial: radial || model.invariants.hasAngles)
        var worstF = 0.0, worstL = 0.0, ties = 0, failures: [String] = []
        for k in positions.indices {
            let d = forces[k] - reference.forces[k]
            let ef = (d * d).sum().squareRoot() / max((reference.forces[k] * reference.forces[k]).sum().squareRoot(), 1)
            let el = abs(losses![k] - reference.losses[k]) / max(abs(reference.losses[k]), 1)
            if ef < tol && el < tol { worstF = max(worstF, ef); worstL = max(worstL, el); continue }
            if case .opencl(.single) = backend, !radial,
               nearTie(k, positions: positions, species: species, box: box, counts: model.invariants.nearest!.counts) {
                ties += 1; continue
            }
            failures.append("atom \(k): force error \(ef), loss error \(el)")
        }
        print("parity \(label) [\(backend)] \(positions.count) atoms: max force error \(worstF), max loss error \(worstL), near-tie agents excluded \(ties)")
        #expect(failures.isEmpty, "\(label) [\(backend)]: \(failures.count) agents over \(tol): \(failures.prefix(5))")
        #expect(ties <= positions.count / 1000 + 1, "\(label) [\(backend)]: \(ties) near-tie agents")
        return (worstF, worstL)
    }

    /// The CPU backend's forces and losses.
    static func cpu(_ model: LearnedModel, species: [Int], positions: [SIMD3<Double>], box: Box) throws -> ([SIMD3<Double>], [Double]) {
        let b = try TestBackend.cpu.make(model, species: species, box: box)
        var f: [SIMD3<Double>] = []
        var l: [Double]? = []
        try b.computeForces(positions: positions, forces: &f, losses: &l)
        return (f, l!)
    }

    static let plantedNearest = learnedModel(OpenCLReferenceTests.nearestModel(inverse: false, seed: 31))
    static let plantedNearestInverse = learnedModel(OpenCLReferenceTests.nearestModel(inverse: true, seed: 32))

    @Test(arguments: [1_000, 5_000, 20_000])
    func randomSystemsNearest(atoms: Int) throws {
        let box = Box(cubic: pow(Double(atoms) / 0.1, 1.0 / 3.0))
        let (species, positions) = TestSystems.water(atoms, box: box, seed: UInt64(atoms))
        for model in [Self.plantedNearest, Self.plantedNearestInverse] {
            let ref = try Self.cpu(model, species: species, positions: positions, box: box)
            for b in TestBackend.openCL {
                try Self.compare(b, model: model, species: species, positions: positions, box: box, reference: ref,
                                 label: "random nearest \(model.invariants.nearest!.transform.rawValue)")
            }
        }
    }

    /// Radial models against the fit code's all-pairs evaluation (the CPU backend runs
    /// `nearest` models only).
    @Test func randomSystemsRadial() throws {
        for gaussian in [true, false] {
            let model = learnedModel(OpenCLReferenceTests.radialModel(gaussian: gaussian, seed: 33))
            let box = Box(cubic: pow(1000 / 0.1, 1.0 / 3.0))
            let (species, positions) = TestSystems.water(1000, box: box, seed: 34)
            let c = Configuration(elements: model.species, species: species, positions: positions, box: box)
            let ref = try model.evaluate(c)
            for b in TestBackend.openCL {
                try Self.compare(b, model: model, species: species, positions: positions, box: box,
                                 reference: (ref.forces, ref.losses), label: "random radial \(gaussian ? "gaussian" : "inverse-power")")
            }
        }
    }

    /// The fitted nearest model on real CP2K frames, and on a frame replicated 3x3x3 (5,184 atoms).
    @Test func realFramesNearest() throws {
        let run = try WaterData.run.get(), model = try WaterData.nearestModel.get()
        for index in [0, 450, 899] {
            let frame = run.frames[index]
            let species = try model.speciesIndices(elements: frame.elements, species: frame.species).map(Int.init)
            let ref = try Self.cpu(model, species: species, positions: frame.positions, box: frame.box)
            for b in TestBackend.openCL {
                try Self.compare(b, model: model, species: species, positions: frame.positions, box: frame.box,
                                 reference: ref, label: "CP2K frame \(index)")
            }
        }
        let frame = run.frames[899]
        var positions: [SIMD3<Double>] = [], species: [Int] = []
        let s0 = try model.speciesIndices(elements: frame.elements, species: frame.species).map(Int.init)
        for x in 0..<3 { for y in 0..<3 { for z in 0..<3 {
            let shift = frame.box.lengths * SIMD3(Double(x), Double(y), Double(z))
            positions += frame.positions.map { $0 + shift }
            species += s0
        } } }
        let big = Box(frame.box.lengths * 3)
        let ref = try Self.cpu(model, species: species, positions: positions, box: big)
        for b in TestBackend.openCL {
            try Self.compare(b, model: model, species: species, positions: positions, box: big, reference: ref,
                             label: "CP2K frame 899 x27")
        }
    }

    @Test func realFramesRadial() throws {
        let run = try WaterData.run.get(), model = try WaterData.radialModel.get()
        for index in [0, 899] {
            let frame = run.frames[index]
            let species = try model.speciesIndices(elements: frame.elements, species: frame.species).map(Int.init)
            let ref = try model.evaluate(frame)
            for b in TestBackend.openCL {
                try Self.compare(b, model: model, species: species, positions: frame.positions, box: frame.box,
                                 reference: (ref.forces, ref.losses), label: "CP2K frame \(index) radial")
            }
        }
    }

    /// Too few atoms of a species within the search radius is an error naming the agent, on
    /// every backend.
    @Test func tooFewNeighboursIsAnError() throws {
        let box = Box(cubic: 20)
        let (species, positions) = TestSystems.water(400, box: box, seed: 35)
        var m = OpenCLReferenceTests.nearestModel(inverse: false, seed: 36)
        m.invariants = .nearest(counts: [6, 8], inverse: false, searchRadius: 3.0)
        let model = learnedModel(m)
        for b in TestBackend.all {
            let backend = try b.make(model, species: species, box: box)
            var f: [SIMD3<Double>] = []
            var l: [Double]? = nil
            #expect(throws: (any Error).self, "\(b)") { try backend.computeForces(positions: positions, forces: &f, losses: &l) }
            do { try backend.computeForces(positions: positions, forces: &f, losses: &l) } catch {
                #expect("\(error)".contains("agent"), "\(b): \(error)")
                print("[\(b)] \(error)")
            }
        }
    }
}

/// The invariants the device computes (read back for `mld eval`'s training-range check) equal
/// the fit code's `InvariantEvaluator`, for both families, on a real frame.
@Suite(.enabled(if: openCLAvailable, "needs an OpenCL device (SKIPPED otherwise, see OpenCLAvailabilityTests)"))
struct OpenCLInvariantsTests {
    @Test func invariantsMatchTheFitCode() throws {
        let run = try WaterData.run.get()
        let frame = run.frames[300]
        for model in [try WaterData.nearestModel.get(), try WaterData.radialModel.get()] {
            let species = try model.speciesIndices(elements: frame.elements, species: frame.species)
            let ev = InvariantEvaluator(spec: model.invariants)
            let p = model.invariantCount
            let all = (0..<frame.count).map { Int32($0) }
            for precision in testPrecisions {
                let backend = try OpenCLBackend(model: model, configuration: frame, precision: precision)
                var f: [SIMD3<Double>] = []
                var l: [Double]? = nil
                try backend.computeForces(positions: frame.positions, forces: &f, losses: &l)
                let phi = try backend.invariants()
                var worst = 0.0
                try frame.positions.withUnsafeBufferPointer { pos in
                    try species.withUnsafeBufferPointer { sp in
                        try all.withUnsafeBufferPointer { cand in
                            for k in 0..<frame.count {
                                try ev.evaluate(agent: k, positions: pos, species: sp, box: frame.box, candidates: cand)
                                for a in 0..<p { worst = max(worst, abs(phi[k * p + a] - ev.phi[a]) / max(abs(ev.phi[a]), 1)) }
                            }
                        }
                    }
                }
                print("invariants \(model.invariants.family) [\(precision)]: max relative difference \(worst)")
                #expect(worst < tolerance(precision, radial: model.invariants.family == .radial))
            }
        }
    }
}

/// The GPU form of the kernels (slot-major arrays, branch-free selection network) on this
/// device: real frames against the CPU backend, and too few neighbours named.
@Suite(.enabled(if: openCLAvailable, "needs an OpenCL device (SKIPPED otherwise, see OpenCLAvailabilityTests)"))
struct OpenCLGPUFormTests {
    @Test(arguments: testPrecisions)
    func realFramesAndShortage(precision: OpenCLPrecision) throws {
        let run = try WaterData.run.get(), model = try WaterData.nearestModel.get()
        for index in [0, 899] {
            let frame = run.frames[index]
            let species = try model.speciesIndices(elements: frame.elements, species: frame.species).map(Int.init)
            let ref = try BackendParityTests.cpu(model, species: species, positions: frame.positions, box: frame.box)
            let backend = try OpenCLBackend(model: try OpenCLModel(model), species: species, box: frame.box, device: nil,
                                            precision: precision, skin: 1.0, accumulateInDouble: nil,
                                            agentMajor: false, selectNetwork: true)
            var f: [SIMD3<Double>] = []
            var l: [Double]? = []
            try backend.computeForces(positions: frame.positions, forces: &f, losses: &l)
            let ef = relativeError(f, ref.0), el = relativeError(l!, ref.1)
            print("parity GPU form, CP2K frame \(index) [\(precision)]: force \(ef), loss \(el)")
            #expect(ef < tolerance(precision) && el < tolerance(precision))
        }
        var m = OpenCLReferenceTests.nearestModel(inverse: false, seed: 36)
        m.invariants = .nearest(counts: [6, 8], inverse: false, searchRadius: 3.0)
        let box = Box(cubic: 20)
        let (species, positions) = TestSystems.water(400, box: box, seed: 35)
        let backend = try OpenCLBackend(model: m, species: species, box: box, device: nil, precision: precision, skin: 1.0,
                                        accumulateInDouble: nil, agentMajor: false, selectNetwork: true)
        var f: [SIMD3<Double>] = []
        var l: [Double]? = nil
        #expect(throws: MLDError.self) { try backend.computeForces(positions: positions, forces: &f, losses: &l) }
    }
}
