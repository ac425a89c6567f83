import Foundation

/// One system on one backend, as the benchmark drives it.
///
/// The bench knows the dynamics only through these closures, so every backend and integrator
/// is timed by the same loop.
public struct BenchmarkCase {
    /// The backend that computes the forces.
    public var backend: ForceBackend
    /// Advances the simulation by one whole MD step: forces, velocity Verlet, thermostat,
    /// neighbour-list rebuilds when the backend decides they are due.
    public var step: () throws -> Void
    /// The current positions in Å (what a force evaluation alone is timed on).
    public var positions: () -> [SIMD3<Double>]
    /// Host-device transfer time so far in s (positions up, forces down), for backends that
    /// measure it.
    public var transferSeconds: (() -> Double)?
    /// Device memory the backend holds, in bytes, for backends that know it.
    public var deviceMemoryBytes: (() -> Int)?
    /// The instantaneous temperature in K (a sanity check that the timed dynamics stayed sane).
    public var temperature: (() -> Double)?
    /// The name results carry (default: the backend's), e.g. "opencl-resident".
    public var label: String?
    /// Bytes copied between host and device so far, for backends that count them.
    public var bytesMoved: (() -> Int)?
    /// Turns the device's per-phase timing on or off, and reads its seconds per phase so far
    /// (OpenCL profiling events), for backends that have it.
    public var profiling: ((Bool) -> Void)?
    public var phaseSeconds: (() -> [String: Double])?
    /// Wall seconds per phase of the steps so far, for cases that time their phases.
    public var phases: (() -> StepPhaseSeconds)?
    /// The current frame, for timing its output as extended XYZ.
    public var frame: (() -> Configuration)?

    public init(backend: ForceBackend, step: @escaping () throws -> Void,
                positions: @escaping () -> [SIMD3<Double>], temperature: (() -> Double)? = nil,
                transferSeconds: (() -> Double)? = nil, deviceMemoryBytes: (() -> Int)? = nil) {
        self.backend = backend
        self.step = step
        self.positions = positions
        self.temperature = temperature
        self.transferSeconds = transferSeconds
        self.deviceMemoryBytes = deviceMemoryBytes
    }
}

/// Where the time of a whole MD step goes, in seconds per step (totals over the timed steps
/// divided by their number).
public struct PhaseBreakdown: Codable, Sendable {
    /// The whole step (timed wall seconds over timed steps).
    public var step: Double
    /// The force evaluation, neighbour-list rebuilds excluded where the backend reports them.
    public var force: Double
    /// Neighbour-list rebuilds, where the backend measures them.
    public var rebuild: Double?
    /// Kicks, drift, force checks, centre-of-mass removal, energy ledger.
    public var integration: Double
    /// The thermostat's half steps.
    public var thermostat: Double
    /// The rest: the step's bookkeeping and the timers.
    public var other: Double
    /// Seconds to format one frame as extended XYZ (what `mld run` writes every `--every` steps).
    public var outputPerFrame: Double?
}


/// How long and how often to time.
public struct BenchmarkSettings: Codable, Sendable {
    /// MD steps per timed run; nil chooses them from the warm-up so that a timed run takes
    /// about `targetSeconds` (at least 2 steps, at most 10,000).
    public var steps: Int?
    /// Timed runs per size and backend (the median is reported, with min and max).
    public var repeats: Int = 3
    /// Seconds per timed run when `steps` is nil.
    public var targetSeconds: Double = 1.0
    /// Seconds of warm-up when `steps` is nil (at least 2 steps are always run).
    public var warmupSeconds: Double = 0.3
    /// MD time step in fs, for ns/day.
    public var timeStep: Double = 0.5
    /// Put the atoms of every box in a random order (`BenchmarkSystem`), as a long run's
    /// diffusion leaves them: times a backend's handling of an order that is not local in space.
    public var shuffled: Bool = false

    public init(steps: Int? = nil, repeats: Int = 3) {
        self.steps = steps
        self.repeats = repeats
    }

    /// MD steps per timed run, given the seconds per step seen in the warm-up.
    public func steps(secondsPerStep: Double) -> Int {
        if let steps { return steps }
        guard secondsPerStep > 0 else { return 10_000 }
        return Swift.max(2, Swift.min(10_000, Int((targetSeconds / secondsPerStep).rounded())))
    }
}

/// The measurements of one system on one backend. Rates are medians of `repeats` timed runs,
/// with their min and max.
public struct BenchmarkResult: Codable, Sendable {
    /// "cpu", "opencl".
    public var backend: String
    /// The device in words.
    public var device: String
    public var atoms: Int
    /// How the box was made.
    public var origin: String
    /// MD steps per timed run.
    public var steps: Int
    public var repeats: Int
    /// Untimed steps run first.
    public var warmupSteps: Int
    /// Whole MD steps per second.
    public var stepsPerSecond: Spread
    /// Atoms times whole MD steps per second.
    public var atomStepsPerSecond: Spread
    /// Simulated ns per day at `timeStep`.
    public var nsPerDay: Spread
    /// Seconds of one force evaluation alone (no rebuild, no integration).
    public var forceSeconds: Spread
    /// Host-device transfer seconds per MD step, where measured (OpenCL host steps: the host's
    /// time to stage and enqueue the upload; the copies' device times are in `phaseSecondsPerStep`).
    public var transferSecondsPerStep: Double?
    /// Neighbour-list rebuilds during all the timed steps.
    public var neighbourRebuilds: Int
    /// Timed MD steps in all (`steps * repeats`).
    public var timedSteps: Int
    /// Peak resident memory of the process while this system ran, in bytes (VmHWM).
    public var peakResidentBytes: Int?
    /// Peak resident memory above what the process held before the box was built, per atom, in bytes.
    public var bytesPerAtom: Double?
    /// Device memory held by the backend, in bytes, where the backend reports it.
    public var deviceMemoryBytes: Int?
    /// Seconds to build the box and the backend and run the warm-up.
    public var setupSeconds: Double
    /// Instantaneous temperature in K after the timed steps, where the case reports it.
    public var finalTemperature: Double?
    /// Bytes copied between host and device per timed MD step (both ways), where counted.
    public var bytesPerStep: Double? = nil
    /// Device seconds per MD step in each phase (OpenCL profiling events over `profiledSteps`
    /// extra steps, after the timed ones), plus "wall" (the whole step as the host saw it then).
    public var phaseSecondsPerStep: [String: Double]? = nil
    public var profiledSteps: Int? = nil
    /// CPU seconds (user + system, all threads of this process) per timed MD step: with
    /// `1 / stepsPerSecond` it shows how much of the machine the run actually got.
    public var cpuSecondsPerStep: Double
    /// The step's phases, for cases that time them.
    public var phases: PhaseBreakdown?
}

/// Times whole MD steps and force evaluations.
public enum Benchmark {
    /// Builds the system of `atoms` (see `BenchmarkSystem`), makes the case with `make`, runs
    /// the warm-up, then `settings.repeats` timed runs of whole MD steps and as many timed runs
    /// of force evaluations alone (at most 50 each, on the final positions).
    public static func run(atoms: Int, reference: Configuration?, settings: BenchmarkSettings,
                           make: (Configuration) throws -> BenchmarkCase) throws -> BenchmarkResult {
        let canResetPeak = ProcessMemory.resetPeak()
        let baseline = ProcessMemory.residentBytes
        let start = Date()
        let system = try BenchmarkSystem(atoms: atoms, reference: reference, shuffled: settings.shuffled)
        let bench = try make(system.configuration)
        let n = system.configuration.count
        // Warm-up: a fifth of a timed run with --steps, else at least `warmupSeconds` (and 2 steps),
        // whose last half gives the seconds per step that sets the length of a timed run.
        var warmup = 0
        var steps: Int
        if let fixed = settings.steps {
            steps = fixed
            warmup = Swift.max(2, fixed / 5)
            for _ in 0..<warmup { try bench.step() }
        } else {
            let t0 = DispatchTime.now().uptimeNanoseconds
            var half = (t0, 0)
            var elapsed = 0.0
            repeat {
                try bench.step()
                warmup += 1
                let t = DispatchTime.now().uptimeNanoseconds
                elapsed = Double(t - t0) * 1e-9
                if elapsed < settings.warmupSeconds / 2 || warmup <= 1 { half = (t, warmup) }
            } while warmup < 2 || elapsed < settings.warmupSeconds
            let t1 = DispatchTime.now().uptimeNanoseconds
            let perStep = Double(t1 - half.0) * 1e-9 / Double(Swift.max(1, warmup - half.1))
            steps = settings.steps(secondsPerStep: perStep)
        }
        let setup = Date().timeIntervalSince(start)

        let repeats = Swift.max(1, settings.repeats)
        var stepSeconds: [Double] = []
        let cpu0 = Benchmark.processCPUSeconds()
        let builds0 = bench.backend.neighbourListBuilds
        let transfer0 = bench.transferSeconds?()
        let bytes0 = bench.bytesMoved?()
        let phases0 = bench.phases?()
        let rebuild0 = bench.backend.rebuildSeconds
        for _ in 0..<repeats {
            let t0 = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<steps { try bench.step() }
            let t1 = DispatchTime.now().uptimeNanoseconds
            stepSeconds.append(Double(t1 - t0) * 1e-9 / Double(steps))
        }
        let cpuPerStep = (Benchmark.processCPUSeconds() - cpu0) / Double(steps * repeats)
        let rebuilds = bench.backend.neighbourListBuilds - builds0
        let transfer = transfer0.flatMap { t0 in bench.transferSeconds.map { ($0() - t0) / Double(steps * repeats) } }
        let bytesPerStep = bytes0.flatMap { b0 in bench.bytesMoved.map { Double($0() - b0) / Double(steps * repeats) } }
        var breakdown: PhaseBreakdown?
        if let p0 = phases0, let p1 = bench.phases?() {
            let k = Double(steps * repeats)
            let whole = stepSeconds.reduce(0, +) / Double(repeats)
            let rebuild = rebuild0.flatMap { r0 in bench.backend.rebuildSeconds.map { ($0 - r0) / k } }
            let force = (p1.force - p0.force) / k, integration = (p1.integration - p0.integration) / k
            let thermostat = (p1.thermostat - p0.thermostat) / k
            breakdown = PhaseBreakdown(step: whole, force: force - (rebuild ?? 0), rebuild: rebuild,
                                       integration: integration, thermostat: thermostat,
                                       other: whole - force - integration - thermostat, outputPerFrame: nil)
            if let frame = bench.frame {
                let c = frame()
                var best = Double.infinity
                for _ in 0..<repeats {
                    let t0 = DispatchTime.now().uptimeNanoseconds
                    let text = ExtendedXYZ.format(c)
                    let t1 = DispatchTime.now().uptimeNanoseconds
                    if text.isEmpty { continue }
                    best = Swift.min(best, Double(t1 - t0) * 1e-9)
                }
                if best.isFinite { breakdown?.outputPerFrame = best }
            }
        }
        // Where the time goes: a few more steps with a profiling event on every command.
        var phases: [String: Double]? = nil
        var profiled: Int? = nil
        if let profile = bench.profiling, let read = bench.phaseSeconds {
            let count = Swift.max(2, Swift.min(steps, 20))
            profile(true)
            let before = read()
            let t0 = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<count { try bench.step() }
            let wall = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
            let after = read()
            profile(false)
            var p: [String: Double] = ["wall": wall / Double(count)]
            for (k, v) in after { p[k] = (v - (before[k] ?? 0)) / Double(count) }
            phases = p
            profiled = count
        }

        // Force evaluation alone, on the final positions (the neighbour list is current).
        let positions = bench.positions()
        var forces = [SIMD3<Double>](repeating: .zero, count: n)
        var losses: [Double]? = nil
        var forceSeconds: [Double] = []
        let evaluations = Swift.max(1, Swift.min(steps, 50))
        for _ in 0..<repeats {
            let t0 = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<evaluations {
                try bench.backend.computeForces(positions: positions, forces: &forces, losses: &losses)
            }
            let t1 = DispatchTime.now().uptimeNanoseconds
            forceSeconds.append(Double(t1 - t0) * 1e-9 / Double(evaluations))
        }

        let perStep = Spread(stepSeconds)
        let rate = perStep.reciprocal
        let peak = canResetPeak ? ProcessMemory.peakResidentBytes : nil
        return BenchmarkResult(
            backend: bench.label ?? bench.backend.name, device: bench.backend.deviceName, atoms: n,
            origin: system.origin, steps: steps, repeats: repeats, warmupSteps: warmup,
            stepsPerSecond: rate, atomStepsPerSecond: rate.scaled(Double(n)),
            nsPerDay: rate.scaled(settings.timeStep * 1e-6 * 86_400),
            forceSeconds: Spread(forceSeconds), transferSecondsPerStep: transfer,
            neighbourRebuilds: rebuilds, timedSteps: steps * repeats,
            peakResidentBytes: peak,
            bytesPerAtom: peak.flatMap { p in baseline.map { Double(p - $0) / Double(n) } },
            deviceMemoryBytes: bench.deviceMemoryBytes?(), setupSeconds: setup,
            finalTemperature: bench.temperature?(), bytesPerStep: bytesPerStep,
            phaseSecondsPerStep: phases, profiledSteps: profiled, cpuSecondsPerStep: cpuPerStep,
            phases: breakdown)
    }

    /// User plus system CPU time of this process so far, in s (getrusage).
    public static func processCPUSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) * 1e-6
            + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) * 1e-6
    }
}
