import ArgumentParser
import Foundation
import MLD

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure a model's force errors on a CP2K run.",
        discussion: """
            Prints rel_RMSE, RMSE (eV/Å, per component), correlation per component and the \
            fraction of agents whose invariants leave the training range, per species.
            --frames a..b is half-open (frames a to b-1, indices from 0), optionally :stride.
            Example: mld eval --model model.json --data Data/cp2k-water64-xtb-300K --frames 720..900
            """)

    @Option(name: .long, help: "A model file written by mld fit.")
    var model: String

    @Option(name: .long, help: "A CP2K MD output directory with forces.")
    var data: String

    @Option(name: .long, help: "Frames a..b (half-open, optional :stride); default all.")
    var frames: String?

    @Option(name: .long, help: "Force backend: cpu (the CPU backend, the reference; default), opencl, or auto (opencl where a GPU exists).")
    var backend: BackendChoice = .cpu

    @OptionGroup var opencl: OpenCLOptions

    @OptionGroup var global: GlobalOptions

    struct Summary: Encodable {
        var model: String
        var data: String
        var frames: String
        var frameCount: Int
        var species: [SpeciesErrors]
        var seconds: Double
    }

    func run() throws {
        let range = try frames.map { try FrameRange.parse($0) } ?? FrameRange(0, nil)
        let m = try LearnedModel.load(model)
        let run = try CP2KReader.read(directory: data)
        guard let first = run.frames.first else { throw MLDError.input(file: data, line: nil, problem: "no frames") }
        try m.check(elements: first.elements, box: first.box, file: model)
        let idx = try range.indices(frameCount: run.frames.count, what: "--frames")
        let t0 = Date()
        let useOpenCL = backend == .opencl || (backend == .auto && autoPrefersOpenCL(opencl).0)
        var device = "cpu"
        let acc: [ForceErrorAccumulator]
        if useOpenCL {
            (acc, device) = try measureOnOpenCL(m, frames: idx.map { run.frames[$0] }, options: opencl, file: data)
            device = "opencl on " + device
        } else {
            (acc, device) = try measureOnCPU(m, frames: idx.map { run.frames[$0] }, file: data,
                                             precision: opencl.cpuPrecision)
            device = "cpu, " + device
        }
        let errors = (0..<m.species.count).map { acc[$0].errors(species: m.species[$0].symbol) }
        let summary = Summary(model: model, data: data, frames: range.description, frameCount: idx.count,
                              species: errors, seconds: Date().timeIntervalSince(t0))
        if global.json { try printJSON(summary); return }
        print("model     \(model) (\(m.invariants.summary), \(m.form.rawValue))")
        print("data      \(data), frames \(range) (\(idx.count))")
        print("backend   \(device)")
        print("species   rel_RMSE   RMSE eV/Å   corr x/y/z            out of range")
        for e in errors {
            print("  " + e.species.padding(toLength: 8, withPad: " ", startingAt: 0) + String(format: "%.4f     %.4f      %.3f/%.3f/%.3f   %.2f %%", e.relRMSE, e.rmse,
                         e.correlation[0], e.correlation[1], e.correlation[2], 100 * e.outOfRange))
        }
    }
}

/// Force errors per species (model order) of `model` on `frames`, with forces from the CPU
/// backend (the reference, in `precision`) and the training-range check of the model's evaluator.
func measureOnCPU(_ model: LearnedModel, frames: [Configuration], file: String, precision: CPUPrecision = .double)
    throws -> (errors: [ForceErrorAccumulator], device: String) {
    try measureForces(model, frames: frames, file: file,
                      backend: { try CPUBackend(model: model, species: $0, box: $1, precision: precision) },
                      outside: { _, c in try model.outsideTrainingRange(c) })
}

/// Force errors per species of `model` on `frames`, with forces from the backend `backend` makes
/// (from the atoms' species and the box) and, per frame, whether each agent is outside the
/// training range (`outside`, called after the frame's forces).
func measureForces<B: ForceBackend>(_ model: LearnedModel, frames: [Configuration], file: String,
                                    backend make: ([Int], Box) throws -> B,
                                    outside: (B, Configuration) throws -> [Bool])
    throws -> (errors: [ForceErrorAccumulator], device: String) {
    var acc = model.species.map { _ in ForceErrorAccumulator(invariants: model.invariantCount) }
    guard let first = frames.first else { return (acc, "") }
    try model.check(elements: first.elements, box: first.box, file: file)
    let species = try model.speciesIndices(elements: first.elements, species: first.species, file: file).map(Int.init)
    let backend = try make(species, first.box)
    var forces: [SIMD3<Double>] = []
    var losses: [Double]? = nil
    for (f, c) in frames.enumerated() {
        guard let ref = c.forces else {
            throw MLDError.input(file: file, line: nil, problem: "frame \(f) has no reference forces")
        }
        try backend.computeForces(positions: c.positions, forces: &forces, losses: &losses)
        let out = try outside(backend, c)
        for k in 0..<c.count { acc[species[k]].add(predicted: forces[k], reference: ref[k], outside: out[k]) }
    }
    return (acc, backend.deviceName)
}
