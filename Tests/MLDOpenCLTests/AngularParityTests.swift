import Foundation
import MLD
import Testing
@testable import MLDOpenCL

/// The angular blocks (labelled angles, angular sums; Kernels/angular.cl) against the CPU
/// backend on the real CP2K frames, with models fitted to them: nearest O:6,H:8 plus labelled
/// angles, plus angular sums, plus both; and radial plus angular sums against the fit code's
/// evaluation. Same rule as `BackendParityTests` (1e-12 in double precision, 1e-5 in single,
/// 5e-5 on a device without fp64; near-tie agents of the nearest selection excluded and counted in single precision: a
/// labelled angle follows the nearest ranking, so its force jumps where the ranking does).
@Suite(.enabled(if: openCLAvailable, "needs an OpenCL device (SKIPPED otherwise, see OpenCLAvailabilityTests)"))
struct AngularParityTests {
    static let frames = [0, 450, 899]

    func realFrames(_ model: LearnedModel, label: String) throws {
        let run = try WaterData.run.get()
        var worst: [String: Double] = [:]
        for index in Self.frames {
            let frame = run.frames[index]
            let species = try model.speciesIndices(elements: frame.elements, species: frame.species).map(Int.init)
            let ref = try BackendParityTests.cpu(model, species: species, positions: frame.positions, box: frame.box)
            for b in TestBackend.openCL {
                let (f, _) = try BackendParityTests.compare(b, model: model, species: species, positions: frame.positions,
                                                            box: frame.box, reference: ref, label: "CP2K frame \(index) \(label)")
                worst["\(b)", default: 0] = max(worst["\(b)", default: 0], f)
            }
        }
        for (b, f) in worst.sorted(by: { $0.key < $1.key }) { print("angular parity \(label) [\(b)]: max force error \(f) over frames \(Self.frames)") }
    }

    @Test func nearestLabelled() throws {
        try realFrames(try WaterData.labelledModel.get(), label: "nearest+labelled")
    }

    @Test func nearestSums() throws {
        try realFrames(try WaterData.sumsModel.get(), label: "nearest+sums")
    }

    @Test func nearestLabelledSums() throws {
        try realFrames(try WaterData.labelledSumsModel.get(), label: "nearest+labelled+sums")
    }

    /// The GPU form (slot-major arrays, selection network) with both angular blocks.
    @Test(arguments: testPrecisions)
    func gpuFormLabelledSums(precision: OpenCLPrecision) throws {
        let run = try WaterData.run.get(), model = try WaterData.labelledSumsModel.get()
        let frame = run.frames[899]
        let species = try model.speciesIndices(elements: frame.elements, species: frame.species).map(Int.init)
        let ref = try BackendParityTests.cpu(model, species: species, positions: frame.positions, box: frame.box)
        let backend = try OpenCLBackend(model: try OpenCLModel(model), species: species, box: frame.box, device: nil,
                                        precision: precision, skin: 1.0, accumulateInDouble: nil,
                                        agentMajor: false, selectNetwork: true)
        var f: [SIMD3<Double>] = []
        var l: [Double]? = []
        try backend.computeForces(positions: frame.positions, forces: &f, losses: &l)
        let ef = relativeError(f, ref.0), el = relativeError(l!, ref.1)
        print("angular parity GPU form nearest+labelled+sums, CP2K frame 899 [\(precision)]: force \(ef), loss \(el)")
        #expect(ef < tolerance(precision, radial: true) && el < tolerance(precision, radial: true))
    }

    /// The per-agent cache of neighbours within the angular cutoff: 27 entries (about the mean
    /// count within 4 Å, so some agents overflow it and take the uncached path), none, and the
    /// default, all against the CPU backend.
    @Test(arguments: [27, 0, -1])
    func angularCacheOverflow(cap: Int) throws {
        let run = try WaterData.run.get(), model = try WaterData.labelledSumsModel.get()
        let frame = run.frames[450]
        let species = try model.speciesIndices(elements: frame.elements, species: frame.species).map(Int.init)
        let ref = try BackendParityTests.cpu(model, species: species, positions: frame.positions, box: frame.box)
        let m = try OpenCLModel(model)
        #expect(OpenCLBackend.angularCache(model: m, atoms: frame.count, box: frame.box)! > 27)
        for precision in testPrecisions {
            let backend = try OpenCLBackend(model: m, species: species, box: frame.box, device: nil, precision: precision,
                                            skin: 1.0, accumulateInDouble: nil, angularCache: cap < 0 ? nil : cap)
            var f: [SIMD3<Double>] = []
            var l: [Double]? = []
            try backend.computeForces(positions: frame.positions, forces: &f, losses: &l)
            let ef = relativeError(f, ref.0), el = relativeError(l!, ref.1)
            print("angular parity cache \(cap < 0 ? "default" : String(cap)), CP2K frame 450 [\(precision)]: force \(ef), loss \(el)")
            #expect(ef < tolerance(precision, radial: true) && el < tolerance(precision, radial: true))
        }
    }

    /// Float with Kahan sums only (the path of devices without fp64), single precision: the
    /// angular functions in float and a strongly cancelling fitted loss, so 5e-5 as for radial
    /// (measured 1.8e-5).
    @Test func floatAccumulationLabelledSums() throws {
        let run = try WaterData.run.get(), model = try WaterData.labelledSumsModel.get()
        let frame = run.frames[450]
        let species = try model.speciesIndices(elements: frame.elements, species: frame.species).map(Int.init)
        let ref = try BackendParityTests.cpu(model, species: species, positions: frame.positions, box: frame.box)
        let backend = try OpenCLBackend(model: try OpenCLModel(model), species: species, box: frame.box, device: nil,
                                        precision: .single, skin: 1.0, accumulateInDouble: false)
        var f: [SIMD3<Double>] = []
        var l: [Double]? = []
        try backend.computeForces(positions: frame.positions, forces: &f, losses: &l)
        let ef = relativeError(f, ref.0), el = relativeError(l!, ref.1)
        print("angular parity float+Kahan nearest+labelled+sums, CP2K frame 450: force \(ef), loss \(el)")
        #expect(ef < 5e-5 && el < 5e-5)
    }

    /// Radial distances plus angular sums against the fit code's all-pairs evaluation.
    @Test func radialSums() throws {
        let run = try WaterData.run.get(), model = try WaterData.radialSumsModel.get()
        for index in [0, 899] {
            let frame = run.frames[index]
            let species = try model.speciesIndices(elements: frame.elements, species: frame.species).map(Int.init)
            let ref = try model.evaluate(frame)
            for b in TestBackend.openCL {
                try BackendParityTests.compare(b, model: model, species: species, positions: frame.positions, box: frame.box,
                                               reference: (ref.forces, ref.losses), label: "CP2K frame \(index) radial+sums")
            }
        }
    }

    /// The invariants read back from the device equal `InvariantEvaluator`'s, every block.
    @Test func invariantsMatchTheFitCode() throws {
        let run = try WaterData.run.get()
        let frame = run.frames[300]
        for model in [try WaterData.labelledSumsModel.get(), try WaterData.radialSumsModel.get()] {
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
                print("invariants \(model.invariants.summary) [\(precision)]: max relative difference \(worst)")
                #expect(worst < tolerance(precision))
            }
        }
    }

    /// A planted model whose angular cutoff (5.2 Å) exceeds the adaptive nearest list's first
    /// radius (about 3.4 Å for two nearest of each species): the list starts at the angular
    /// cutoff, and the forces match the CPU backend on 1,000 random atoms.
    @Test func listCoversTheAngularCutoff() throws {
        let sums = AngularSums.grid(cutoff: 5.2, etas: [0.05, 0.3], zetas: [1, 2.5])
        let p = 4 + 3 + 3 * sums.functions.count
        let center = [2.8, 3.2, 1.0, 1.7] + [0, 0, 0] + Array(repeating: 1.0, count: 3 * sums.functions.count)
        let (w, W) = TestSystems.plantedLoss(p: p, species: 2, center: center, seed: 41)
        let m = OpenCLModel(speciesNames: ["O", "H"], invariants: .nearest(counts: [2, 2], inverse: false, searchRadius: 5.5),
                            labelledAngles: .water, angularSums: sums, linear: w, quadratic: W)
        #expect(m.invariantCount == p)
        let model = learnedModel(m)
        let box = Box(cubic: pow(1000 / 0.1, 1.0 / 3.0))
        let (species, positions) = TestSystems.water(1000, box: box, seed: 42)
        let ref = try BackendParityTests.cpu(model, species: species, positions: positions, box: box)
        for precision in testPrecisions {
            let backend = try OpenCLBackend(model: m, species: species, box: box, precision: precision, skin: 0.8)
            #expect(backend.listCutoff >= 5.2, "list cutoff \(backend.listCutoff)")
            try BackendParityTests.compare(.opencl(precision), model: model, species: species, positions: positions, box: box,
                                           reference: ref, label: "random planted nearest 2,2 + labelled + sums to 5.2 Å")
        }
    }

    /// A block combination the kernels do not evaluate is refused in one line, never ignored.
    @Test func unsupportedBlocksAreRefused() throws {
        let near = InvariantSpec.nearest(species: ["O", "H"], counts: [2, 2], searchRadius: 4)
        let sums = InvariantBlock.angularSums(.grid(cutoff: 3, etas: [0.1], zetas: [1]))
        for spec in [near.adding(sums).adding(.labelledAngles(.water)), near.adding(sums).adding(sums)] {
            #expect(spec.validationProblem() == nil)
            let p = spec.count
            let model = LearnedModel(species: [Element(symbol: "O")!, Element(symbol: "H")!], invariants: spec, form: .full,
                                     losses: (0..<2).map { _ in QuadraticLoss(w: Array(repeating: 0, count: p), W: Array(repeating: 0, count: p * p)) },
                                     ranges: (0..<2).map { _ in InvariantRange(min: Array(repeating: -1, count: p), max: Array(repeating: 1, count: p)) })
            do {
                _ = try OpenCLModel(model)
                Issue.record("\(spec.summary) was accepted")
            } catch let e as MLDError {
                print("refused: \(e)")
                #expect(!"\(e)".contains("\n"))
                #expect("\(e)".contains("angular-sums"))
            }
        }
    }
}
