/// The thermostat of a run: none (NVE), one Nose-Hoover chain on all velocities, one chain per
/// agent ("massive"), canonical-sampling velocity rescaling (CSVR, global) or Langevin (BAOAB).
/// All but Langevin only rescale velocities in the two half steps around velocity Verlet; Langevin
/// acts in the middle of the drift (`langevinStep`, called by `Simulation`). Each keeps its own state,
/// the stochastic ones including their random generator's.
public enum Thermostat: Sendable, Equatable {
    case none
    case noseHoover(NoseHooverChain)
    case massive(MassiveNoseHooverChain)
    case csvr(CSVRThermostat)
    case langevin(LangevinThermostat)

    /// The thermostat `settings` ask for, on `atoms` atoms with `degreesOfFreedom` in all. A time
    /// constant that is not a positive finite number of fs is refused in one line.
    public init(settings s: SimulationSettings, atoms: Int, degreesOfFreedom: Double) throws {
        if s.thermostat != .none {
            guard s.tau > 0 && s.tau.isFinite else {
                throw MLDError.usage("the \(s.thermostat.rawValue) thermostat needs a time constant tau > 0 fs (got \(s.tau))")
            }
            guard s.temperature >= 0 && s.temperature.isFinite else {
                throw MLDError.usage("the \(s.thermostat.rawValue) thermostat needs a temperature >= 0 K (got \(s.temperature))")
            }
        }
        switch s.thermostat {
        case .none: self = .none
        case .noseHoover:
            guard s.chainLength >= 1 else { throw MLDError.usage("the Nose-Hoover chain length must be at least 1 (got \(s.chainLength))") }
            self = s.massive
                ? .massive(atoms: atoms, degreesOfFreedom: degreesOfFreedom, temperature: s.temperature,
                           tau: s.tau, length: s.chainLength)
                : .global(degreesOfFreedom: degreesOfFreedom, temperature: s.temperature,
                          tau: s.tau, length: s.chainLength)
        case .csvr:
            self = .csvr(CSVRThermostat(degreesOfFreedom: degreesOfFreedom, temperature: s.temperature,
                                        tau: s.tau, seed: Self.seed(s.seed)))
        case .langevin:
            self = .langevin(LangevinThermostat(temperature: s.temperature, tau: s.tau, seed: Self.seed(s.seed)))
        }
    }

    /// The thermostat generator's seed: the run's seed hashed, so that its numbers are not those
    /// that drew the Maxwell-Boltzmann velocities.
    static func seed(_ runSeed: UInt64) -> UInt64 {
        var g = SplitMix64(seed: runSeed ^ 0x5448_4552_4D4F_5354)   // "THERMOST"
        return g.next()
    }

    /// The name checkpoints record (a resumed run must have the same): none, nose-hoover,
    /// nose-hoover-massive, csvr or langevin.
    public var name: String {
        switch self {
        case .none: return "none"
        case .noseHoover: return "nose-hoover"
        case .massive: return "nose-hoover-massive"
        case .csvr: return "csvr"
        case .langevin: return "langevin"
        }
    }

    /// The name of the thermostat `settings` ask for (see `name`).
    public static func name(for s: SimulationSettings) -> String {
        switch s.thermostat {
        case .none: return "none"
        case .noseHoover: return s.massive ? "nose-hoover-massive" : "nose-hoover"
        case .csvr: return "csvr"
        case .langevin: return "langevin"
        }
    }

    /// Whether the thermostat acts in the middle of the drift (Langevin) instead of in the half steps.
    public var actsInDrift: Bool {
        if case .langevin = self { return true }
        return false
    }

    /// The Langevin O step over a whole step dt (fs), between the two half drifts; nothing for the
    /// other thermostats.
    public mutating func langevinStep(velocities v: inout [SIMD3<Double>], masses m: [Double], dt: Double,
                                      removeCentreOfMass: Bool) {
        guard case var .langevin(l) = self else { return }
        l.oStep(velocities: &v, masses: m, dt: dt, removeCentreOfMass: removeCentreOfMass)
        self = .langevin(l)
    }

    /// One global chain over `degreesOfFreedom` velocities.
    public static func global(degreesOfFreedom: Double, temperature: Double, tau: Double,
                              length: Int) -> Thermostat {
        .noseHoover(NoseHooverChain(degreesOfFreedom: degreesOfFreedom, temperature: temperature,
                                    tau: tau, length: length))
    }

    /// One chain per agent, each coupled to `degreesOfFreedom / atoms` degrees of freedom (3, or
    /// slightly fewer when centre-of-mass motion is removed).
    public static func massive(atoms: Int, degreesOfFreedom: Double, temperature: Double,
                               tau: Double, length: Int) -> Thermostat {
        .massive(MassiveNoseHooverChain(atoms: atoms, degreesOfFreedom: degreesOfFreedom / Double(atoms),
                                        temperature: temperature, tau: tau, length: length))
    }

    /// Half a step (dt in fs) of the thermostat on `velocities` (Å/fs) of atoms of `masses` (u).
    public mutating func halfStep(velocities v: inout [SIMD3<Double>], masses m: [Double], dt: Double) {
        switch self {
        case .none:
            return
        case .noseHoover(var chain):
            var twiceKE = 0.0
            for i in 0..<v.count { twiceKE += m[i] * (v[i] * v[i]).sum() }
            let s = chain.halfStep(twiceKinetic: twiceKE * Units.massVelocitySquared, dt: dt)
            for i in 0..<v.count { v[i] *= s }
            self = .noseHoover(chain)
        case .massive(var chains):
            self = .none   // release the storage so it is mutated in place
            chains.halfStep(velocities: &v, masses: m, dt: dt)
            self = .massive(chains)
        case .csvr(var t):
            var twiceKE = 0.0
            for i in 0..<v.count { twiceKE += m[i] * (v[i] * v[i]).sum() }
            let s = t.halfStep(kinetic: 0.5 * twiceKE * Units.massVelocitySquared, dt: dt)
            for i in 0..<v.count { v[i] *= s }
            self = .csvr(t)
        case .langevin:
            return
        }
    }

    /// The thermostat's energy in eV: Nose-Hoover's extended energy, CSVR's and Langevin's heat
    /// counter (minus the kinetic energy they added); 0 for none.
    public var energy: Double {
        switch self {
        case .none: return 0
        case let .noseHoover(c): return c.energy
        case let .massive(cs): return cs.energy
        case let .csvr(t): return t.energy
        case let .langevin(t): return t.energy
        }
    }

    /// Every state variable, for checkpoints: Nose-Hoover, the chain positions then velocities;
    /// CSVR and Langevin, the energy counter then the random generator's state as two exact
    /// integers (its high and low 32 bits), so that a resumed run draws the same numbers.
    public var state: [Double] {
        switch self {
        case .none: return []
        case let .noseHoover(c): return c.xi + c.vxi
        case let .massive(cs): return cs.xi + cs.vxi
        case let .csvr(t): return [t.energy] + Self.split(t.randomState)
        case let .langevin(t): return [t.energy] + Self.split(t.randomState)
        }
    }

    static func split(_ u: UInt64) -> [Double] { [Double(u >> 32), Double(u & 0xFFFF_FFFF)] }
    static func join(_ hi: Double, _ lo: Double) -> UInt64? {
        guard hi >= 0, lo >= 0, hi < 0x1p32, lo < 0x1p32, hi == hi.rounded(), lo == lo.rounded() else { return nil }
        return UInt64(hi) << 32 | UInt64(lo)
    }

    /// Restores `state`; false if its length does not fit this thermostat.
    public mutating func restore(_ s: [Double]) -> Bool {
        switch self {
        case .none: return s.isEmpty
        case var .noseHoover(c):
            guard s.count == 2 * c.length else { return false }
            c.xi = Array(s[0..<c.length]); c.vxi = Array(s[c.length...])
            self = .noseHoover(c)
        case var .massive(cs):
            guard s.count == 2 * cs.xi.count else { return false }
            cs.xi = Array(s[0..<cs.xi.count]); cs.vxi = Array(s[cs.xi.count...])
            self = .massive(cs)
        case var .csvr(t):
            guard s.count == 3, let r = Self.join(s[1], s[2]) else { return false }
            t.energy = s[0]; t.randomState = r
            self = .csvr(t)
        case var .langevin(t):
            guard s.count == 3, let r = Self.join(s[1], s[2]) else { return false }
            t.energy = s[0]; t.randomState = r
            self = .langevin(t)
        }
        return true
    }
}
