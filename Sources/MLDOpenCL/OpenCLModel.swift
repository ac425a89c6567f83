import Foundation
import MLD

/// What the kernels need of a model, in plain arrays: the distance block with its parameters,
/// the angular blocks that follow it (the MLD blocks themselves, see `spec`), and the quadratic
/// loss of every agent species. Built from a fitted model (OpenCLModel+LearnedModel.swift); the
/// compile-time defines of the program come from it.
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

    /// The distance block (the first block of the spec).
    public enum Invariants: Sendable {
        /// The n_B nearest atoms of every species B within `searchRadius` (Å), sorted; t(r) = r,
        /// or 1/r when `inverse`.
        case nearest(counts: [Int], inverse: Bool, searchRadius: Double)
        /// Smooth radial sums to `cutoff` (Å) with f_c(r) = 0.5 (1 + cos(pi r / r_c)).
        case radial(basis: Basis, cutoff: Double)
    }

    /// Element symbols in model order ("O", "H").
    public var speciesNames: [String]
    /// The distance block.
    public var invariants: Invariants
    /// Labelled angles after the distance block (needs `nearest`), or nil (Kernels/angular.cl).
    public var labelledAngles: LabelledAngles?
    /// Angular sums after the labelled angles (or the distance block), or nil (Kernels/angular.cl).
    public var angularSums: AngularSums?
    /// Linear coefficients w per agent species (P each), eV per invariant unit.
    public var linear: [[Double]]
    /// Quadratic coefficients W per agent species (P x P, symmetric, row-major).
    public var quadratic: [[Double]]
    /// Conservative agents (F_i = -dU/dq_i, U = sum of the losses; Kernels/conservative.cl)
    /// instead of selfish ones (F_k = -dH_k/dq_k).
    public var conservative: Bool

    public init(speciesNames: [String], invariants: Invariants, labelledAngles: LabelledAngles? = nil,
                angularSums: AngularSums? = nil, linear: [[Double]], quadratic: [[Double]], conservative: Bool = false) {
        self.speciesNames = speciesNames
        self.invariants = invariants
        self.labelledAngles = labelledAngles
        self.angularSums = angularSums
        self.linear = linear
        self.quadratic = quadratic
        self.conservative = conservative
    }

    /// The model's invariants as the MLD spec (the layout the kernels follow: distance block,
    /// labelled angles, angular sums).
    public var spec: InvariantSpec {
        var s: InvariantSpec
        switch invariants {
        case let .nearest(counts, inverse, r):
            s = .nearest(species: speciesNames, counts: counts, searchRadius: r, transform: inverse ? .inverse : .distance)
        case let .radial(basis, rc):
            switch basis {
            case let .gaussian(c, w):
                var b = RadialBasis.gaussian(size: max(c.count, 1), cutoff: rc)
                b.centres = c
                b.width = w.first
                s = .radial(species: speciesNames, cutoff: rc, basis: b)
            case let .inversePower(p):
                s = .radial(species: speciesNames, cutoff: rc, basis: .inversePower(p))
            }
        }
        if let labelledAngles { s = s.adding(.labelledAngles(labelledAngles)) }
        if let angularSums { s = s.adding(.angularSums(angularSums)) }
        return s
    }

    /// Invariants of the distance block per agent.
    public var distanceCount: Int {
        switch invariants {
        case let .nearest(counts, _, _): return counts.reduce(0, +)
        case let .radial(basis, _): return basis.count * speciesNames.count
        }
    }

    /// Labelled angles per agent.
    public var labelledCount: Int { labelledAngles?.pairs.count ?? 0 }

    /// Angular sums per agent (species pairs B <= C times functions).
    public var angularSumCount: Int {
        let s = speciesNames.count
        return s * (s + 1) / 2 * (angularSums?.functions.count ?? 0)
    }

    /// Invariants per agent P.
    public var invariantCount: Int { distanceCount + labelledCount + angularSumCount }

    /// Whether a kernel beyond the distance block runs (Kernels/angular.cl).
    public var hasAngularBlocks: Bool { labelledAngles != nil || angularSums != nil }

    /// Radius in Å within which the neighbour list must always be complete whatever the nearest
    /// selection needs: the radial and angular cutoffs (0 for a `nearest` block alone).
    public var fixedRange: Double {
        var r = angularSums?.cutoff ?? 0
        if case let .radial(_, rc) = invariants { r = max(r, rc) }
        return r
    }

    /// The neighbour-list cutoff in Å: the largest of the search radius, the radial cutoff and the
    /// angular cutoff.
    public var cutoff: Double {
        switch invariants {
        case let .nearest(_, _, r): return max(r, fixedRange)
        case .radial: return fixedRange
        }
    }

    /// Why the kernels cannot evaluate this model, in one line, or nil.
    public var unsupportedProblem: String? {
        if let p = spec.validationProblem() { return p }
        if labelledAngles != nil, case .radial = invariants { return "labelled angles need a nearest block" }
        return nil
    }

    /// Nearest slot (index in the distance block) of each labelled neighbour, two per angle.
    var labelledSlots: [Int] {
        guard let labelledAngles, case let .nearest(counts, _, _) = invariants else { return [] }
        func slot(_ l: NeighbourLabel) -> Int {
            let s = speciesNames.firstIndex(of: l.element) ?? 0
            return counts.prefix(s).reduce(0, +) + l.rank - 1
        }
        return labelledAngles.pairs.flatMap { [slot($0.0), slot($0.1)] }
    }

    /// The program's model defines (see Kernels/invariants.cl and Kernels/angular.cl).
    var defines: [String] {
        func list(_ v: [Double]) -> String { v.map { String(format: "%.17g", $0) }.joined(separator: ",") }
        var d = ["MLD_NSPECIES=\(speciesNames.count)", "MLD_P=\(invariantCount)", "MLD_PD=\(distanceCount)"]
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
        if labelledAngles != nil {
            d += ["MLD_LABELLED", "MLD_NLABELLED=\(labelledCount)", "MLD_LABELLED_OFFSET=\(distanceCount)",
                  "MLD_LABELLED_SLOTS=" + labelledSlots.map(String.init).joined(separator: ",")]
        }
        if let a = angularSums {
            let f = a.functions
            // zeta as a small integer (repeated products, as InvariantEvaluator), else 0 (pow).
            let iz = f.map { $0.zeta == $0.zeta.rounded() && $0.zeta <= 16 ? Int($0.zeta) : 0 }
            d += ["MLD_ANGULAR", "MLD_NANGULAR=\(f.count)", "MLD_ANGULAR_OFFSET=\(distanceCount + labelledCount)",
                  "MLD_ANGULAR_CUTOFF=" + String(format: "%.17g", a.cutoff),
                  "MLD_ANGULAR_ETAS=" + list(f.map(\.eta)), "MLD_ANGULAR_LAMBDAS=" + list(f.map(\.lambda)),
                  "MLD_ANGULAR_ZETAS=" + list(f.map(\.zeta)),
                  "MLD_ANGULAR_IZETAS=" + iz.map(String.init).joined(separator: ",")]
        }
        if conservative { d.append("MLD_CONSERVATIVE") }
        return d
    }
}
