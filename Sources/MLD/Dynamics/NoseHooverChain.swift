import Foundation

/// A Nose-Hoover chain thermostat (Martyna, Klein, Tuckerman, J. Chem. Phys. 97, 2635 (1992);
/// the factorised propagator of Martyna, Tuckerman, Tobias, Klein, Mol. Phys. 87, 1117 (1996)).
///
/// The chain acts on the velocities only, in the two half steps around velocity Verlet:
/// `exp(iL_NHC dt/2) exp(iL_v dt/2) exp(iL_q dt) exp(iL_v dt/2) exp(iL_NHC dt/2)`.
/// Each half step is split into `substeps` Trotter steps, each into the Suzuki-Yoshida weights of
/// `order` 1, 3 or 5. Thermostat masses: `Q_1 = N_f kT tau^2`, `Q_j = kT tau^2` (eV fs²).
///
/// Extended energy (eV): `sum_j Q_j v_j^2 / 2 + N_f kT xi_1 + kT sum_{j>1} xi_j`; for a
/// Hamiltonian system `kinetic + potential + energy` is conserved.
public struct NoseHooverChain: Sendable, Equatable {
    /// Degrees of freedom coupled to the chain.
    public var degreesOfFreedom: Double
    /// Target temperature in K.
    public var temperature: Double
    /// Time constant in fs.
    public var tau: Double
    /// Thermostat positions (dimensionless) and velocities (1/fs), `length` each.
    public var xi: [Double]
    public var vxi: [Double]
    /// Trotter substeps per half step.
    public var substeps: Int
    /// Suzuki-Yoshida order: 1, 3 or 5.
    public var order: Int

    /// - Parameters:
    ///   - degreesOfFreedom: N_f of the coupled velocities.
    ///   - temperature: target in K.
    ///   - tau: time constant in fs (thermostat period).
    ///   - length: chain length (default 3).
    public init(degreesOfFreedom: Double, temperature: Double, tau: Double, length: Int = 3,
                substeps: Int = 1, order: Int = 3) {
        precondition(length >= 1 && tau > 0 && [1, 3, 5].contains(order))
        self.degreesOfFreedom = degreesOfFreedom
        self.temperature = temperature
        self.tau = tau
        self.xi = [Double](repeating: 0, count: length)
        self.vxi = [Double](repeating: 0, count: length)
        self.substeps = substeps
        self.order = order
    }

    public var length: Int { xi.count }
    /// kT in eV.
    public var kT: Double { Units.boltzmann * temperature }
    /// Mass of chain element j in eV fs².
    @inline(__always)
    public func mass(_ j: Int) -> Double { (j == 0 ? degreesOfFreedom : 1) * kT * tau * tau }

    /// Suzuki-Yoshida weights.
    public static func weights(order: Int) -> [Double] {
        switch order {
        case 1: return [1]
        case 3:
            let w = 1 / (2 - pow(2, 1.0 / 3))
            return [w, 1 - 2 * w, w]
        default:
            let w = 1 / (4 - pow(4, 1.0 / 3))
            return [w, w, 1 - 4 * w, w, w]
        }
    }

    /// Propagates the chain over half a step `dt / 2` (dt in fs) given twice the kinetic energy
    /// of the coupled velocities (`2 KE`, eV), and returns the factor to scale those velocities by.
    public mutating func halfStep(twiceKinetic: Double, dt: Double) -> Double {
        let M = length
        let kT = self.kT
        var ke2 = twiceKinetic
        var scale = 1.0
        for w in Self.weights(order: order) {
            let d = w * dt / Double(substeps)   // this Trotter step's share of the full step
            for _ in 0..<substeps {
                // Down the chain: last element, then j = M-2 ... 0 (quarter-step kicks).
                var G = M > 1 ? (mass(M - 2) * vxi[M - 2] * vxi[M - 2] - kT) / mass(M - 1)
                              : (ke2 - degreesOfFreedom * kT) / mass(0)
                vxi[M - 1] += 0.25 * d * G
                if M > 1 {
                    for j in stride(from: M - 2, through: 0, by: -1) {
                        let e = exp(-0.125 * d * vxi[j + 1])
                        G = j == 0 ? (ke2 - degreesOfFreedom * kT) / mass(0)
                                   : (mass(j - 1) * vxi[j - 1] * vxi[j - 1] - kT) / mass(j)
                        vxi[j] = (vxi[j] * e + 0.25 * d * G) * e
                    }
                }
                // Scale the particle velocities.
                let s = exp(-0.5 * d * vxi[0])
                scale *= s
                ke2 *= s * s
                for j in 0..<M { xi[j] += 0.5 * d * vxi[j] }
                // Up the chain.
                for j in 0..<(M - 1) {
                    let e = exp(-0.125 * d * vxi[j + 1])
                    let G = j == 0 ? (ke2 - degreesOfFreedom * kT) / mass(0)
                                   : (mass(j - 1) * vxi[j - 1] * vxi[j - 1] - kT) / mass(j)
                    vxi[j] = (vxi[j] * e + 0.25 * d * G) * e
                }
                let GM = M > 1 ? (mass(M - 2) * vxi[M - 2] * vxi[M - 2] - kT) / mass(M - 1)
                               : (ke2 - degreesOfFreedom * kT) / mass(0)
                vxi[M - 1] += 0.25 * d * GM
            }
        }
        return scale
    }

    /// The chain's extended energy in eV.
    public var energy: Double {
        var e = 0.0
        for j in 0..<length {
            e += 0.5 * mass(j) * vxi[j] * vxi[j]
            e += (j == 0 ? degreesOfFreedom : 1) * kT * xi[j]
        }
        return e
    }
}
