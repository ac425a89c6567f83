import Foundation

/// The two invariant families an agent's loss can depend on.
public enum InvariantFamily: String, Codable, Sendable, CaseIterable {
    /// For each neighbour species B, the distances to the n_B nearest atoms of B, sorted
    /// ascending, transformed by `DistanceTransform`.
    case nearest
    /// For each neighbour species B and basis function n,
    /// `phi[B,n] = sum_{j of B, r_kj < rc} g_n(r_kj) f_c(r_kj)`.
    case radial
}

/// The transform t(r) applied to the sorted distances of the `nearest` family.
public enum DistanceTransform: String, Codable, Sendable, CaseIterable {
    /// t(r) = r, in Å.
    case distance
    /// t(r) = 1/r, in 1/Å.
    case inverse
}

/// The radial basis functions g_n(r) of the `radial` family.
///
/// - `gaussian`: g_n(r) = exp(-(r - mu_n)^2 / (2 sigma^2)), centres mu_n and one width sigma in Å.
/// - `inversePower`: g_n(r) = r^(-p_n), dimensionless powers p_n (r in Å).
public struct RadialBasis: Codable, Sendable, Hashable {
    public enum Kind: String, Codable, Sendable { case gaussian, inversePower = "inverse-power" }
    public var kind: Kind
    /// Gaussian centres mu_n in Å (gaussian only).
    public var centres: [Double]?
    /// Gaussian width sigma in Å (gaussian only).
    public var width: Double?
    /// Powers p_n (inverse-power only).
    public var powers: [Double]?

    /// Number of basis functions.
    public var count: Int { kind == .gaussian ? (centres?.count ?? 0) : (powers?.count ?? 0) }

    /// `size` Gaussians with centres evenly spaced from `innerRadius` to `cutoff` (both
    /// included) and width equal to the spacing (Å).
    public static func gaussian(size: Int, cutoff: Double, innerRadius: Double = 0.7) -> RadialBasis {
        precondition(size >= 1)
        if size == 1 {
            return RadialBasis(kind: .gaussian, centres: [innerRadius], width: cutoff - innerRadius, powers: nil)
        }
        let h = (cutoff - innerRadius) / Double(size - 1)
        return RadialBasis(kind: .gaussian, centres: (0..<size).map { innerRadius + Double($0) * h },
                           width: h, powers: nil)
    }

    /// Inverse powers r^-p for p in `powers`.
    public static func inversePower(_ powers: [Double]) -> RadialBasis {
        RadialBasis(kind: .inversePower, centres: nil, width: nil, powers: powers)
    }

    /// Checks the parameters; `problem` names what is wrong.
    func validationProblem() -> String? {
        switch kind {
        case .gaussian:
            guard let c = centres, !c.isEmpty else { return "gaussian basis without centres" }
            guard let w = width, w > 0, w.isFinite else { return "gaussian basis needs a positive width" }
            if !c.allSatisfy(\.isFinite) { return "gaussian centre is not finite" }
        case .inversePower:
            guard let p = powers, !p.isEmpty else { return "inverse-power basis without powers" }
            if !p.allSatisfy({ $0 > 0 && $0.isFinite }) { return "inverse powers must be positive" }
        }
        return nil
    }
}

/// What an agent's invariant vector phi is: family, per-species layout and radii.
///
/// The layout is the same for every agent species: blocks per neighbour species B in model
/// order. `nearest`: block B holds `counts[B]` sorted transformed distances. `radial`: block B
/// holds `basis.count` values, one per basis function.
public struct InvariantSpec: Codable, Sendable, Hashable {
    public var family: InvariantFamily
    /// Element symbols of the species, in model order (the neighbour blocks follow it).
    public var species: [String]
    /// `nearest`: number of nearest atoms of each species (model order).
    public var counts: [Int]?
    /// `nearest`: the transform applied to the distances.
    public var transform: DistanceTransform?
    /// `nearest`: search radius in Å; fewer than counts[B] atoms of B within it is an error.
    public var searchRadius: Double?
    /// `radial`: cutoff radius r_c in Å.
    public var cutoff: Double?
    /// `radial`: the basis functions.
    public var basis: RadialBasis?

    public static func nearest(species: [String], counts: [Int], searchRadius: Double,
                               transform: DistanceTransform = .distance) -> InvariantSpec {
        InvariantSpec(family: .nearest, species: species, counts: counts, transform: transform,
                      searchRadius: searchRadius, cutoff: nil, basis: nil)
    }

    public static func radial(species: [String], cutoff: Double, basis: RadialBasis) -> InvariantSpec {
        InvariantSpec(family: .radial, species: species, counts: nil, transform: nil,
                      searchRadius: nil, cutoff: cutoff, basis: basis)
    }

    /// Number of invariants P per agent.
    public var count: Int {
        switch family {
        case .nearest: return (counts ?? []).reduce(0, +)
        case .radial: return species.count * (basis?.count ?? 0)
        }
    }

    /// The interaction range in Å: every atom within it of an agent may change the agent's
    /// invariants (search radius for `nearest`, cutoff for `radial`). A neighbour list that
    /// holds every atom within this distance is a valid candidate list.
    public var range: Double {
        switch family {
        case .nearest: return searchRadius ?? 0
        case .radial: return cutoff ?? 0
        }
    }

    /// Start of neighbour species B's block in phi.
    public func blockStart(_ b: Int) -> Int {
        switch family {
        case .nearest: return (counts ?? []).prefix(b).reduce(0, +)
        case .radial: return b * (basis?.count ?? 0)
        }
    }

    /// Size of neighbour species B's block in phi.
    public func blockSize(_ b: Int) -> Int {
        switch family {
        case .nearest: return counts?[b] ?? 0
        case .radial: return basis?.count ?? 0
        }
    }

    /// A short name of invariant `a`: "O1" (nearest O, rank 1), "H:g3@1.85" (radial).
    public func label(_ a: Int) -> String {
        var b = 0
        while a >= blockStart(b) + blockSize(b) { b += 1 }
        let i = a - blockStart(b)
        switch family {
        case .nearest: return "\(species[b])\(i + 1)"
        case .radial:
            guard let basis else { return "\(species[b])\(i)" }
            switch basis.kind {
            case .gaussian: return String(format: "%@ g@%.2f", species[b], basis.centres![i])
            case .inversePower: return String(format: "%@ r^-%g", species[b], basis.powers![i])
            }
        }
    }

    /// A one-line description: "nearest O:6,H:8 (distance, search radius 5.10 Å)".
    public var summary: String {
        switch family {
        case .nearest:
            let c = zip(species, counts ?? []).map { "\($0):\($1)" }.joined(separator: ",")
            return String(format: "nearest %@ (%@, search radius %.3f Å)", c,
                          (transform ?? .distance).rawValue, searchRadius ?? 0)
        case .radial:
            guard let basis else { return "radial" }
            switch basis.kind {
            case .gaussian:
                return String(format: "radial gaussian:%d (%.2f..%.2f Å, width %.3f Å), cutoff %.3f Å",
                              basis.count, basis.centres!.first!, basis.centres!.last!, basis.width!, cutoff ?? 0)
            case .inversePower:
                return "radial inverse-power:" + basis.powers!.map { String(format: "%g", $0) }.joined(separator: ",")
                    + String(format: ", cutoff %.3f Å", cutoff ?? 0)
            }
        }
    }

    /// Checks the spec is complete and consistent; returns the problem in words, or nil.
    public func validationProblem() -> String? {
        if species.isEmpty { return "no species" }
        switch family {
        case .nearest:
            guard let c = counts, c.count == species.count else {
                return "nearest invariants need one count per species (\(species.count))"
            }
            if c.contains(where: { $0 < 0 }) { return "negative neighbour count" }
            if c.reduce(0, +) == 0 { return "no invariants (all neighbour counts are 0)" }
            guard let r = searchRadius, r > 0, r.isFinite else { return "nearest invariants need a positive searchRadius" }
        case .radial:
            guard let r = cutoff, r > 0, r.isFinite else { return "radial invariants need a positive cutoff" }
            guard let basis else { return "radial invariants need a basis" }
            if let p = basis.validationProblem() { return p }
        }
        return nil
    }

    /// Checks the spec's range fits the box: at most half the shortest edge (minimum image).
    public func rangeProblem(box: Box) -> String? {
        let half = 0.5 * box.shortestEdge
        if range > half + 1e-12 {
            let what = family == .nearest ? "search radius" : "cutoff"
            return String(format: "%@ %.4g Å is larger than half the shortest box edge (%.4g Å of box %@)",
                          what, range, half, box.description)
        }
        return nil
    }
}
