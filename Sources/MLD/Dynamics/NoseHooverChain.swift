import Dispatch
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
        case 1: return weights1
        case 3: return weights3
        default: return weights5
        }
    }
    static let weights1: [Double] = [1]
    static let weights3: [Double] = {
        let w = 1 / (2 - pow(2, 1.0 / 3))
        return [w, 1 - 2 * w, w]
    }()
    static let weights5: [Double] = {
        let w = 1 / (4 - pow(4, 1.0 / 3))
        return [w, w, 1 - 4 * w, w, w]
    }()

    /// Propagates the chain over half a step `dt / 2` (dt in fs) given twice the kinetic energy
    /// of the coupled velocities (`2 KE`, eV), and returns the factor to scale those velocities by.
    public mutating func halfStep(twiceKinetic: Double, dt: Double) -> Double {
        let M = length, nf = degreesOfFreedom, kT = self.kT, tau = self.tau, n = substeps
        let w = Self.weights(order: order)
        return xi.withUnsafeMutableBufferPointer { x in
            vxi.withUnsafeMutableBufferPointer { v in
                Self.propagate(xi: x.baseAddress!, vxi: v.baseAddress!, length: M, degreesOfFreedom: nf,
                               kT: kT, tau: tau, twiceKinetic: twiceKinetic, dt: dt, weights: w, substeps: n)
            }
        }
    }

    /// The chain half step on raw storage (shared by the global and the massive thermostat).
    /// Masses: `Q_1 = N_f kT tau^2`, `Q_j = kT tau^2`.
    @inline(__always)
    static func propagate(xi: UnsafeMutablePointer<Double>, vxi: UnsafeMutablePointer<Double>, length M: Int,
                          degreesOfFreedom nf: Double, kT: Double, tau: Double, twiceKinetic: Double,
                          dt: Double, weights: [Double], substeps: Int) -> Double {
        let q = kT * tau * tau
        @inline(__always) func mass(_ j: Int) -> Double { j == 0 ? nf * q : q }
        @inline(__always) func force(_ j: Int, _ ke2: Double) -> Double {
            j == 0 ? (ke2 - nf * kT) / mass(0) : (mass(j - 1) * vxi[j - 1] * vxi[j - 1] - kT) / mass(j)
        }
        var ke2 = twiceKinetic
        var scale = 1.0
        if M == 1 {
            // The same operations for a chain of one (plain Nose-Hoover, the default), with the
            // thermostat's position and velocity kept in registers.
            let nfkT = nf * kT, q1 = mass(0)
            var v = vxi[0], x = xi[0]
            for w in weights {
                let d = w * dt / Double(substeps)
                for _ in 0..<substeps {
                    v += 0.25 * d * ((ke2 - nfkT) / q1)
                    let s = exp(-0.5 * d * v)
                    scale *= s
                    ke2 *= s * s
                    x += 0.5 * d * v
                    v += 0.25 * d * ((ke2 - nfkT) / q1)
                }
            }
            vxi[0] = v
            xi[0] = x
            return scale
        }
        for w in weights {
            let d = w * dt / Double(substeps)   // this Trotter step's share of the full step
            for _ in 0..<substeps {
                // Down the chain: last element, then j = M-2 ... 0 (quarter-step kicks).
                vxi[M - 1] += 0.25 * d * force(M - 1, ke2)
                var j = M - 2
                while j >= 0 {
                    let e = exp(-0.125 * d * vxi[j + 1])
                    vxi[j] = (vxi[j] * e + 0.25 * d * force(j, ke2)) * e
                    j -= 1
                }
                // Scale the particle velocities.
                let s = exp(-0.5 * d * vxi[0])
                scale *= s
                ke2 *= s * s
                for j in 0..<M { xi[j] += 0.5 * d * vxi[j] }
                // Up the chain.
                for j in 0..<(M - 1) {
                    let e = exp(-0.125 * d * vxi[j + 1])
                    vxi[j] = (vxi[j] * e + 0.25 * d * force(j, ke2)) * e
                }
                vxi[M - 1] += 0.25 * d * force(M - 1, ke2)
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

/// One Nose-Hoover chain per agent ("massive"), stored flat: chain `i` is
/// `xi[i * length ..< (i + 1) * length]`, each coupled to `degreesOfFreedom` velocity components
/// of its own atom (3, or 3 - 3/N with centre-of-mass removal), same masses and propagator as
/// `NoseHooverChain` (chains of one take `ChainOfOneSteps`, whose exponential is inlined).
public struct MassiveNoseHooverChain: Sendable, Equatable {
    public var atoms: Int
    public var length: Int
    /// Degrees of freedom per chain.
    public var degreesOfFreedom: Double
    /// Target temperature in K and time constant in fs.
    public var temperature: Double
    public var tau: Double
    public var substeps = 1
    public var order = 3
    /// Chain positions and velocities (1/fs), `atoms * length` each.
    public var xi: [Double]
    public var vxi: [Double]

    public init(atoms: Int, degreesOfFreedom: Double, temperature: Double, tau: Double, length: Int) {
        precondition(length >= 1 && tau > 0)
        self.atoms = atoms
        self.length = length
        self.degreesOfFreedom = degreesOfFreedom
        self.temperature = temperature
        self.tau = tau
        xi = [Double](repeating: 0, count: atoms * length)
        vxi = xi
    }

    /// Half a step (dt in fs) on `velocities` (Å/fs) of atoms of `masses` (u).
    public mutating func halfStep(velocities v: inout [SIMD3<Double>], masses m: [Double], dt: Double) {
        let M = length, nf = degreesOfFreedom, kT = Units.boltzmann * temperature, tau = self.tau
        let w = NoseHooverChain.weights(order: order), n = substeps
        let count = v.count
        // Chains are independent: large systems propagate them in parallel blocks (the result
        // does not depend on the blocking).
        let blocks = count >= 2 * AtomBlocks.size ? 4 * AvailableCores.count : 1
        let per = (count + blocks - 1) / blocks
        xi.withUnsafeMutableBufferPointer { x in
            vxi.withUnsafeMutableBufferPointer { vx in
                v.withUnsafeMutableBufferPointer { v in
                    m.withUnsafeBufferPointer { m in
                        let x = x, vx = vx, v = v
                        let ofOne = M == 1 ? ChainOfOneSteps(dt: dt, weights: w, substeps: n, degreesOfFreedom: nf,
                                                             kT: kT, tau: tau) : nil
                        defer { ofOne?.deallocate() }
                        WorkerPool.shared.perform(iterations: blocks) { b in
                            for i in AtomBlocks.range(b, per: per, count: count) {
                                let ke2 = m[i] * (v[i] * v[i]).sum() * Units.massVelocitySquared
                                if let ofOne {
                                    v[i] *= ofOne.propagate(xi: x.baseAddress! + i, vxi: vx.baseAddress! + i, twiceKinetic: ke2)
                                    continue
                                }
                                let s = NoseHooverChain.propagate(
                                    xi: x.baseAddress! + i * M, vxi: vx.baseAddress! + i * M, length: M,
                                    degreesOfFreedom: nf, kT: kT, tau: tau, twiceKinetic: ke2, dt: dt,
                                    weights: w, substeps: n)
                                v[i] *= s
                            }
                        }
                    }
                }
            }
        }
    }

    /// Sum of the chains' extended energies in eV.
    public var energy: Double {
        let kT = Units.boltzmann * temperature, q = kT * tau * tau
        var e = 0.0
        for i in 0..<atoms {
            for j in 0..<length {
                let k = i * length + j
                e += 0.5 * (j == 0 ? degreesOfFreedom * q : q) * vxi[k] * vxi[k]
                e += (j == 0 ? degreesOfFreedom : 1) * kT * xi[k]
            }
        }
        return e
    }
}

extension MassiveNoseHooverChain {
    /// The per-atom half step on raw storage, for passes that fuse it with other per-atom work:
    /// `scale(i, v, m)` propagates chain i over half a step and returns atom i's velocity scaled
    /// by it (same arithmetic as `halfStep`).
    struct Kernel {
        let xi: UnsafeMutablePointer<Double>, vxi: UnsafeMutablePointer<Double>
        let length: Int, degreesOfFreedom: Double, kT: Double, tau: Double, dt: Double
        let weights: [Double], substeps: Int
        /// The half step's constants when the chains have length one.
        let ofOne: ChainOfOneSteps?

        /// Atom i's velocity (Å/fs) of mass m (u) after its chain's half step.
        @inline(__always)
        func scale(_ i: Int, _ v: SIMD3<Double>, mass m: Double) -> SIMD3<Double> {
            let ke2 = m * (v * v).sum() * Units.massVelocitySquared
            if let ofOne { return v * ofOne.propagate(xi: xi + i, vxi: vxi + i, twiceKinetic: ke2) }
            let s = NoseHooverChain.propagate(
                xi: xi + i * length, vxi: vxi + i * length, length: length, degreesOfFreedom: degreesOfFreedom,
                kT: kT, tau: tau, twiceKinetic: ke2, dt: dt, weights: weights, substeps: substeps)
            return v * s
        }

        /// Atoms i and i + 1's velocities (Å/fs) of masses m0, m1 (u) after their chains' half
        /// steps (the same bits as `scale` of each).
        @inline(__always)
        func scalePair(_ i: Int, _ v0: SIMD3<Double>, mass m0: Double, _ v1: SIMD3<Double>, mass m1: Double)
            -> (SIMD3<Double>, SIMD3<Double>) {
            guard let ofOne else { return (scale(i, v0, mass: m0), scale(i + 1, v1, mass: m1)) }
            let ke2 = SIMD2(m0 * (v0 * v0).sum() * Units.massVelocitySquared,
                            m1 * (v1 * v1).sum() * Units.massVelocitySquared)
            let s = ofOne.propagatePair(xi: xi + i, vxi: vxi + i, twiceKinetic: ke2)
            return (v0 * s[0], v1 * s[1])
        }
    }

    /// Runs `body` with a kernel over this thermostat's storage, for a half step of dt (fs).
    mutating func withKernel<R>(dt: Double, _ body: (Kernel) throws -> R) rethrows -> R {
        let M = length, nf = degreesOfFreedom, kT = Units.boltzmann * temperature, tau = self.tau
        let w = NoseHooverChain.weights(order: order), n = substeps
        let ofOne = M == 1 ? ChainOfOneSteps(dt: dt, weights: w, substeps: n, degreesOfFreedom: nf, kT: kT, tau: tau) : nil
        defer { ofOne?.deallocate() }
        return try xi.withUnsafeMutableBufferPointer { x in
            try vxi.withUnsafeMutableBufferPointer { vx in
                try body(Kernel(xi: x.baseAddress!, vxi: vx.baseAddress!, length: M, degreesOfFreedom: nf,
                                kT: kT, tau: tau, dt: dt, weights: w, substeps: n, ofOne: ofOne))
            }
        }
    }
}
