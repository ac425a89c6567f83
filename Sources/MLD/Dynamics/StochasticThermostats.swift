import Foundation

/// Canonical-sampling velocity rescaling (Bussi, Donadio, Parrinello, J. Chem. Phys. 126, 014101
/// (2007)), global: the kinetic energy K of the N_f coupled degrees of freedom follows
/// `dK = (K̄ - K) dt/tau + 2 sqrt(K K̄ / (N_f tau)) dW` with `K̄ = N_f kT / 2`, and every velocity is
/// scaled by the same factor. Each half step (time `dt/2`) draws the new K from the exact solution
/// of that equation (the paper's appendix), with `c = exp(-dt / (2 tau))`:
///
///     K' = c K + (1 - c) K̄ (R_1² + S) / N_f + 2 R_1 sqrt(c (1 - c) K K̄ / N_f)
///
/// where `R_1` is a standard normal deviate and S the sum of `N_f - 1` squared normal deviates
/// (drawn as `2 Gamma((N_f - 1) / 2)`, Marsaglia-Tsang), and scales the velocities by
/// `alpha = ± sqrt(K' / K)` (negative only in the rare case `R_1 + sqrt(c N_f K / ((1 - c) K̄)) < 0`).
///
/// `energy` (eV) counts the heat taken out, minus the sum of `K' - K` over every half step, so
/// that for a conservative system `kinetic + potential + energy` is conserved up to the
/// integrator's error. The random generator (`SplitMix64`) is part of the state.
public struct CSVRThermostat: Sendable, Equatable {
    /// Degrees of freedom coupled (N_f).
    public var degreesOfFreedom: Double
    /// Target temperature in K and time constant in fs.
    public var temperature: Double
    public var tau: Double
    /// Heat exchanged: minus the kinetic energy the thermostat added, in eV.
    public var energy = 0.0
    /// State of the thermostat's `SplitMix64`.
    public var randomState: UInt64

    public init(degreesOfFreedom: Double, temperature: Double, tau: Double, seed: UInt64) {
        self.degreesOfFreedom = degreesOfFreedom
        self.temperature = temperature
        self.tau = tau
        randomState = SplitMix64(seed: seed).state
    }

    /// Half a step (dt in fs: the full step; the thermostat acts for dt/2) given the kinetic energy
    /// `kinetic` (eV) of the coupled velocities; returns the factor to scale them by.
    public mutating func halfStep(kinetic k: Double, dt: Double) -> Double {
        guard k > 0, degreesOfFreedom >= 1 else { return 1 }
        var g = SplitMix64(seed: 0)
        g.state = randomState
        defer { randomState = g.state }
        let nf = degreesOfFreedom
        let target = 0.5 * nf * Units.boltzmann * temperature
        let c = exp(-0.5 * dt / tau)
        let r1 = g.nextGaussian()
        let s = nf > 1 ? 2 * g.nextGamma(shape: 0.5 * (nf - 1)) : 0
        let kNew = c * k + (1 - c) * target * (r1 * r1 + s) / nf + 2 * r1 * (c * (1 - c) * k * target / nf).squareRoot()
        var alpha = (max(kNew, 0) / k).squareRoot()
        if target > 0 && c < 1 && r1 + (c * nf * k / ((1 - c) * target)).squareRoot() < 0 { alpha = -alpha }
        energy -= alpha * alpha * k - k
        return alpha
    }
}

/// The Langevin O step of BAOAB (Leimkuhler and Matthews, Appl. Math. Res. Express 2013, 34;
/// J. Chem. Phys. 138, 174102 (2013)) with friction `gamma = 1 / tau`: over a whole step dt,
///
///     v_i <- c1 v_i + c2 sqrt(kT / m_i) xi_i,   c1 = exp(-dt / tau),   c2 = sqrt(1 - c1²),
///
/// `xi_i` three standard normal deviates per atom (`SplitMix64.nextNormal3`, Box-Muller). It is
/// applied between two half drifts (B A O A B). With centre-of-mass removal the mass-weighted mean
/// velocity the step adds is subtracted again (the noise projected onto the 3N - 3 internal degrees
/// of freedom; the projection is orthogonal in mass-weighted coordinates, so the step stays exact
/// there). `energy` (eV) counts the heat taken out: minus the kinetic energy the O steps added.
public struct LangevinThermostat: Sendable, Equatable {
    /// Target temperature in K and time constant (1 / friction) in fs.
    public var temperature: Double
    public var tau: Double
    /// Heat exchanged: minus the kinetic energy the thermostat added, in eV.
    public var energy = 0.0
    /// State of the thermostat's `SplitMix64`.
    public var randomState: UInt64

    public init(temperature: Double, tau: Double, seed: UInt64) {
        self.temperature = temperature
        self.tau = tau
        randomState = SplitMix64(seed: seed).state
    }

    /// The O step over dt (fs) on velocities (Å/fs) of atoms of masses (u).
    public mutating func oStep(velocities v: inout [SIMD3<Double>], masses m: [Double], dt: Double,
                               removeCentreOfMass: Bool) {
        var g = SplitMix64(seed: 0)
        g.state = randomState
        defer { randomState = g.state }
        let c1 = exp(-dt / tau), c2 = (1 - c1 * c1).squareRoot()
        let kT = Units.boltzmann * temperature / Units.massVelocitySquared    // u Å²/fs²
        var before = 0.0, after = 0.0, p = SIMD3<Double>(), total = 0.0
        for i in 0..<v.count {
            before += m[i] * (v[i] * v[i]).sum()
            v[i] = c1 * v[i] + (c2 * (kT / m[i]).squareRoot()) * g.nextNormal3()
            p += m[i] * v[i]
            total += m[i]
        }
        if removeCentreOfMass {
            let u = p / total
            for i in 0..<v.count { v[i] -= u }
        }
        for i in 0..<v.count { after += m[i] * (v[i] * v[i]).sum() }
        energy -= 0.5 * (after - before) * Units.massVelocitySquared
    }
}

extension SplitMix64 {
    /// A standard normal deviate (Box-Muller, one of the pair).
    mutating func nextGaussian() -> Double {
        let r = (-2 * log(1 - nextUniform())).squareRoot()
        return r * cos(2 * .pi * nextUniform())
    }

    /// A Gamma(shape, 1) deviate (Marsaglia and Tsang, ACM TOMS 26, 363 (2000)); shapes below 1
    /// by `Gamma(shape + 1) U^(1/shape)`.
    mutating func nextGamma(shape a: Double) -> Double {
        precondition(a > 0)
        if a < 1 { return nextGamma(shape: a + 1) * pow(1 - nextUniform(), 1 / a) }
        let d = a - 1.0 / 3, c = 1 / (9 * d).squareRoot()
        while true {
            var x: Double, v: Double
            repeat {
                x = nextGaussian()
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = 1 - nextUniform()
            if u < 1 - 0.0331 * x * x * x * x { return d * v }
            if log(u) < 0.5 * x * x + d * (1 - v + log(v)) { return d * v }
        }
    }
}
