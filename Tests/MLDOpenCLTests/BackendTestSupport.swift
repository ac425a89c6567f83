import Foundation
import MLD
@testable import MLDOpenCL

/// The backends every shared test runs on: the CPU (the oracle) and OpenCL in each precision
/// the test device offers. Tests are written once against `ForceBackend`.
enum TestBackend: CustomStringConvertible, Sendable {
    case cpu
    case opencl(OpenCLPrecision)

    static var all: [TestBackend] { [.cpu] + testPrecisions.map { .opencl($0) } }
    static var openCL: [TestBackend] { testPrecisions.map { .opencl($0) } }

    var description: String {
        switch self {
        case .cpu: return "cpu"
        case let .opencl(p): return "opencl-\(p.rawValue)"
        }
    }

    /// Tolerance of |a - b| / max(|b|, 1) against the CPU backend (see `tolerance`).
    func tolerance(radial: Bool) -> Double {
        switch self {
        case .cpu: return 1e-12
        case let .opencl(p): return MLDOpenCLTests.tolerance(p, radial: radial)
        }
    }

    /// A backend for a nearest or radial model on `species` in `box`.
    func make(_ model: LearnedModel, species: [Int], box: Box, skin: Double = 0.8) throws -> any ForceBackend {
        switch self {
        case .cpu:
            return try CPUBackend(potential: try cpuPotential(model), species: species, box: box, skin: skin)
        case let .opencl(p):
            return try OpenCLBackend(model: try OpenCLModel(model), species: species, box: box, precision: p, skin: skin)
        }
    }
}

/// The CPU backend's per-agent potential for a nearest model.
func cpuPotential(_ model: LearnedModel) throws -> any AgentPotential {
    guard model.invariants.nearest != nil else { throw MLDError.usage("the CPU backend here takes nearest models") }
    return LearnedModelPotential(model: model)
}

/// A `LearnedModel` from an `OpenCLModel` (planted parameters) with wide training ranges.
func learnedModel(_ m: OpenCLModel) -> LearnedModel {
    let symbols = m.speciesNames
    let elements = symbols.map { Element(symbol: $0)! }
    let spec = m.spec
    let p = m.invariantCount
    return LearnedModel(species: elements, invariants: spec, form: .full,
                        losses: zip(m.linear, m.quadratic).map { QuadraticLoss(w: $0, W: $1) },
                        ranges: symbols.map { _ in InvariantRange(min: Array(repeating: -1e300, count: p), max: Array(repeating: 1e300, count: p)) })
}

/// The bundled CP2K data and a nearest model fitted to it, shared by the tests.
enum WaterData {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Data/cp2k-water64-xtb-300K").path

    static let run: Result<CP2KRun, Error> = Result { try CP2KReader.read(directory: directory) }

    /// Full quadratic nearest O:6,H:8 model fitted on every 10th of the first 600 frames.
    static let nearestModel: Result<LearnedModel, Error> = Result {
        var s = FitSettings()
        s.train = FrameRange(0, 600, stride: 10)
        s.test = FrameRange(600, 900, stride: 30)
        s.sensitivity = false
        return try LossFitter.fit(run: try run.get(), settings: s).model
    }

    /// The nearest O:6,H:8 model with angular blocks: the water labelled angles
    /// (H1-H2, O1-O2, O1-H1) and/or angular sums (cutoff 4 Å, eta 0.2 /Å², zeta 1 and 4, lambda
    /// +-1: 12 sums), fitted on every 20th of the first 600 frames.
    static func angularModel(labelled: Bool, sums: Bool) throws -> LearnedModel {
        var s = FitSettings()
        if labelled { s.labelledAngles = .water }
        if sums { s.angularSums = .grid(cutoff: 4, etas: [0.2], zetas: [1, 4]) }
        s.train = FrameRange(0, 600, stride: 20)
        s.test = FrameRange(600, 900, stride: 30)
        s.sensitivity = false
        return try LossFitter.fit(run: try run.get(), settings: s).model
    }

    static let labelledModel: Result<LearnedModel, Error> = Result { try angularModel(labelled: true, sums: false) }
    static let sumsModel: Result<LearnedModel, Error> = Result { try angularModel(labelled: false, sums: true) }
    static let labelledSumsModel: Result<LearnedModel, Error> = Result { try angularModel(labelled: true, sums: true) }

    /// The radial model (8 Gaussians to 5.5 Å) with the same angular sums.
    static let radialSumsModel: Result<LearnedModel, Error> = Result {
        var s = FitSettings()
        s.family = .radial
        s.cutoff = 5.5
        s.basis = .gaussian(8)
        s.angularSums = .grid(cutoff: 4, etas: [0.2], zetas: [1, 4])
        s.train = FrameRange(0, 600, stride: 20)
        s.test = FrameRange(600, 900, stride: 30)
        s.sensitivity = false
        return try LossFitter.fit(run: try run.get(), settings: s).model
    }

    /// Radial Gaussian model (8 per species to 5.5 Å), fitted the same way.
    static let radialModel: Result<LearnedModel, Error> = Result {
        var s = FitSettings()
        s.family = .radial
        s.cutoff = 5.5
        s.basis = .gaussian(8)
        s.train = FrameRange(0, 600, stride: 20)
        s.test = FrameRange(600, 900, stride: 30)
        s.sensitivity = false
        return try LossFitter.fit(run: try run.get(), settings: s).model
    }
}
