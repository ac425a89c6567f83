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

    public init(backend: ForceBackend, step: @escaping () throws -> Void,
                positions: @escaping () -> [SIMD3<Double>],
                transferSeconds: (() -> Double)? = nil, deviceMemoryBytes: (() -> Int)? = nil) {
        self.backend = backend
        self.step = step
        self.positions = positions
        self.transferSeconds = transferSeconds
        self.deviceMemoryBytes = deviceMemoryBytes
    }
}

/// How long and how often to time.
public struct BenchmarkSettings: Codable, Sendable {
    /// MD steps per timed run; nil chooses `targetAtomSteps / atoms` (at least 2, at most 5,000).
    public var steps: Int?
    /// Timed runs per size and backend (the median is reported, with min and max).
    public var repeats: Int = 3
    /// Atom-steps per timed run when `steps` is nil (2e6: about a second at 2e6 atom-steps/s).
    public var targetAtomSteps: Double = 2e6
    /// MD time step in fs, for ns/day.
    public var timeStep: Double = 0.5

    public init(steps: Int? = nil, repeats: Int = 3) {
        self.steps = steps
        self.repeats = repeats
    }

    /// MD steps per timed run for a system of `atoms`.
    public func steps(atoms: Int) -> Int {
        if let steps { return steps }
        return Swift.max(2, Swift.min(5_000, Int(targetAtomSteps / Double(Swift.max(atoms, 1)))))
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
    /// Host-device transfer seconds per MD step (positions up, forces down), where measured.
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
}

/// Times whole MD steps and force evaluations.
public enum Benchmark {
    /// Builds the system of `atoms` (see `BenchmarkSystem`), makes the case with `make`, runs
    /// warm-up steps (a fifth of a timed run, at least 2), then `settings.repeats` timed runs of
    /// whole MD steps and as many timed force evaluations.
    public static func run(atoms: Int, reference: Configuration?, settings: BenchmarkSettings,
                           make: (Configuration) throws -> BenchmarkCase) throws -> BenchmarkResult {
        let canResetPeak = ProcessMemory.resetPeak()
        let baseline = ProcessMemory.residentBytes
        let start = Date()
        let system = try BenchmarkSystem(atoms: atoms, reference: reference)
        let bench = try make(system.configuration)
        let n = system.configuration.count
        let steps = settings.steps(atoms: n)
        let warmup = Swift.max(2, steps / 5)
        for _ in 0..<warmup { try bench.step() }
        let setup = Date().timeIntervalSince(start)

        let repeats = Swift.max(1, settings.repeats)
        var stepSeconds: [Double] = []
        let builds0 = bench.backend.neighbourListBuilds
        let transfer0 = bench.transferSeconds?()
        for _ in 0..<repeats {
            let t0 = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<steps { try bench.step() }
            let t1 = DispatchTime.now().uptimeNanoseconds
            stepSeconds.append(Double(t1 - t0) * 1e-9 / Double(steps))
        }
        let rebuilds = bench.backend.neighbourListBuilds - builds0
        let transfer = transfer0.flatMap { t0 in bench.transferSeconds.map { ($0() - t0) / Double(steps * repeats) } }

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
            backend: bench.backend.name, device: bench.backend.deviceName, atoms: n,
            origin: system.origin, steps: steps, repeats: repeats, warmupSteps: warmup,
            stepsPerSecond: rate, atomStepsPerSecond: rate.scaled(Double(n)),
            nsPerDay: rate.scaled(settings.timeStep * 1e-6 * 86_400),
            forceSeconds: Spread(forceSeconds), transferSecondsPerStep: transfer,
            neighbourRebuilds: rebuilds, timedSteps: steps * repeats,
            peakResidentBytes: peak,
            bytesPerAtom: peak.flatMap { p in baseline.map { Double(p - $0) / Double(n) } },
            deviceMemoryBytes: bench.deviceMemoryBytes?(), setupSeconds: setup)
    }
}
