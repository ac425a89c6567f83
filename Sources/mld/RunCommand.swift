import ArgumentParser
import Dispatch
import Foundation
import MLD
import MLDOpenCL

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Simulate with a fitted model: learned dynamics with velocity Verlet and a thermostat (Nose-Hoover, CSVR or Langevin).",
        discussion: """
            Writes RUN_DIR/trajectory.xyz (extended XYZ every --every steps; or trajectory.nc, AMBER \
            NetCDF, or both: --trajectory-format), thermo.csv, run.json and checkpoint.bin. \
            --resume RUN_DIR continues from the checkpoint: to the step first asked for, \
            or --steps M further steps. Ctrl-C or SIGTERM stops after the current step with a checkpoint.
            Example: mld run --model model.json --start Data/cp2k-water64-xtb-300K --steps 2000 --out run
            """)

    @Option(name: .long, help: "The model file (from mld fit).")
    var model: String?

    @Option(name: .long, help: "A CP2K run directory or an extended-XYZ file to start from.")
    var start: String?

    @Option(name: .long, parsing: .unconditional, help: "Frame of --start: 0 the first, -1 the last.")
    var frame: Int = -1

    @Option(name: .long, help: "Steps to run (default 2000; with --resume: further steps, default: up to the step first asked for).")
    var steps: Int?

    @Option(name: .long, help: "Time step in fs (default 0.5).")
    var dt: Double?

    @Option(name: .long, help: "Thermostat target and Maxwell-Boltzmann temperature in K (default 300).")
    var temperature: Double?

    @Option(name: .long, help: "Thermostat: nose-hoover (default), csvr (stochastic velocity rescaling, Bussi et al., global), langevin (BAOAB, friction 1/tau) or none (NVE). See docs/dynamics.md.")
    var thermostat: SimulationSettings.ThermostatKind?

    @Option(name: .long, help: "Thermostat time constant in fs (default \(SimulationSettings.defaultTau)): Nose-Hoover period, CSVR relaxation time, Langevin 1/friction.")
    var tau: Double?

    @Option(name: .long, help: "Nose-Hoover chain length (default \(SimulationSettings.defaultChainLength): plain Nose-Hoover; see docs/dynamics.md).")
    var chain: Int?

    @Flag(name: .long, inversion: .prefixedNo,
          help: "One Nose-Hoover chain per agent (the default for selfish models), or one for the whole system (--no-massive; the default for conservative models, with tau 100 fs).")
    var massive: Bool?

    @Option(name: .long, help: "Random seed for Maxwell-Boltzmann velocities and the csvr/langevin thermostats (default 1).")
    var seed: UInt64?

    @Option(name: .long, help: "Force backend: auto, cpu or opencl.")
    var backend: BackendChoice = .auto

    @OptionGroup var opencl: OpenCLOptions

    @Flag(name: .long, help: "With --backend opencl: keep positions, velocities and forces on the device and run the kick, drift and thermostat scaling there (nose-hoover, csvr or none; needs fp64). The host reads a few sums per step and the state on output and checkpoint steps. See docs/opencl.md.")
    var resident = false

    @Option(name: .long, help: "Steps between trajectory frames and thermo rows (default 10).")
    var every: Int?

    @Option(name: .customLong("trajectory-format"),
            help: "The trajectory file: xyz (trajectory.xyz, extended XYZ; the default), netcdf (trajectory.nc, AMBER NetCDF: single-precision positions in Å and velocities in Å/ps, about 24 bytes per atom and frame) or both. A resumed run keeps its format.")
    var trajectoryFormat: TrajectoryFormat?

    @Option(name: .long, help: "The run directory to create (new or empty).")
    var out: String?

    @Flag(name: .long, help: "Start a new run in --out even if it holds a run or other files: only the run's own files are replaced.")
    var force = false

    @Option(name: .long, help: "Continue the run in this directory from its checkpoint.")
    var resume: String?

    @Option(name: .long, help: "Agents outside the model's training range (checked every output step, thermo.csv column out_of_range): warn (once, past 5 % of the agents) or stop (at the first, naming the step, atom and invariant).")
    var extrapolation: ExtrapolationGuard.Mode = .warn

    @Flag(name: .long, help: "No progress line.")
    var quiet = false

    @Flag(name: .customLong("keep-com"), help: "Keep centre-of-mass motion (3N degrees of freedom).")
    var keepCOM = false

    @OptionGroup var global: GlobalOptions

    func validate() throws {
        if let steps, steps < 0 || steps > RunCommand.maxSteps { throw ValidationError("--steps must be between 0 and \(RunCommand.maxSteps)") }
        if let dt, !(dt > 0 && dt.isFinite) { throw ValidationError("--dt must be a positive number of fs") }
        if let temperature, !(temperature >= 0 && temperature.isFinite) { throw ValidationError("--temperature must be >= 0 K") }
        if let tau, !(tau > 0 && tau.isFinite) { throw ValidationError("--tau must be a positive number of fs") }
        if let chain, chain < 1 || chain > RunCommand.maxChain { throw ValidationError("--chain must be between 1 and \(RunCommand.maxChain)") }
        if let thermostat, thermostat != .noseHoover, chain != nil || massive != nil {
            throw ValidationError("--chain and --massive are Nose-Hoover settings; drop them with --thermostat \(thermostat.rawValue)")
        }
        if let every, every < 1 { throw ValidationError("--every must be at least 1") }
        if resident && backend != .opencl { throw ValidationError("--resident runs on an OpenCL device: give --backend opencl") }
        if resume != nil {
            if model != nil || start != nil || out != nil {
                throw ValidationError("--resume takes its model, start and directory from the run; drop --model, --start and --out")
            }
            let given = [("--dt", dt != nil), ("--temperature", temperature != nil), ("--thermostat", thermostat != nil),
                         ("--tau", tau != nil), ("--chain", chain != nil), ("--massive", massive != nil),
                         ("--seed", seed != nil), ("--every", every != nil), ("--keep-com", keepCOM),
                         ("--frame", frame != -1), ("--force", force)].filter { $0.1 }.map { $0.0 }
            if !given.isEmpty {
                throw ValidationError("--resume continues with the run's own settings (run.json); drop \(given.joined(separator: ", "))")
            }
        } else {
            if model == nil { throw ValidationError("give --model FILE (or --resume RUN_DIR)") }
            if start == nil { throw ValidationError("give --start CP2K_DIR or XYZ_FILE") }
            if out == nil { throw ValidationError("give --out RUN_DIR") }
            if thermostat != SimulationSettings.ThermostatKind.none && temperature == 0 {
                throw ValidationError("--temperature must be > 0 K with a thermostat")
            }
        }
    }

    func run() throws {
        let stop = StopRequest()
        let signals = installSignalHandlers(stop)
        defer { _ = signals }

        let dir: RunDirectory
        let sim: Simulation
        let lastStep: Int
        var note: String?
        if let resume {
            dir = try RunDirectory(resuming: resume, trajectoryFormat: trajectoryFormat)
            let rec = dir.record
            let model = try LearnedModel.load(rec.model.path)
            let hash = try SHA256.hex(file: rec.model.path)
            guard hash == rec.model.sha256 else {
                throw MLDError.model(file: rec.model.path, problem: "changed since the run started (SHA-256 \(hash.prefix(12))..., run.json has \(rec.model.sha256.prefix(12))...)")
            }
            let ck = dir.checkpointData!
            lastStep = steps.map { ck.step + $0 } ?? rec.targetSteps
            guard lastStep <= RunCommand.maxSteps else { throw MLDError.usage("--steps \(steps ?? 0) from step \(ck.step) goes past \(RunCommand.maxSteps) steps in all") }
            let sp = try model.speciesIndices(elements: ck.elements, species: ck.species, file: rec.model.path).map(Int.init)
            let made = try makeBackend(backend, model: model, species: sp, box: ck.box, opencl: opencl)
            note = made.note
            sim = try Simulation(checkpoint: ck, backend: made.backend, settings: rec.settings)
            try moveToDevice(sim, made.backend)
            dir.extrapolation = ExtrapolationGuard(model: model, mode: extrapolation)
            sim.conservativeForces = model.agents == .conservative
        } else {
            var settings = SimulationSettings()
            if let dt { settings.timeStep = dt }
            if let temperature { settings.temperature = temperature }
            if let thermostat { settings.thermostat = thermostat }
            if let tau { settings.tau = tau }
            if let chain { settings.chainLength = chain }
            if let massive { settings.massive = massive }
            settings.removeCentreOfMass = !keepCOM
            if let every { settings.every = every }
            if let seed { settings.seed = seed }
            try RunDirectory.checkNew(out!, force: force)
            let temperature = settings.temperature, seed = settings.seed
            let modelPath = model!
            let m = try LearnedModel.load(modelPath)
            if m.agents == .conservative && settings.thermostat == .noseHoover {
                // Conservative forces pump no heat: one global chain with a slow time constant
                // samples the canonical ensemble without touching the bonds (docs/dynamics.md).
                if massive == nil { settings.massive = false }
                if tau == nil { settings.tau = SimulationSettings.conservativeTau }
            }
            var rng = SplitMix64(seed: seed)
            let (c, startInfo) = try StartingConfiguration.load(start!, frame: frame, temperature: temperature,
                                                                rng: &rng, seed: seed)
            try m.check(elements: c.elements, box: c.box, file: modelPath)
            let sp = try m.speciesIndices(elements: c.elements, species: c.species, file: modelPath).map(Int.init)
            let made = try makeBackend(backend, model: m, species: sp, box: c.box, opencl: opencl)
            note = made.note
            sim = try Simulation(configuration: c, backend: made.backend, settings: settings)
            try moveToDevice(sim, made.backend)
            lastStep = steps ?? 2000
            let record = RunRecord(settings: settings,
                                   // Absolute, so `--resume` works from any working directory.
                                   model: .init(path: URL(fileURLWithPath: modelPath).standardizedFileURL.path,
                                                sha256: try SHA256.hex(file: modelPath)),
                                   start: startInfo, backend: made.backend.name,
                                   device: made.backend.deviceName + (resident ? ", resident steps" : ""),
                                   atoms: c.count, elements: c.elements.map(\.symbol),
                                   degreesOfFreedom: sim.degreesOfFreedom, targetSteps: lastStep,
                                   trajectoryFormat: trajectoryFormat ?? .xyz)
            sim.conservativeForces = m.agents == .conservative
            let watch = ExtrapolationGuard(model: m, mode: extrapolation)
            _ = try watch.check(c, step: 0)      // a start outside the range stops before any file is written
            dir = try RunDirectory(creating: out!, record: record, simulation: sim, rng: rng, force: force,
                                   extrapolation: watch)
        }
        if let note, !quiet { FileHandle.standardError.write(Data("mld: \(note)\n".utf8)) }
        let progress = quiet ? nil : ProgressMeter(firstStep: sim.step, lastStep: lastStep, dt: sim.settings.timeStep)
        let outcome = try dir.run(sim, until: lastStep, stop: stop, progress: progress)
        if case let .interrupted(why) = outcome {
            FileHandle.standardError.write(Data("mld: stopped by \(why) at step \(sim.step); checkpoint written, continue with: mld run --resume \(dir.path)\n".utf8))
            Foundation.exit(why == "SIGINT" ? 130 : 143)
        }
        if global.json { try printJSON(dir.record); return }
        printSummary(dir.record, sim: sim, dir: dir.path)
    }

    /// With --resident, the steps of `sim` run on its OpenCL backend's device from here on.
    func moveToDevice(_ sim: Simulation, _ backend: any ForceBackend) throws {
        guard resident else { return }
        guard let device = backend as? OpenCLBackend else {
            throw MLDError.usage("--resident runs on an OpenCL device: give --backend opencl")
        }
        try sim.makeResident(try OpenCLResidentDynamics(backend: device, masses: sim.masses))
    }

    func printSummary(_ r: RunRecord, sim: Simulation, dir: String) {
        let s = r.summary, t = r.timings, set = r.settings
        print("run             \(dir): step \(r.stepsDone) (\(String(format: "%.3f", Double(r.stepsDone) * set.timeStep / 1000)) ps of \(set.timeStep) fs steps), \(r.atoms) atoms")
        print("backend         \(r.backend), \(r.device)")
        let thermo: String
        switch set.thermostat {
        case .none: thermo = "none (NVE)"
        case .noseHoover: thermo = "Nose-Hoover chain of \(set.chainLength)\(set.massive ? " per agent" : ""), tau \(set.tau) fs, \(set.temperature) K"
        case .csvr: thermo = "CSVR (stochastic velocity rescaling), tau \(set.tau) fs, \(set.temperature) K, heat taken out \(String(format: "%.4g", s.thermostatEnergy)) eV"
        case .langevin: thermo = "Langevin (BAOAB), friction 1/(\(set.tau) fs), \(set.temperature) K, heat taken out \(String(format: "%.4g", s.thermostatEnergy)) eV"
        }
        print("thermostat      \(thermo)")
        print(String(format: "temperature     mean %.1f K, std %.1f K (canonical T*sqrt(2/N_dof) = %.1f K, N_dof = %.0f)",
                     s.meanTemperature, s.temperatureStd, s.canonicalTemperatureStd, r.degreesOfFreedom))
        if let b = s.meanOHBond, let sd = s.stdOHBond, let lo = s.minOHBond, let hi = s.maxOHBond {
            print(String(format: "O-H bond        mean %.4f Å, std %.4f Å, range %.3f-%.3f Å (each H to its nearest O, every %d steps)",
                         b, sd, lo, hi, set.every))
        }
        print(String(format: "centre of mass  drift %.2e Å%@, mean |net force| %.2e eV/Å per atom",
                     s.centreOfMassDrift, set.removeCentreOfMass ? " (motion removed)" : "", s.meanNetForcePerAtom))
        if let f = s.outOfRangeLastFrame {
            print(String(format: "training range  %.1f %% of the agents have invariants outside it (last frame)", 100 * f))
        }
        print(String(format: "speed           %.0f steps/s, %.3g atom-steps/s, %.1f ns/day (%.2f s wall, %.2f s in forces, %d neighbour-list builds)",
                     t.stepsPerSecond, t.atomStepsPerSecond, t.nsPerDay, t.wallSeconds, t.forceSeconds, t.neighbourListBuilds))
        print("files           \(dir)/\(r.trajectoryFiles.fileNames.joined(separator: ", ")), thermo.csv, run.json, checkpoint.bin")
    }

    /// SIGINT and SIGTERM ask the run to stop after the current step.
    func installSignalHandlers(_ stop: StopRequest) -> [DispatchSourceSignal] {
        [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")].map { sig, name in
            signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler { stop.request(name) }
            src.resume()
            return src
        }
    }
}

extension RunCommand {
    /// Limits checked before any work: at most 10^12 steps in all (500 µs at 0.5 fs), chains
    /// of at most 100 thermostats.
    static let maxSteps = 1_000_000_000_000
    static let maxChain = SimulationSettings.maximumChainLength
}

extension SimulationSettings.ThermostatKind: ExpressibleByArgument {}
extension ExtrapolationGuard.Mode: ExpressibleByArgument {}
extension TrajectoryFormat: ExpressibleByArgument {}
