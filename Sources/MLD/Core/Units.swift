/// The units mld works in, and the constants that convert to them.
///
/// Internal units, used everywhere unless a name says otherwise:
/// - length: Å
/// - time: fs
/// - mass: u (unified atomic mass unit, Da)
/// - energy and loss: eV
/// - force (loss gradient): eV/Å
/// - velocity: Å/fs
/// - temperature: K
///
/// Conversion constants are CODATA 2018.
public enum Units {
    /// One Hartree in eV (CODATA 2018: 27.211386245988 eV).
    public static let hartree: Double = 27.211386245988
    /// One Bohr radius in Å (CODATA 2018: 0.529177210903 Å).
    public static let bohr: Double = 0.529177210903
    /// One atomic unit of time (ħ/E_h) in fs (CODATA 2018: 0.024188843265857 fs).
    public static let atomicTime: Double = 0.024188843265857
    /// One Hartree per Bohr in eV/Å (about 51.42208619 eV/Å).
    public static let hartreePerBohr: Double = hartree / bohr
    /// One Bohr per atomic unit of time in Å/fs (about 21.8769126 Å/fs).
    public static let bohrPerAtomicTime: Double = bohr / atomicTime
    /// Boltzmann constant in eV/K (CODATA 2018, exact: 8.617333262e-5 eV/K).
    public static let boltzmann: Double = 8.617333262e-5
    /// One u·Å²/fs² in eV: m v² with m in u and v in Å/fs gives energy in these units
    /// (1.66053906660e-27 kg · 1e10 m²/s² / 1.602176634e-19 J/eV ≈ 103.6427 eV).
    public static let massVelocitySquared: Double = 1.66053906660e-27 * 1e10 / 1.602176634e-19
    /// Acceleration in Å/fs² of force 1 eV/Å on mass 1 u: the inverse of `massVelocitySquared`.
    public static let forceOverMass: Double = 1.0 / massVelocitySquared
    /// Speed of light in cm/fs, to turn frequencies in 1/fs into wavenumbers in cm⁻¹
    /// (299792458 m/s = 2.99792458e-5 cm/fs).
    public static let speedOfLight: Double = 2.99792458e-5
    /// Avogadro constant in 1/mol (exact).
    public static let avogadro: Double = 6.02214076e23
}
