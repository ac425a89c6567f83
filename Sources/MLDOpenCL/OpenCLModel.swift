/// What the kernels need of a model, in plain arrays: the invariant family with its
/// parameters, and the quadratic loss of every agent species. Built from the model file's
/// types (OpenCLModel+Model.swift); the compile-time defines of the program come from it.
public struct OpenCLModel: Sendable {
    public enum Basis: Sendable {
        /// g_n(r) = exp(-(r - mu_n)^2 / (2 sigma_n^2)); centres and widths in Å.
        case gaussian(centers: [Double], widths: [Double])
        /// g_n(r) = r^-p_n.
        case inversePower(powers: [Double])

        var count: Int {
            switch self {
            case let .gaussian(c, _): return c.count
            case let .inversePower(p): return p.count
            }
        }
    }

    public enum Invariants: Sendable {
        /// The n_B nearest atoms of every species B within `searchRadius` (Å), sorted; t(r) = r,
        /// or 1/r when `inverse`.
        case nearest(counts: [Int], inverse: Bool, searchRadius: Double)
        /// Smooth radial sums to `cutoff` (Å) with f_c(r) = 0.5 (1 + cos(pi r / r_c)).
        case radial(basis: Basis, cutoff: Double)
    }

    /// Element symbols in model order ("O", "H").
    public var speciesNames: [String]
    public var invariants: Invariants
    /// Linear coefficients w per agent species (P each), eV per invariant unit.
    public var linear: [[Double]]
    /// Quadratic coefficients W per agent species (P x P, symmetric, row-major).
    public var quadratic: [[Double]]

    public init(speciesNames: [String], invariants: Invariants, linear: [[Double]], quadratic: [[Double]]) {
        self.speciesNames = speciesNames
        self.invariants = invariants
        self.linear = linear
        self.quadratic = quadratic
    }

    /// Invariants per agent.
    public var invariantCount: Int {
        switch invariants {
        case let .nearest(counts, _, _): return counts.reduce(0, +)
        case let .radial(basis, _): return basis.count * speciesNames.count
        }
    }

    /// The neighbour-list cutoff in Å: the search radius or the radial cutoff.
    public var cutoff: Double {
        switch invariants {
        case let .nearest(_, _, r): return r
        case let .radial(_, rc): return rc
        }
    }

    /// The program's model defines (see Kernels/invariants.cl).
    var defines: [String] {
        func list(_ v: [Double]) -> String { v.map { String(format: "%.17g", $0) }.joined(separator: ",") }
        var d = ["MLD_NSPECIES=\(speciesNames.count)", "MLD_P=\(invariantCount)"]
        switch invariants {
        case let .nearest(counts, inverse, _):
            d += ["MLD_NEAREST", "MLD_NEAREST_COUNTS=" + counts.map(String.init).joined(separator: ",")]
            d += counts.enumerated().map { "MLD_NC\($0.offset)=\($0.element)" }
            if inverse { d.append("MLD_INVERSE_DISTANCE") }
        case let .radial(basis, rc):
            d += ["MLD_RADIAL", "MLD_NBASIS=\(basis.count)", "MLD_CUTOFF=" + String(format: "%.17g", rc)]
            switch basis {
            case let .gaussian(c, w):
                d += ["MLD_BASIS_GAUSSIAN", "MLD_BASIS_CENTERS=" + list(c), "MLD_BASIS_WIDTHS=" + list(w)]
            case let .inversePower(p):
                d += ["MLD_BASIS_INVERSE_POWER", "MLD_BASIS_POWERS=" + list(p)]
            }
        }
        return d
    }
}
