import ArgumentParser
import Foundation
import MLD
import MLDOpenCL

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time learned-dynamics MD steps on water boxes of several sizes.",
        discussion: """
            Per size and backend: build the box (the --data frame tiled k x k x k for 192 k^3 atoms,
            else a fresh water box), warm up, then time --repeats runs of whole MD steps (forces,
            velocity Verlet, Nose-Hoover chain, neighbour-list rebuilds when due) and as many runs
            of the force evaluation alone. Reports the median with min and max.
            Example: mld bench --model model.json --backend all --atoms 192,1536,12288 --cp2k Data/cp2k-water64-xtb-300K
            """)

    enum BenchBackend: String, ExpressibleByArgument, CaseIterable {
        case cpu, opencl, all
        /// OpenCL with device-resident steps (`mld run --resident`).
        case openclResident = "opencl-resident"
    }

    @Option(name: .long, help: "The model file (mld fit --out).")
    var model: String

    @Option(name: .long, help: "Backends to time: cpu, opencl (steps integrated on the host), opencl-resident (steps on the device), or all (cpu and, where a device exists, both opencl paths).")
    var backend: BenchBackend = .cpu

    @Option(name: .long, help: "Comma-separated atom counts.")
    var atoms: String = "192,1536,12288,98304,786432"

    @Option(name: .long, help: "MD steps per timed run (default: chosen from the warm-up so a run takes about 1 s).")
    var steps: Int?

    @Option(name: .long, help: "Timed runs per size and backend.")
    var repeats: Int = 3

    @Option(name: .long, help: "CP2K directory whose .ener file gives CP2K's seconds per step (for the speed-up).")
    var cp2k: String?

    @Option(name: .long, help: "The CP2K directory whose first frame is tiled into the boxes.")
    var data: String = "Data/cp2k-water64-xtb-300K"

    @OptionGroup var opencl: OpenCLOptions

    @Option(name: .long, help: "Nose-Hoover time constant in fs.")
    var tau: Double = SimulationSettings.defaultTau

    @Flag(name: .long, inversion: .prefixedNo,
          help: "One Nose-Hoover chain per agent (the default; on the resident path the host reads and writes 16 bytes per atom per half step for it) or one for the whole system (--no-massive).")
    var massive = true

    @Flag(name: .long, help: "Number the atoms of every box in a random order (seed 1), as a long run's diffusion leaves them (the CPU backend then works in cell order).")
    var shuffle = false

    @Option(name: .long, help: "Also write the JSON report (what --json prints) to this file (a new file, or an earlier bench report).")
    var out: String?

    @Flag(name: .long, help: "Replace --out even if it is not an mld bench report.")
    var force = false

    @OptionGroup var global: GlobalOptions

    /// What `--json` prints.
    struct Report: Codable {
        var machine: MachineInfo
        var model: String
        var settings: BenchmarkSettings
        var results: [BenchmarkResult]
        var skipped: [String]
        var cp2k: CP2KTiming?
        /// CP2K's median seconds per step over mld's, per backend, at CP2K's atom count.
        var speedup: [String: Double]
    }

    func parseAtoms() throws -> [Int] {
        let parts = atoms.split(separator: ",", omittingEmptySubsequences: false)
        let values = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, values.count == parts.count, values.allSatisfy({ $0 > 0 }) else {
            throw MLDError.usage("--atoms must be comma-separated positive integers, not '\(atoms)'")
        }
        if let big = values.first(where: { $0 > Configuration.maximumAtoms }) {
            throw MLDError.usage("--atoms \(big) is over \(Configuration.maximumAtoms) atoms")
        }
        return values
    }

    func run() throws {
        let sizes = try parseAtoms()
        if let steps, steps < 1 { throw MLDError.usage("--steps must be at least 1 (got \(steps))") }
        guard repeats >= 1 else { throw MLDError.usage("--repeats must be at least 1 (got \(repeats))") }
        guard tau.isFinite, tau > 0 else { throw MLDError.usage("--tau must be a positive number of fs (got \(tau))") }
        if let out {
            try OutputPlace.checkFile(out, option: "--out", force: force) {
                OutputPlace.isJSONObject($0, keys: ["machine", "model", "settings", "results"])
            }
            removeTemporaryFilesOnSignals()
        }
        let learned = try LearnedModel.load(model)
        var isDir: ObjCBool = false
        if let cp2k, FileManager.default.fileExists(atPath: cp2k, isDirectory: &isDir), isDir.boolValue {
            try CP2KReader.checkOneProject(cp2k)  // never one .ener picked silently of several
        }
        let timing = try cp2k.map { try CP2KTiming(path: $0) }
        let reference = try Configuration.load(data, frame: 0)
        var backends: [BenchBackend] = backend == .all ? [.cpu, .opencl, .openclResident] : [backend]
        var skipped: [String] = []
        if backend == .all && OpenCLDeviceInfo.all().isEmpty {
            backends = [.cpu]
            skipped.append("opencl: no OpenCL platform or device found")
        }
        var settings = BenchmarkSettings(steps: steps, repeats: repeats)
        settings.shuffled = shuffle
        var simulation = SimulationSettings()
        simulation.tau = tau
        simulation.massive = massive
        // No loss or bond sampling during the timed steps: the bench times the dynamics.
        simulation.every = 1_000_000_000
        simulation.checkpointEvery = 1_000_000_000
        settings.timeStep = simulation.timeStep

        var results: [BenchmarkResult] = []
        if !global.json {
            print("backend   atoms   steps  steps/s (min-max)              atom-steps/s   ns/day   force ms  transfer ms  rebuilds  peak MB  B/atom  T K  CPU ms/step")
        }
        for kind in backends {
            for n in sizes {
                let result: BenchmarkResult
                do {
                    result = try Benchmark.run(atoms: n, reference: reference, settings: settings) { c in
                        try BenchCommand.makeCase(kind, model: learned, configuration: c, simulation: simulation,
                                                  opencl: opencl)
                    }
                } catch where backend == .all && kind != .cpu {
                    // `all` times OpenCL where it works; a device that cannot run a size is noted.
                    let e = error
                    skipped.append("\(kind.rawValue) at \(n) atoms: \(e)")
                    FileHandle.standardError.write(Data("mld bench: \(kind.rawValue) skipped at \(n) atoms: \(e)\n".utf8))
                    break
                }
                results.append(result)
                if global.json {
                    FileHandle.standardError.write(Data(String(
                        format: "mld bench: %@ %d atoms: %.4g atom-steps/s (%d steps x %d)\n",
                        result.backend, result.atoms, result.atomStepsPerSecond.median, result.steps,
                        result.repeats).utf8))
                } else {
                    print(BenchCommand.row(result))
                    if let p = result.phases { print(BenchCommand.phaseRow(p)) }
                    if let extra = BenchCommand.deviceRow(result) { print(extra) }
                    fflush(stdout)
                }
            }
        }
        var speedup: [String: Double] = [:]
        if let timing, let atoms = timing.atoms ?? Optional(reference.count) {
            for r in results where r.atoms == atoms {
                speedup[r.backend] = timing.secondsPerStep.median * r.stepsPerSecond.median
            }
        }
        let report = Report(machine: MachineInfo(), model: model, settings: settings, results: results,
                            skipped: skipped, cp2k: timing, speedup: speedup)
        if let out {
            try AtomicFile.write(try jsonData(report) + Data("\n".utf8), to: out)
        }
        if global.json { try printJSON(report); return }
        if !results.isEmpty {
            print("device: " + Set(results.map { "\($0.backend) = \($0.device)" }).sorted().joined(separator: "; "))
        }
        for s in skipped { print("skipped: \(s)") }
        if let timing {
            print(String(format: "CP2K: %.3f s per step (median of %d steps, min %.3f, max %.3f) for %d atoms, %@",
                         timing.secondsPerStep.median, timing.steps, timing.secondsPerStep.min,
                         timing.secondsPerStep.max, timing.atoms ?? reference.count, timing.file))
            for (b, x) in speedup.sorted(by: { $0.key < $1.key }) {
                print(String(format: "speed-up of the mld %@ step over the CP2K step: %.4g x", b, x))
            }
        }
        let m = report.machine
        print("machine: \(m.cores) cores, \(m.cpuModel), load average \(m.loadAverage.map { String(format: "%.2f", $0) } ?? "?"), \(m.date)")
    }

    /// One printed row.
    static func row(_ r: BenchmarkResult) -> String {
        let s = r.stepsPerSecond
        let transfer = r.transferSecondsPerStep.map { String(format: "%11.3f", $0 * 1e3) } ?? String(repeating: " ", count: 10) + "-"
        let peak = r.peakResidentBytes.map { String(format: "%8.0f", Double($0) / 1_048_576) } ?? "       -"
        let perAtom = r.bytesPerAtom.map { String(format: "%7.0f", $0) } ?? "      -"
        let t = r.finalTemperature.map { String(format: "%4.0f", $0) } ?? "   -"
        return String(format: "%-7@ %7d  %6d  %9.4g (%9.4g-%9.4g)  %12.4g  %7.3g  %9.4g  %@  %8d  %@  %@  %@  %10.4g",
                      r.backend, r.atoms, r.steps, s.median, s.min, s.max, r.atomStepsPerSecond.median,
                      r.nsPerDay.median, r.forceSeconds.median * 1e3, transfer, r.neighbourRebuilds, peak, perAtom, t,
                      r.cpuSecondsPerStep * 1e3)
    }

    /// The bytes moved per step and the device time per phase, under a result's row.
    static func deviceRow(_ r: BenchmarkResult) -> String? {
        guard r.bytesPerStep != nil || r.phaseSecondsPerStep != nil else { return nil }
        var parts: [String] = []
        if let b = r.bytesPerStep { parts.append(String(format: "%.4g bytes/step host<->device", b)) }
        if let p = r.phaseSecondsPerStep {
            let device = p.filter { $0.key != "wall" }
            parts.append(device.sorted { $0.key < $1.key }
                .map { String(format: "%@ %.3g ms", $0.key, $0.value * 1e3) }.joined(separator: ", "))
            if let wall = p["wall"] {
                parts.append(String(format: "wall %.3g ms (host and waiting %.3g ms)", wall * 1e3,
                                    (wall - device.values.reduce(0, +)) * 1e3))
            }
        }
        return "        per step: " + parts.joined(separator: "; ")
    }

    /// The phases of one row, in ms per step.
    static func phaseRow(_ p: PhaseBreakdown) -> String {
        var s = String(format: "          ms/step: force %.4g, rebuild %@, integration %.4g, thermostat %.4g, other %.4g",
                       p.force * 1e3, p.rebuild.map { String(format: "%.4g", $0 * 1e3) } ?? "-",
                       p.integration * 1e3, p.thermostat * 1e3, p.other * 1e3)
        if let o = p.outputPerFrame { s += String(format: "; extended XYZ %.4g ms/frame", o * 1e3) }
        return s
    }

    /// The backend and the simulation of `configuration` for one benchmark case.
    static func makeCase(_ kind: BenchBackend, model: LearnedModel, configuration c: Configuration,
                         simulation: SimulationSettings, opencl: OpenCLOptions) throws -> BenchmarkCase {
        try model.check(elements: c.elements, box: c.box)
        let species = try model.speciesIndices(elements: c.elements, species: c.species).map(Int.init)
        let backend = try makeBackend(kind == .cpu ? .cpu : .opencl, model: model, species: species,
                                      box: c.box, opencl: opencl).backend
        let sim = try Simulation(configuration: c, backend: backend, settings: simulation)
        sim.samplesBonds = false
        let device = backend as? OpenCLBackend
        var resident: OpenCLResidentDynamics?
        if kind == .openclResident, let device {
            resident = try OpenCLResidentDynamics(backend: device, masses: sim.masses)
            try sim.makeResident(resident!)
        }
        var bench = BenchmarkCase(backend: backend, step: { try sim.advance() },
                                  positions: { try? sim.synchronize(); return sim.positions },
                                  temperature: { try? sim.synchronize(); return sim.temperature },
                                  transferSeconds: resident == nil ? device.map { d in { d.transferSeconds } } : nil)
        if resident != nil { bench.label = kind.rawValue }
        if let device {
            bench.bytesMoved = { device.bytesMoved }
            bench.profiling = { device.profiling = $0 }
            bench.phaseSeconds = { device.phaseSeconds }
        }
        bench.phases = { sim.phaseSeconds }
        bench.frame = { try? sim.synchronize(); return sim.configuration }
        return bench
    }
}
