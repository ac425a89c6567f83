import Foundation

/// The transform t(r) applied to the sorted distances of the `nearest` block.
public enum DistanceTransform: String, Codable, Sendable, CaseIterable {
    /// t(r) = r, in Å.
    case distance
    /// t(r) = 1/r, in 1/Å.
    case inverse
}

/// The radial basis functions g_n(r) of the `radial` block.
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

    /// Checks the parameters; returns what is wrong, or nil.
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
        if count > InvariantSpec.maximumCount { return "\(count) basis functions (at most \(InvariantSpec.maximumCount))" }
        return nil
    }
}

/// For each neighbour species B (model order), t(r) of the distances to the `counts[B]` nearest
/// atoms of B, ascending. Fewer than `counts[B]` atoms of B within `searchRadius` is an error.
public struct NearestDistances: Codable, Sendable, Hashable {
    /// Number of nearest atoms of each species (model order).
    public var counts: [Int]
    /// The transform applied to the distances.
    public var transform: DistanceTransform
    /// Search radius in Å.
    public var searchRadius: Double

    public init(counts: [Int], transform: DistanceTransform = .distance, searchRadius: Double) {
        self.counts = counts
        self.transform = transform
        self.searchRadius = searchRadius
    }

    /// Start of species B's distances within the block.
    public func start(_ b: Int) -> Int { counts.prefix(b).reduce(0, +) }
}

/// For each neighbour species B and basis function n,
/// `phi[B,n] = sum_{j of B, r_kj < rc} g_n(r_kj) f_c(r_kj)`, with f_c(r) = (1 + cos(pi r / rc)) / 2.
public struct RadialSums: Codable, Sendable, Hashable {
    /// Cutoff r_c in Å.
    public var cutoff: Double
    /// The basis functions g_n.
    public var basis: RadialBasis

    public init(cutoff: Double, basis: RadialBasis) { self.cutoff = cutoff; self.basis = basis }
}

/// A neighbour named by species and rank in the `nearest` block: "H2" is the agent's second
/// nearest H.
public struct NeighbourLabel: Sendable, Hashable, CustomStringConvertible {
    /// Element symbol.
    public var element: String
    /// Rank from 1 (the nearest).
    public var rank: Int

    public init(_ element: String, _ rank: Int) { self.element = element; self.rank = rank }

    /// Parses "H2": an element symbol followed by a rank >= 1.
    public init?(_ text: Substring) {
        let letters = text.prefix { $0.isLetter }
        let digits = text.dropFirst(letters.count)
        guard !letters.isEmpty, !digits.isEmpty, digits.allSatisfy(\.isNumber), let r = Int(digits), r >= 1 else { return nil }
        element = String(letters)
        rank = r
    }

    public var description: String { "\(element)\(rank)" }
}

/// Labelled angles: for each pair (a, b) of neighbours named by species and rank in the
/// `nearest` block, cos theta_a,k,b, the cosine of the angle at the agent k between them.
///
/// The neighbours are those the `nearest` block selected, in its order, so the angles follow its
/// ranking: when two neighbours of one species swap rank (their distances cross), the angle
/// changes from one neighbour to the other and the invariant jumps (the distances themselves stay
/// continuous). For water's own molecule (an O's two nearest H, an H's nearest O) this is rare at
/// room temperature; for second neighbours it is not, which is why the smooth `AngularSums`
/// exist beside these.
public struct LabelledAngles: Sendable, Hashable {
    /// The angles, each a pair of neighbour labels.
    public var pairs: [(NeighbourLabel, NeighbourLabel)]

    public init(pairs: [(NeighbourLabel, NeighbourLabel)]) { self.pairs = pairs }

    /// The water set: the H-O-H bend of an O agent (H1, H2), and for an H agent the angle
    /// between its two nearest O (O1, O2) and between its O and its nearest H (O1, H1). Every
    /// agent species gets all three (one layout for all species).
    public static let water = LabelledAngles(pairs: [(NeighbourLabel("H", 1), NeighbourLabel("H", 2)),
                                                     (NeighbourLabel("O", 1), NeighbourLabel("O", 2)),
                                                     (NeighbourLabel("O", 1), NeighbourLabel("H", 1))])

    /// Parses "H1-H2,O1-O2,O1-H1".
    public static func parse(_ text: String) -> LabelledAngles? {
        var pairs: [(NeighbourLabel, NeighbourLabel)] = []
        for part in text.split(separator: ",") {
            let ab = part.split(separator: "-")
            guard ab.count == 2, let a = NeighbourLabel(ab[0]), let b = NeighbourLabel(ab[1]) else { return nil }
            pairs.append((a, b))
        }
        return pairs.isEmpty ? nil : LabelledAngles(pairs: pairs)
    }

    /// "H1-H2,O1-O2,O1-H1".
    public var text: String { pairs.map { "\($0.0)-\($0.1)" }.joined(separator: ",") }

    public static func == (a: LabelledAngles, b: LabelledAngles) -> Bool { a.text == b.text }
    public func hash(into h: inout Hasher) { h.combine(text) }
}

/// One angular function of `AngularSums`: (1 + lambda cos theta)^zeta exp(-eta (r1^2 + r2^2)).
public struct AngularFunction: Codable, Sendable, Hashable {
    /// Radial decay eta in 1/Å².
    public var eta: Double
    /// +1 or -1.
    public var lambda: Double
    /// Angular sharpness zeta >= 1 (dimensionless).
    public var zeta: Double

    public init(eta: Double, lambda: Double, zeta: Double) { self.eta = eta; self.lambda = lambda; self.zeta = zeta }
}

/// Smooth three-body sums centred on the agent k, for each pair of neighbour species (B <= C, in
/// model order: OO, OH, HH for water) and each function:
/// `phi = sum over pairs {j, l} (j of B, l of C, j != l, each unordered pair once) of
///  (1 + lambda cos theta_jkl)^zeta exp(-eta (r_kj^2 + r_kl^2)) f_c(r_kj) f_c(r_kl)`,
/// f_c(r) = (1 + cos(pi r / rc)) / 2. Dimensionless; unchanged by permutations of neighbours, and
/// smooth (no jumps at neighbour swaps).
public struct AngularSums: Codable, Sendable, Hashable {
    /// Cutoff r_c in Å.
    public var cutoff: Double
    /// The functions, in order (the block is species pair major, function minor).
    public var functions: [AngularFunction]

    public init(cutoff: Double, functions: [AngularFunction]) { self.cutoff = cutoff; self.functions = functions }

    /// Every combination of the etas and zetas, with lambda = +1 and -1.
    public static func grid(cutoff: Double, etas: [Double], zetas: [Double]) -> AngularSums {
        var f: [AngularFunction] = []
        for eta in etas { for zeta in zetas { for lambda in [1.0, -1.0] { f.append(AngularFunction(eta: eta, lambda: lambda, zeta: zeta)) } } }
        return AngularSums(cutoff: cutoff, functions: f)
    }

    /// The most functions a block may have.
    public static let maximumFunctions = 64
}

/// One block of an agent's invariants; the blocks of an `InvariantSpec` are concatenated.
public enum InvariantBlock: Sendable, Hashable {
    case nearest(NearestDistances)
    case radial(RadialSums)
    case labelledAngles(LabelledAngles)
    case angularSums(AngularSums)

    /// The block's name in the model file and on the command line.
    public var kind: String {
        switch self {
        case .nearest: return "nearest"
        case .radial: return "radial"
        case .labelledAngles: return "labelled-angles"
        case .angularSums: return "angular-sums"
        }
    }

    /// Number of invariants for `speciesCount` species.
    public func count(speciesCount s: Int) -> Int {
        switch self {
        case let .nearest(b): return b.counts.reduce(0, +)
        case let .radial(b): return s * b.basis.count
        case let .labelledAngles(b): return b.pairs.count
        case let .angularSums(b): return s * (s + 1) / 2 * b.functions.count
        }
    }

    /// Every atom within this distance (Å) of the agent may enter the block.
    public var range: Double {
        switch self {
        case let .nearest(b): return b.searchRadius
        case let .radial(b): return b.cutoff
        case .labelledAngles: return 0
        case let .angularSums(b): return b.cutoff
        }
    }
}

extension InvariantBlock: Codable {
    private enum Keys: String, CodingKey {
        case kind, counts, transform, searchRadius, cutoff, basis, angles, functions
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let kind = try c.decode(String.self, forKey: .kind)
        switch kind {
        case "nearest":
            self = .nearest(NearestDistances(counts: try c.decode([Int].self, forKey: .counts),
                                             transform: try c.decodeIfPresent(DistanceTransform.self, forKey: .transform) ?? .distance,
                                             searchRadius: try c.decode(Double.self, forKey: .searchRadius)))
        case "radial":
            self = .radial(RadialSums(cutoff: try c.decode(Double.self, forKey: .cutoff),
                                      basis: try c.decode(RadialBasis.self, forKey: .basis)))
        case "labelled-angles":
            let texts = try c.decode([String].self, forKey: .angles)
            guard let a = LabelledAngles.parse(texts.joined(separator: ",")), a.pairs.count == texts.count else {
                throw DecodingError.dataCorruptedError(forKey: .angles, in: c, debugDescription: "angles must look like \"H1-H2\"")
            }
            self = .labelledAngles(a)
        case "angular-sums":
            self = .angularSums(AngularSums(cutoff: try c.decode(Double.self, forKey: .cutoff),
                                            functions: try c.decode([AngularFunction].self, forKey: .functions)))
        default:
            throw DecodingError.dataCorruptedError(forKey: .kind, in: c,
                debugDescription: "unknown invariant block kind '\(kind)' (known: nearest, radial, labelled-angles, angular-sums)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(kind, forKey: .kind)
        switch self {
        case let .nearest(b):
            try c.encode(b.counts, forKey: .counts)
            try c.encode(b.transform, forKey: .transform)
            try c.encode(b.searchRadius, forKey: .searchRadius)
        case let .radial(b):
            try c.encode(b.cutoff, forKey: .cutoff)
            try c.encode(b.basis, forKey: .basis)
        case let .labelledAngles(b):
            try c.encode(b.pairs.map { "\($0.0)-\($0.1)" }, forKey: .angles)
        case let .angularSums(b):
            try c.encode(b.cutoff, forKey: .cutoff)
            try c.encode(b.functions, forKey: .functions)
        }
    }
}
