import Foundation

/// The Trotter steps of one chain half step with their constants computed once, for propagating
/// many chains of one (the massive thermostat's default, one chain per atom) over the same dt.
///
/// Step k of the half step has the share d_k = w_k dt / substeps (fs) of the step; it stores
/// 0.25 d_k, -0.5 d_k and 0.5 d_k, the factors `NoseHooverChain.propagate` forms from d_k for a
/// chain of one. `propagate` here takes the same steps in the same order, with the velocity
/// scale exp(-d_k v_xi / 2) from `exponential` (within about an ulp of libm's `exp`).
struct ChainOfOneSteps {
    /// (0.25 d_k, -0.5 d_k, 0.5 d_k) per step, in fs.
    private let factors: UnsafeMutablePointer<SIMD4<Double>>
    /// Number of Trotter steps (weights x substeps).
    let count: Int
    /// N_f kT (eV) and the chain mass Q_1 = N_f kT tau² (eV fs²).
    let nfkT: Double, q1: Double

    /// Steps of the half step of dt (fs) with Suzuki-Yoshida `weights` and `substeps` for a chain
    /// coupled to `nf` degrees of freedom at kT (eV) with time constant tau (fs). Call
    /// `deallocate` when done.
    init(dt: Double, weights: [Double], substeps: Int, degreesOfFreedom nf: Double, kT: Double, tau: Double) {
        count = weights.count * substeps
        factors = .allocate(capacity: max(count, 1))
        var k = 0
        for w in weights {
            let d = w * dt / Double(substeps)
            for _ in 0..<substeps {
                factors[k] = SIMD4(0.25 * d, -0.5 * d, 0.5 * d, 0)
                k += 1
            }
        }
        nfkT = nf * kT
        q1 = nf * (kT * tau * tau)
    }

    func deallocate() { factors.deallocate() }

    /// Propagates the chain (position `xi`, velocity `vxi` in 1/fs) over the half step, given twice
    /// the kinetic energy (eV) of the velocities it scales; returns their scale factor.
    @inline(__always)
    func propagate(xi: UnsafeMutablePointer<Double>, vxi: UnsafeMutablePointer<Double>, twiceKinetic: Double) -> Double {
        var ke2 = twiceKinetic, scale = 1.0
        var v = vxi.pointee, x = xi.pointee
        // The chain's force (1/fs²), the same for a step's closing kick and the next one's opening.
        var force = (ke2 - nfkT) / q1
        for k in 0..<count {
            let f = factors[k]
            v += f.x * force
            let s = Self.exponential(f.y * v)
            scale *= s
            ke2 *= s * s
            x += f.z * v
            force = (ke2 - nfkT) / q1
            v += f.x * force
        }
        vxi.pointee = v
        xi.pointee = x
        return scale
    }

    /// e^x to within about an ulp: for |x| < 1/8 (a chain's velocity scale over a Trotter step is
    /// e^x with |x| of order 0.01) the Taylor polynomial of degree 11 by Horner's rule, whose
    /// truncation error is below 2e-19 relative, inlined without a call; libm's `exp` elsewhere
    /// and for NaN.
    @inline(__always)
    static func exponential(_ x: Double) -> Double {
        guard abs(x) < 0.125 else { return exp(x) }
        var p = 1.0 / 39_916_800
        p = p * x + 1.0 / 3_628_800
        p = p * x + 1.0 / 362_880
        p = p * x + 1.0 / 40_320
        p = p * x + 1.0 / 5_040
        p = p * x + 1.0 / 720
        p = p * x + 1.0 / 120
        p = p * x + 1.0 / 24
        p = p * x + 1.0 / 6
        p = p * x + 0.5
        p = p * x + 1
        return p * x + 1
    }
}
