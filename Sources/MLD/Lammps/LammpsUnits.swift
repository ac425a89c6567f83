/// The LAMMPS unit styles mld's forces can be given in, and the factors from mld's units.
///
/// Both styles measure length in Å and mass in g/mol (= u), so positions and masses pass
/// unchanged; they differ in energy and time:
/// - `metal`: energy eV, force eV/Å, time ps, velocity Å/ps: mld's forces and losses pass
///   unchanged.
/// - `real`: energy kcal/mol, force (kcal/mol)/Å, time fs, velocity Å/fs: forces and losses are
///   multiplied by `kcalPerMolPerEV`.
public enum LammpsUnits: String, CaseIterable, Sendable {
    case metal
    case real

    /// One eV in kcal/mol: N_A e / 4184 J/kcal = 96.485332123310018 kJ/mol / 4.184
    /// (exact from the SI constants N_A = 6.02214076e23 /mol, e = 1.602176634e-19 C).
    public static let kcalPerMolPerEV: Double = 6.02214076e23 * 1.602176634e-19 / 4184

    /// LAMMPS energy (and force per Å) per eV (and per eV/Å).
    public var energyPerEV: Double {
        switch self {
        case .metal: return 1
        case .real: return LammpsUnits.kcalPerMolPerEV
        }
    }

    /// LAMMPS velocity units per Å/fs: metal's Å/ps are 1000 per Å/fs, real's are Å/fs.
    public var velocityPerAngstromPerFs: Double {
        switch self {
        case .metal: return 1000
        case .real: return 1
        }
    }

    /// The unit style LAMMPS reports (`units` command), or nil for one mld does not convert to.
    public init?(lammps name: String) { self.init(rawValue: name) }
}
