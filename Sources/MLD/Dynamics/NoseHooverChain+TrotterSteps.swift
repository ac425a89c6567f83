import Foundation

/// The Trotter steps of one chain half step with their constants computed once, for propagating
/// many chains of one (the massive thermostat's default, one chain per atom) over the same dt,
/// two chains at a time.
///
/// Step k of the half step has the share d_k = w_k dt / substeps (fs) of the step; it stores
/// 0.25 d_k, -0.5 d_k and 0.5 d_k, the factors `NoseHooverChain.propagate` forms from d_k for a
/// chain of one. `propagate` takes the same steps in the same order, with the chain force
/// (2 KE - N_f kT) / Q_1 as a product with 1 / Q_1 and the velocity scale exp(-d_k v_xi / 2) from
/// `exponential` (within about an ulp of libm's `exp`): rounding-level differences from
/// `NoseHooverChain.propagate`, and a chain's result does not depend on which chain shares the
/// vector with it, so every massive path gives the same bits.
struct ChainOfOneSteps {
    /// (0.25 d_k, -0.5 d_k, 0.5 d_k) per step, in fs.
    private let factors: UnsafeMutablePointer<SIMD4<Double>>
    /// Number of Trotter steps (weights x substeps).
    let count: Int
    /// N_f kT (eV) and 1 / Q_1 with the chain mass Q_1 = N_f kT tau² (eV fs²).
    let nfkT: Double, inverseQ1: Double

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
        inverseQ1 = 1 / (nf * (kT * tau * tau))
    }

    func deallocate() { factors.deallocate() }

    /// Propagates two chains (positions `x`, velocities `v` in 1/fs, one per lane) over the half
    /// step, given twice the kinetic energy (eV) of the velocities each scales; returns their
    /// scale factors.
    @inline(__always)
    func propagate(x: inout SIMD2<Double>, v: inout SIMD2<Double>, twiceKinetic: SIMD2<Double>) -> SIMD2<Double> {
        var ke2 = twiceKinetic, scale = SIMD2<Double>(repeating: 1)
        // The chain force (1/fs²), the same for a step's closing kick and the next one's opening.
        var force = (ke2 - nfkT) * inverseQ1
        for k in 0..<count {
            let f = factors[k]
            v += f.x * force
            let s = Self.exponential(f.y * v)
            scale *= s
            ke2 *= s * s
            x += f.z * v
            force = (ke2 - nfkT) * inverseQ1
            v += f.x * force
        }
        return scale
    }

    /// The half step of one chain (position `xi`, velocity `vxi` in 1/fs) given twice the kinetic
    /// energy (eV) of the velocities it scales; returns their scale factor.
    @inline(__always)
    func propagate(xi: UnsafeMutablePointer<Double>, vxi: UnsafeMutablePointer<Double>, twiceKinetic: Double) -> Double {
        var x = SIMD2(repeating: xi.pointee), v = SIMD2(repeating: vxi.pointee)
        let s = propagate(x: &x, v: &v, twiceKinetic: SIMD2(repeating: twiceKinetic))
        xi.pointee = x[0]
        vxi.pointee = v[0]
        return s[0]
    }

    /// The half step of chains `xi[0]`, `xi[1]` (velocities `vxi[0]`, `vxi[1]`) given twice the
    /// kinetic energies (eV) of the velocities they scale; returns the two scale factors.
    @inline(__always)
    func propagatePair(xi: UnsafeMutablePointer<Double>, vxi: UnsafeMutablePointer<Double>,
                       twiceKinetic: SIMD2<Double>) -> SIMD2<Double> {
        var x = SIMD2(xi[0], xi[1]), v = SIMD2(vxi[0], vxi[1])
        let s = propagate(x: &x, v: &v, twiceKinetic: twiceKinetic)
        xi[0] = x[0]; xi[1] = x[1]
        vxi[0] = v[0]; vxi[1] = v[1]
        return s
    }

    /// e^x lane by lane to within about an ulp: for |x| < 1/8 (a chain's velocity scale over a
    /// Trotter step is e^x with |x| of order 0.01) the Taylor polynomial of degree 11, whose
    /// truncation error is below 2e-19 relative, as 1 + (x + x² T(x)) with T evaluated in
    /// Estrin's scheme (a short chain of dependent operations); libm's `exp` in other lanes and
    /// for NaN.
    @inline(__always)
    static func exponential(_ x: SIMD2<Double>) -> SIMD2<Double> {
        /// c0 + c1 x, lane by lane.
        @inline(__always) func line(_ c0: Double, _ c1: Double) -> SIMD2<Double> {
            SIMD2(repeating: c0) + SIMD2(repeating: c1) * x
        }
        let x2 = x * x, x4 = x2 * x2
        let a: SIMD2<Double> = line(1.0 / 2, 1.0 / 6) + x2 * line(1.0 / 24, 1.0 / 120)
        let b0: SIMD2<Double> = line(1.0 / 720, 1.0 / 5_040) + x2 * line(1.0 / 40_320, 1.0 / 362_880)
        let b: SIMD2<Double> = b0 + x4 * line(1.0 / 3_628_800, 1.0 / 39_916_800)
        let t: SIMD2<Double> = a + x4 * b
        var e = SIMD2<Double>(repeating: 1) + (x + x2 * t)
        let small = (x .< 0.125) .& (x .> -0.125)
        if !all(small) {
            for l in 0..<2 where !small[l] { e[l] = exp(x[l]) }
        }
        return e
    }
}
