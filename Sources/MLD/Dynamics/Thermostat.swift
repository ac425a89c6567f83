/// The thermostat of a run: none (NVE), one Nose-Hoover chain on all velocities, or one chain per
/// agent ("massive"). It only rescales velocities in the two half steps and keeps its own state.
public enum Thermostat: Sendable, Equatable {
    case none
    case noseHoover(NoseHooverChain)
    case massive(MassiveNoseHooverChain)

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
        }
    }

    /// The thermostat's extended energy in eV (0 for none).
    public var energy: Double {
        switch self {
        case .none: return 0
        case let .noseHoover(c): return c.energy
        case let .massive(cs): return cs.energy
        }
    }

    /// Every state variable (chain positions then velocities, chain by chain), for checkpoints.
    public var state: [Double] {
        switch self {
        case .none: return []
        case let .noseHoover(c): return c.xi + c.vxi
        case let .massive(cs): return cs.xi + cs.vxi
        }
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
        }
        return true
    }
}
