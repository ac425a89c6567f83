import Foundation

/// How a run integrates: time step, thermostat, reporting interval and sanity bounds.
public struct SimulationSettings: Codable, Sendable, Equatable {
    /// The thermostat families offered.
    public enum ThermostatKind: String, Codable, Sendable, CaseIterable {
        case noseHoover = "nose-hoover"
        case none
        /// Canonical-sampling velocity rescaling (Bussi, Donadio, Parrinello), global.
        case csvr
        /// BAOAB Langevin (Leimkuhler, Matthews), friction 1 / tau.
        case langevin
    }

    /// Time step in fs (the CP2K data's 0.5 fs by default).
    /// The Nose-Hoover time constant `mld run` uses for conservative models (one global chain), fs.
    public static let conservativeTau = 100.0
    public var timeStep: Double = 0.5
    /// Target temperature in K (and the Maxwell-Boltzmann temperature of a start without velocities).
    public var temperature: Double = 300
    /// Thermostat: a Nose-Hoover chain, CSVR, Langevin, or none (NVE).
    public var thermostat: ThermostatKind = .noseHoover
    /// Thermostat time constant in fs (Nose-Hoover period, CSVR relaxation time, Langevin 1/friction).
    public var tau: Double = SimulationSettings.defaultTau
    /// Nose-Hoover chain length.
    public var chainLength: Int = SimulationSettings.defaultChainLength
    /// One chain per agent instead of one for the whole system (the default: it holds the
    /// temperature fluctuations of the learned dynamics near the canonical ones; docs/dynamics.md).
    public var massive: Bool = true
    /// Remove centre-of-mass motion (then 3N - 3 degrees of freedom).
    public var removeCentreOfMass: Bool = true
    /// Steps between trajectory frames and thermo rows.
    public var every: Int = 10
    /// Steps between checkpoints (rounded up to a multiple of `every`).
    public var checkpointEvery: Int = 1000
    /// Largest displacement of one atom in one step before the run is stopped, in Å.
    public var maxDisplacement: Double = 0.5
    /// Temperature above which the run is stopped, in K (nil: max(10 T, 3000 K)).
    public var maxTemperature: Double? = nil
    /// Neighbour-list skin in Å.
    public var skin: Double = 0.8
    /// Seed of the random generators (Maxwell-Boltzmann velocities; the stochastic thermostats').
    public var seed: UInt64 = 1

    /// The default Nose-Hoover time constant in fs (see docs/dynamics.md for how it was chosen).
    public static let defaultTau: Double = 20
    /// The default chain length: 1 (plain Nose-Hoover). Learned forces pump heat in steadily; a
    /// chain of 2 or more thermalises its first element's velocity, which caps the heat it can
    /// remove at about sqrt(N_f) kT / tau, so the water heats up (measured in docs/dynamics.md).
    public static let defaultChainLength = 1

    public init() {}

    /// The temperature bound that stops a run, in K.
    public var temperatureLimit: Double { maxTemperature ?? max(10 * temperature, 3000) }
    /// `checkpointEvery` rounded up to a multiple of `every`.
    public var checkpointInterval: Int { max(1, (max(checkpointEvery, every) + every - 1) / every) * every }

    /// The longest Nose-Hoover chain a run may have.
    public static let maximumChainLength = 100
    /// The largest `every` and `checkpointEvery`, in steps (`mld run`'s limit on steps).
    public static let maximumInterval = 1_000_000_000_000

    /// The first setting no run can have, in words naming it (nil when all are usable): what a
    /// run.json read back (possibly damaged) is checked with before a run continues from it.
    public var problem: String? {
        func positive(_ x: Double) -> Bool { x > 0 && x.isFinite }
        if !positive(timeStep) { return "timeStep \(timeStep) is not a positive number of fs" }
        if !(temperature >= 0 && temperature.isFinite) { return "temperature \(temperature) is not a number of K >= 0" }
        if !positive(tau) { return "tau \(tau) is not a positive number of fs" }
        if !(1...Self.maximumChainLength).contains(chainLength) { return "chainLength \(chainLength) is not 1 to \(Self.maximumChainLength)" }
        if !(1...Self.maximumInterval).contains(every) { return "every \(every) is not 1 to \(Self.maximumInterval)" }
        if !(1...Self.maximumInterval).contains(checkpointEvery) { return "checkpointEvery \(checkpointEvery) is not 1 to \(Self.maximumInterval)" }
        if !positive(maxDisplacement) { return "maxDisplacement \(maxDisplacement) is not a positive number of Å" }
        if let t = maxTemperature, !positive(t) { return "maxTemperature \(t) is not a positive number of K" }
        if !(skin >= 0 && skin.isFinite) { return "skin \(skin) is not a number of Å >= 0" }
        return nil
    }
}

/// Running sums over a run, kept in checkpoints so that a resumed run reports the whole run.
public struct RunStatistics: Sendable, Equatable {
    /// Steps summed (temperature is summed every step).
    public var steps = 0.0
    public var sumT = 0.0, sumT2 = 0.0
    /// O-H bonds (each H to its nearest O) summed at every reported frame, in Å.
    public var bonds = 0.0, sumBond = 0.0, sumBond2 = 0.0
    public var minBond = Double.infinity, maxBond = 0.0
    /// Sum of |net force| / N per step, in eV/Å.
    public var sumNetForce = 0.0

    public init() {}

    public var meanTemperature: Double { sumT / max(steps, 1) }
    public var temperatureStd: Double {
        let m = meanTemperature
        return (max(0, sumT2 / max(steps, 1) - m * m)).squareRoot()
    }
    public var meanBond: Double { sumBond / max(bonds, 1) }
    public var bondStd: Double {
        let m = meanBond
        return (max(0, sumBond2 / max(bonds, 1) - m * m)).squareRoot()
    }
    public var meanNetForce: Double { sumNetForce / max(steps, 1) }

    var values: [Double] { [steps, sumT, sumT2, bonds, sumBond, sumBond2, minBond, maxBond, sumNetForce] }
    init?(values v: [Double]) {
        guard v.count == 9 else { return nil }
        (steps, sumT, sumT2, bonds, sumBond, sumBond2, minBond, maxBond, sumNetForce) =
            (v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8])
    }
}

/// A learned-dynamics simulation: the state, the backend that gives forces, velocity Verlet and
/// the thermostat. Reporters and files live outside (`RunDirectory`); `advance()` does one step.
///
/// One step (dt in fs): thermostat half step; kick dt/2; drift dt; forces; (centre-of-mass
/// removal); kick dt/2; thermostat half step. With Langevin the drift is BAOAB's half drift,
/// O step, half drift, and the half steps do nothing. Centre-of-mass removal subtracts `m_i / M` times the
/// net force from every force (a uniform acceleration, which leaves all relative motion exactly as
/// it was) after zeroing the initial centre-of-mass velocity, so the centre of mass stays put.
public final class Simulation {
    public let settings: SimulationSettings
    public let backend: any ForceBackend
    public let elements: [Element]
    public let species: [Int]
    /// Masses in u.
    public let masses: [Double]
    public let box: Box
    /// Positions in Å (unwrapped), velocities in Å/fs, forces in eV/Å.
    public internal(set) var positions: [SIMD3<Double>]
    public internal(set) var velocities: [SIMD3<Double>]
    public internal(set) var forces: [SIMD3<Double>]
    /// Per-agent losses in eV at the last step that asked for them (reported steps).
    public internal(set) var losses: [Double]
    /// Steps done since the run started, and the simulated time in fs.
    public internal(set) var step: Int
    public var time: Double { Double(step) * settings.timeStep }
    public internal(set) var thermostat: Thermostat
    /// Degrees of freedom: 3N - 3 with centre-of-mass removal, else 3N.
    public let degreesOfFreedom: Double
    /// Centre of mass at the start, in Å.
    public let centreOfMassReference: SIMD3<Double>
    public internal(set) var statistics: RunStatistics
    /// Seconds spent in the backend.
    public internal(set) var forceSeconds = 0.0
    /// The net force of the last step (before removal), in eV/Å.
    public internal(set) var netForce = SIMD3<Double>()
    /// Work done on the atoms by the forces since step 0, W = sum over steps of
    /// sum_i (F_i(t) + F_i(t + dt))/2 . (q_i(t + dt) - q_i(t)), in eV (trapezoid rule).
    public internal(set) var forceWork = 0.0
    /// U = the sum of the agents' losses at step 0, in eV.
    public private(set) var startPotential = 0.0
    /// Whether the forces are -dU/dq of U = the sum of the losses (conservative agents); selfish
    /// forces are not, and do work `nonConservativeWork` on the system.
    public var conservativeForces = false
    private var previousPositions: [SIMD3<Double>] = []
    /// Each atom's displacement in the last drift, in Å (the energy ledger's dq).
    var displacements: [SIMD3<Double>] = []
    /// sum m v.v of the current velocities in u Å²/fs², summed in `blocks` order (kept by every
    /// pass that changes the velocities; see `Simulation+FusedStep.swift`).
    var twiceKineticSum = 0.0
    /// The fixed blocks of the fused passes.
    var blocks: AtomBlocks
    /// Wall seconds spent in each phase of the steps so far.
    public internal(set) var phaseSeconds = StepPhaseSeconds()
    /// Whether output steps sample the O-H bonds for the run's summary (`statistics`); off for
    /// benchmarks, which report none.
    public var samplesBonds = true

    /// (forceWork, startPotential), kept in checkpoints.
    public var energyLedger: [Double] {
        get { [forceWork, startPotential] }
        set { if newValue.count == 2 { forceWork = newValue[0]; startPotential = newValue[1] } }
    }

    /// U = sum of the agents' losses in eV (at output steps, where the losses are computed).
    public var potentialEnergy: Double { losses.reduce(0, +) }

    /// The work of the forces beyond what U accounts for, W + U - U(0) in eV: the heat selfish
    /// agents pump in (for conservative agents only the integration error).
    public var nonConservativeWork: Double { forceWork + potentialEnergy - startPotential }

    /// The quantity the dynamics conserves, in eV: kinetic + U + the thermostat's energy, less the
    /// non-conservative work for selfish agents (conservative agents: the usual total energy).
    public var conservedEnergy: Double {
        kineticEnergy + potentialEnergy + thermostat.energy - (conservativeForces ? 0 : nonConservativeWork)
    }

    let accel: [Double]
    let totalMass: Double
    /// The device the steps run on (`makeResident`); nil: the host integrates.
    var resident: ResidentState?
    private let oxygen: Int?, hydrogen: Int?

    /// A fresh simulation from `configuration` (which must have velocities; see
    /// `Configuration.withMaxwellBoltzmannVelocities`). Forces are computed here.
    public convenience init(configuration c: Configuration, backend: any ForceBackend,
                            settings: SimulationSettings) throws {
        guard let v = c.velocities else {
            throw MLDError.usage("the starting configuration has no velocities")
        }
        try self.init(elements: c.elements, species: c.species, box: c.box, positions: c.positions,
                      velocities: v, forces: nil, step: 0, thermostatState: nil,
                      centreOfMass: nil, statistics: RunStatistics(), backend: backend, settings: settings)
    }

    /// A simulation from a full state (a checkpoint); `forces` nil computes them.
    public init(elements: [Element], species: [Int], box: Box, positions: [SIMD3<Double>],
                velocities: [SIMD3<Double>], forces: [SIMD3<Double>]?, step: Int,
                thermostatState: [Double]?, centreOfMass: SIMD3<Double>?, statistics: RunStatistics,
                backend: any ForceBackend, settings: SimulationSettings) throws {
        let n = positions.count
        guard n > 1, velocities.count == n, species.count == n else {
            throw MLDError.usage("a simulation needs at least 2 atoms with one velocity each")
        }
        self.settings = settings
        self.backend = backend
        self.elements = elements
        self.species = species
        self.box = box
        masses = species.map { elements[$0].mass }
        accel = masses.map { Units.forceOverMass / $0 }
        totalMass = masses.reduce(0, +)
        oxygen = elements.firstIndex { $0.symbol == "O" }
        hydrogen = elements.firstIndex { $0.symbol == "H" }
        self.positions = positions
        self.velocities = velocities
        blocks = AtomBlocks(atoms: n)
        self.step = step
        self.statistics = statistics
        degreesOfFreedom = Double(3 * n - (settings.removeCentreOfMass ? 3 : 0))
        thermostat = try Thermostat(settings: settings, atoms: n, degreesOfFreedom: degreesOfFreedom)
        if let s = thermostatState, !thermostat.restore(s) {
            throw MLDError.usage("the checkpoint's thermostat state (\(s.count) numbers) does not fit the thermostat settings")
        }
        self.forces = []
        self.losses = []
        var com = SIMD3<Double>()
        for i in 0..<n { com += masses[i] * positions[i] }
        centreOfMassReference = centreOfMass ?? com / totalMass
        // Only a fresh start (no centre-of-mass reference given) has its centre-of-mass velocity
        // removed; a checkpoint, even one of step 0, continues exactly as it was.
        if centreOfMass == nil && settings.removeCentreOfMass {
            var p = SIMD3<Double>()
            for i in 0..<n { p += masses[i] * self.velocities[i] }
            for i in 0..<n { self.velocities[i] -= p / totalMass }
        }
        if let forces, forces.count == n {
            self.forces = forces
        } else {
            try computeForces(wantLosses: true)
        }
        if losses.isEmpty {
            var l: [Double]? = []
            var f = self.forces
            try backend.computeForces(positions: self.positions, forces: &f, losses: &l)
            losses = l ?? []
        }
        if step == 0 { startPotential = losses.reduce(0, +) }
        twiceKineticSum = blockedTwiceKinetic()
    }

    /// Kinetic energy in eV (kept by the passes that change the velocities).
    public var kineticEnergy: Double { 0.5 * twiceKineticSum * Units.massVelocitySquared }
    /// Instantaneous temperature `2 KE / (N_dof k_B)` in K.
    public var temperature: Double { 2 * kineticEnergy / (degreesOfFreedom * Units.boltzmann) }
    /// The canonical standard deviation of the instantaneous temperature, `T sqrt(2 / N_dof)`, K.
    public var canonicalTemperatureStd: Double { settings.temperature * (2 / degreesOfFreedom).squareRoot() }
    /// Centre of mass in Å.
    public var centreOfMass: SIMD3<Double> {
        var c = SIMD3<Double>()
        for i in 0..<positions.count { c += masses[i] * positions[i] }
        return c / totalMass
    }
    /// Distance the centre of mass moved since the start, in Å.
    public var centreOfMassDrift: Double {
        let d = centreOfMass - centreOfMassReference
        return (d * d).sum().squareRoot()
    }
    /// Mean loss per agent of each species, in eV (from the last step that computed losses).
    public var meanLossPerSpecies: [Double] {
        var sum = [Double](repeating: 0, count: elements.count), n = sum
        for i in 0..<losses.count { sum[species[i]] += losses[i]; n[species[i]] += 1 }
        return zip(sum, n).map { $1 > 0 ? $0 / $1 : 0 }
    }

    /// The backend's forces (and losses when asked) for the current positions, timed into
    /// `forceSeconds`.
    func evaluateForces(wantLosses: Bool) throws {
        let t0 = DispatchTime.now().uptimeNanoseconds
        var l: [Double]? = wantLosses ? losses : nil
        try backend.computeForces(positions: positions, forces: &forces, losses: &l)
        if wantLosses { losses = l ?? [] }
        forceSeconds += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
    }

    /// Forces with the finiteness check and the centre-of-mass removal, in plain passes (the
    /// start and the Langevin step; the fused step does the same in its passes).
    private func computeForces(wantLosses: Bool) throws {
        try evaluateForces(wantLosses: wantLosses)
        var net = SIMD3<Double>()
        for i in 0..<forces.count {
            let f = forces[i]
            guard f.x.isFinite && f.y.isFinite && f.z.isFinite else {
                throw MLDError.simulation(step: step, problem: "atom \(i) (\(elements[species[i]])): the force is not finite (\(f.x), \(f.y), \(f.z) eV/Å)")
            }
            net += f
        }
        netForce = net
        if settings.removeCentreOfMass {
            let a = net / totalMass
            for i in 0..<forces.count { forces[i] -= masses[i] * a }
        }
    }

    /// The thermostat's half step; a massive thermostat scales atoms differently, so the
    /// centre-of-mass velocity it creates is removed again when that is asked for.
    private func thermostatHalfStep(_ dt: Double) {
        thermostat.halfStep(velocities: &velocities, masses: masses, dt: dt)
        if case .massive = thermostat, settings.removeCentreOfMass {
            var p = SIMD3<Double>()
            for i in 0..<velocities.count { p += masses[i] * velocities[i] }
            let v = p / totalMass
            for i in 0..<velocities.count { velocities[i] -= v }
        }
    }

    /// The drift over dt; with Langevin, BAOAB's half drift, O step, half drift (the distance is
    /// then the sum of the two halves' largest, a bound on any atom's move).
    private func drift(_ dt: Double) -> (atom: Int, distance: Double) {
        guard thermostat.actsInDrift else { return VelocityVerlet.drift(&positions, velocities: velocities, h: dt) }
        let a = VelocityVerlet.drift(&positions, velocities: velocities, h: 0.5 * dt)
        thermostat.langevinStep(velocities: &velocities, masses: masses, dt: dt,
                                removeCentreOfMass: settings.removeCentreOfMass)
        let b = VelocityVerlet.drift(&positions, velocities: velocities, h: 0.5 * dt)
        return (a.distance.isNaN || a.distance >= b.distance ? a.atom : b.atom, a.distance + b.distance)
    }

    /// One step with a thermostat that acts in the drift (Langevin, BAOAB): thermostat half steps
    /// (none), kick, half drift, O step, half drift, forces, kick, in plain passes.
    func advanceLangevin() throws {
        let dt = settings.timeStep
        let next = step + 1
        let t0 = DispatchTime.now().uptimeNanoseconds
        thermostatHalfStep(dt)
        VelocityVerlet.kick(&velocities, forces: forces, accel: accel, h: 0.5 * dt)
        if previousPositions.count != positions.count { previousPositions = positions } else {
            for i in 0..<positions.count { previousPositions[i] = positions[i] }
        }
        let (atom, jump) = drift(dt)
        guard jump <= settings.maxDisplacement else {
            throw MLDError.simulation(step: next, problem: "atom \(atom) (\(elements[species[atom]])) moved \(String(format: "%.3g", jump)) Å in one step (limit \(settings.maxDisplacement) Å)")
        }
        step = next
        var work = 0.0
        for i in 0..<positions.count { work += (forces[i] * (positions[i] - previousPositions[i])).sum() }
        let f0 = forceSeconds
        try computeForces(wantLosses: next % settings.every == 0)
        for i in 0..<positions.count { work += (forces[i] * (positions[i] - previousPositions[i])).sum() }
        forceWork += 0.5 * work
        VelocityVerlet.kick(&velocities, forces: forces, accel: accel, h: 0.5 * dt)
        thermostatHalfStep(dt)
        twiceKineticSum = blockedTwiceKinetic()
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        phaseSeconds.force += forceSeconds - f0
        phaseSeconds.integration += elapsed - (forceSeconds - f0)
        try finishStep(next)
        if next % settings.every == 0 && samplesBonds {
            let t1 = DispatchTime.now().uptimeNanoseconds
            sampleBonds()
            phaseSeconds.output += Double(DispatchTime.now().uptimeNanoseconds - t1) * 1e-9
        }
    }

    /// O-H bond lengths in Å: for every H, the distance to its nearest O (minimum image).
    public func bondLengths() -> [Double] {
        guard let o = oxygen, let h = hydrogen else { return [] }
        var list = NeighbourList(radius: 1.6, skin: 0, threads: AtomBlocks.defaultThreads)
        list.build(positions, box: box)
        var out: [Double] = []
        for i in 0..<positions.count where species[i] == h {
            var best = Double.infinity
            for j in list.neighbours(of: i) where species[Int(j)] == o {
                let d = box.displacement(from: positions[i], to: positions[Int(j)])
                best = min(best, (d * d).sum())
            }
            out.append(best.squareRoot())
        }
        return out
    }

    func sampleBonds() {
        for b in bondLengths() {
            statistics.bonds += 1
            statistics.sumBond += b
            statistics.sumBond2 += b * b
            statistics.minBond = min(statistics.minBond, b)
            statistics.maxBond = max(statistics.maxBond, b)
        }
    }

    /// The current frame (positions, velocities, step and time).
    public var configuration: Configuration {
        Configuration(elements: elements, species: species, positions: positions, velocities: velocities,
                      box: box, step: step, time: time)
    }
}

extension Configuration {
    /// This configuration with Maxwell-Boltzmann velocities at `temperature` (K) drawn from
    /// `rng`, centre-of-mass velocity removed and rescaled to exactly that temperature over
    /// 3N - 3 degrees of freedom.
    public func withMaxwellBoltzmannVelocities<G: RandomNumberGenerator>(temperature: Double,
                                                                        rng: inout G) -> Configuration {
        var c = self
        let m = masses
        var v = [SIMD3<Double>](repeating: .zero, count: count)
        for i in 0..<count {
            let s = (Units.boltzmann * temperature / (m[i] * Units.massVelocitySquared)).squareRoot()
            v[i] = SIMD3(Self.gaussian(&rng), Self.gaussian(&rng), Self.gaussian(&rng)) * s
        }
        let M = m.reduce(0, +)
        var p = SIMD3<Double>()
        for i in 0..<count { p += m[i] * v[i] }
        for i in 0..<count { v[i] -= p / M }
        var ke2 = 0.0
        for i in 0..<count { ke2 += m[i] * (v[i] * v[i]).sum() }
        let dof = Double(3 * count - 3)
        if ke2 > 0, temperature > 0 {
            let T = ke2 * Units.massVelocitySquared / (dof * Units.boltzmann)
            let f = (temperature / T).squareRoot()
            for i in 0..<count { v[i] *= f }
        }
        c.velocities = v
        return c
    }

    /// A standard normal deviate (Box-Muller).
    static func gaussian<G: RandomNumberGenerator>(_ rng: inout G) -> Double {
        let u1 = Double(rng.next() >> 11) * 0x1p-53 + 0x1p-54
        let u2 = Double(rng.next() >> 11) * 0x1p-53
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}
