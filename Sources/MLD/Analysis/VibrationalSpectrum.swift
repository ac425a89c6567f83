import Foundation

/// Mass-weighted velocity autocorrelation function and its cosine transform, the vibrational
/// density of states (VDOS).
///
/// C(τ) = Σ_i m_i <v_i(t)·v_i(t+τ)>_t / Σ_i m_i <v_i(t)·v_i(t)>_t, averaged over all time
/// origins, for lags up to `maxLagFraction` of the run. The spectrum is
/// S(ν̃) = Δt [C(0) + 2 Σ_{k≥1} w_k C(k Δt) cos(2π c ν̃ k Δt)], ν̃ in cm⁻¹, with a Hann window
/// w_k = cos²(π k / 2K) over the K lags (it smooths the truncation ripples, at the price of a
/// resolution of roughly 2/(K Δt)). Frequencies above the Nyquist limit 1/(2 c Δt) cannot be
/// seen: with frames far apart the O-H stretch is aliased, and the peak is not reported.
public struct VibrationalSpectrum: Sendable {
    /// Lag times, in fs.
    public var lags: [Double]
    /// Normalised VACF, C(0) = 1.
    public var vacf: [Double]
    /// Wavenumbers, in cm⁻¹.
    public var wavenumbers: [Double]
    /// Spectrum, in fs (integral over frequency in 1/fs ≈ 1/2), normalised to unit maximum below.
    public var intensity: [Double]
    /// Nyquist wavenumber of the frame spacing, in cm⁻¹.
    public var nyquist: Double
    /// Frame spacing, in fs.
    public var spacing: Double

    /// - Parameters:
    ///   - element: restrict to atoms of this element (nil: all atoms).
    ///   - maxLagFraction: longest lag as a fraction of the run (default 0.5).
    ///   - maxWavenumber: highest wavenumber of the grid, in cm⁻¹ (capped at Nyquist).
    ///   - step: grid spacing, in cm⁻¹.
    public init(_ trajectory: Trajectory, element: String? = nil, maxLagFraction: Double = 0.5,
                maxWavenumber: Double = 4500, step: Double = 2) throws {
        let dt = try trajectory.uniformSpacing()
        let v = try trajectory.requireVelocities()
        let atoms = element.map { trajectory.atoms(of: $0) } ?? Array(0..<trajectory.atomCount)
        guard !atoms.isEmpty else {
            throw MLDError.input(file: trajectory.source, line: nil, problem: "no \(element ?? "") atoms for the VACF")
        }
        let masses = trajectory.masses
        let n = trajectory.frameCount
        let maxLag = max(1, min(n - 1, Int((Double(n - 1) * maxLagFraction).rounded(.down))))
        var c = [Double](repeating: 0, count: maxLag + 1)
        for lag in 0...maxLag {
            var s = 0.0
            for t in 0..<(n - lag) {
                let a = v[t], b = v[t + lag]
                for i in atoms { s += masses[i] * (a[i] * b[i]).sum() }
            }
            c[lag] = s / Double(n - lag)
        }
        let c0 = c[0] > 0 ? c[0] : 1
        let vacf = c.map { $0 / c0 }
        self.vacf = vacf
        lags = (0...maxLag).map { Double($0) * dt }
        spacing = dt
        nyquist = 1 / (2 * dt * Units.speedOfLight)
        let top = min(maxWavenumber, nyquist)
        let count = Int((top / step).rounded(.down)) + 1
        let wavenumbers = (0..<count).map { Double($0) * step }
        self.wavenumbers = wavenumbers
        let K = Double(maxLag)
        let weighted = vacf.indices.map { k -> Double in
            let w = cos(Double.pi * Double(k) / (2 * K))
            return vacf[k] * w * w
        }
        var spectrum = wavenumbers.map { nu -> Double in
            let omega = 2 * Double.pi * Units.speedOfLight * nu * dt // radians per lag
            var s = weighted[0]
            for k in 1..<weighted.count { s += 2 * weighted[k] * cos(omega * Double(k)) }
            return s * dt
        }
        let peak = spectrum.max() ?? 1
        if peak > 0 { spectrum = spectrum.map { $0 / peak } }
        intensity = spectrum
    }

    /// The wavenumber (cm⁻¹) of the highest point of the spectrum inside `range`, or nil when
    /// the range is not wholly below the Nyquist limit.
    public func peak(in range: ClosedRange<Double>) -> Double? {
        guard range.upperBound <= nyquist else { return nil }
        let sel = wavenumbers.indices.filter { range.contains(wavenumbers[$0]) }
        guard let k = sel.max(by: { intensity[$0] < intensity[$1] }) else { return nil }
        return wavenumbers[k]
    }

    /// Range searched for the O-H stretch peak, in cm⁻¹.
    public static let stretchRange: ClosedRange<Double> = 2800...4000
    /// Range searched for the H-O-H bend peak, in cm⁻¹.
    public static let bendRange: ClosedRange<Double> = 1300...1900
}
