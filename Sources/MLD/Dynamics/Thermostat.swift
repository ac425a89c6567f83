/// The thermostat of a run: none (NVE), one Nose-Hoover chain on all velocities, or one chain per
/// agent ("massive"). It only rescales velocities in the two half steps and keeps its own state.
public enum Thermostat: Sendable, Equatable {
    case none
    case noseHoover(NoseHooverChain)
    case massive([NoseHooverChain])

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
        let one = NoseHooverChain(degreesOfFreedom: degreesOfFreedom / Double(atoms),
                                  temperature: temperature, tau: tau, length: length)
        return .massive([NoseHooverChain](repeating: one, count: atoms))
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
            self = .none   // release the array so it is mutated in place
            for i in 0..<v.count {
                let s = chains[i].halfStep(twiceKinetic: m[i] * (v[i] * v[i]).sum() * Units.massVelocitySquared, dt: dt)
                v[i] *= s
            }
            self = .massive(chains)
        }
    }

    /// The thermostat's extended energy in eV (0 for none).
    public var energy: Double {
        switch self {
        case .none: return 0
        case let .noseHoover(c): return c.energy
        case let .massive(cs): return cs.reduce(0) { $0 + $1.energy }
        }
    }

    /// Every state variable (chain positions then velocities, chain by chain), for checkpoints.
    public var state: [Double] {
        switch self {
        case .none: return []
        case let .noseHoover(c): return c.xi + c.vxi
        case let .massive(cs): return cs.flatMap { $0.xi + $0.vxi }
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
            guard let M = cs.first?.length, s.count == 2 * M * cs.count else { return false }
            for i in 0..<cs.count {
                let b = 2 * M * i
                cs[i].xi = Array(s[b..<(b + M)]); cs[i].vxi = Array(s[(b + M)..<(b + 2 * M)])
            }
            self = .massive(cs)
        }
        return true
    }
}
