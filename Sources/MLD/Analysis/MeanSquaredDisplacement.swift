/// Mean squared displacement of the atoms of one element and the self-diffusion coefficient.
///
/// Positions are unwrapped first: each frame adds the minimum-image step from the previous
/// frame (valid while no atom moves half a box between frames). With
/// `removeCentreOfMassDrift` the mass-weighted centre of all atoms is subtracted frame by frame
/// (the learned dynamics need not conserve momentum). MSD(τ) = <|r_i(t+τ) - r_i(t)|²>,
/// averaged over atoms and over all time origins t, for lags up to `maxLagFraction` of the run.
/// D = slope / 6 of a least-squares line through MSD(τ) over the fit window (Einstein relation).
public struct MeanSquaredDisplacement: Sendable {
    /// The element analysed.
    public var element: String
    /// Lag times, in fs (starting at 0).
    public var lags: [Double]
    /// MSD per lag, in Å².
    public var msd: [Double]
    /// Fit window for D, in fs (inclusive).
    public var fitWindow: ClosedRange<Double>
    /// Self-diffusion coefficient, in Å²/fs.
    public var diffusion: Double
    /// Intercept of the fitted line, in Å².
    public var fitIntercept: Double
    /// Run length, in fs.
    public var duration: Double
    /// Displacement of the centre of mass over the run, in Å (removed when asked to).
    public var centreOfMassDrift: Double

    /// - Parameters:
    ///   - maxLagFraction: longest lag as a fraction of the run (default 0.5: each lag still
    ///     averages over at least half the run's origins).
    ///   - fitWindow: lags for the fit in fs; default 20%-50% of the run (past the ballistic regime).
    public init(_ trajectory: Trajectory, element: String = "O", removeCentreOfMassDrift: Bool = true,
                maxLagFraction: Double = 0.5, fitWindow: ClosedRange<Double>? = nil) throws {
        let dt = try trajectory.uniformSpacing()
        let atoms = trajectory.atoms(of: element)
        guard !atoms.isEmpty else {
            throw MLDError.input(file: trajectory.source, line: nil, problem: "no \(element) atoms for the MSD")
        }
        let box = trajectory.box
        let masses = trajectory.masses
        let total = masses.reduce(0, +)
        let n = trajectory.frameCount
        // Unwrap every atom (the centre of mass needs all of them).
        var unwrapped = [trajectory.positions[0]]
        unwrapped.reserveCapacity(n)
        for k in 1..<n {
            let prev = trajectory.positions[k - 1], cur = trajectory.positions[k]
            let last = unwrapped[k - 1]
            unwrapped.append(cur.indices.map { last[$0] + box.displacement(from: prev[$0], to: cur[$0]) })
        }
        let com: [SIMD3<Double>] = unwrapped.map { p in
            var c = SIMD3<Double>()
            for i in p.indices { c += masses[i] * p[i] }
            return c / total
        }
        let driftVector = com[n - 1] - com[0]
        centreOfMassDrift = (driftVector * driftVector).sum().squareRoot()
        let tracks: [[SIMD3<Double>]] = (0..<n).map { k in
            atoms.map { removeCentreOfMassDrift ? unwrapped[k][$0] - (com[k] - com[0]) : unwrapped[k][$0] }
        }
        let maxLag = max(1, min(n - 1, Int((Double(n - 1) * maxLagFraction).rounded(.down))))
        var msd = [Double](repeating: 0, count: maxLag + 1)
        for lag in 1...maxLag {
            var s = 0.0
            for t in 0..<(n - lag) {
                let a = tracks[t], b = tracks[t + lag]
                for i in a.indices { let d = b[i] - a[i]; s += (d * d).sum() }
            }
            msd[lag] = s / Double((n - lag) * atoms.count)
        }
        self.element = element
        self.msd = msd
        let lags = (0...maxLag).map { Double($0) * dt }
        self.lags = lags
        let duration = trajectory.duration
        self.duration = duration
        let window = fitWindow ?? (0.2 * duration)...(Double(maxLag) * dt)
        self.fitWindow = window
        let sel = lags.indices.filter { window.contains(lags[$0]) }
        guard sel.count >= 2 else {
            throw MLDError.usage("MSD fit window \(window.lowerBound)-\(window.upperBound) fs holds fewer than two lags (spacing \(dt) fs, longest lag \(lags.last!) fs)")
        }
        let fit = Statistics.linearFit(x: sel.map { lags[$0] }, y: sel.map { msd[$0] })
        diffusion = fit.slope / 6
        fitIntercept = fit.intercept
    }

    /// The diffusion coefficient in 10⁻⁵ cm²/s (1 Å²/fs = 0.1 cm²/s), the unit usually quoted
    /// for liquids (water at 300 K: about 2.3).
    public var diffusionCm2PerS1e5: Double { diffusion * 1e4 }
}
