import Foundation

/// The distance family of a spec's first block: what `mld fit --invariants` chooses.
public enum InvariantFamily: String, Codable, Sendable, CaseIterable {
    /// Sorted distances to the nearest atoms of each species (`NearestDistances`).
    case nearest
    /// Smooth radial sums over a basis (`RadialSums`).
    case radial
}

/// What an agent's invariant vector phi is: the species and the blocks, concatenated in order.
///
/// The first block is the distance block (`nearest` or `radial`); angular blocks
/// (`labelledAngles`, which needs a `nearest` block, and `angularSums`) may follow. The layout is
/// the same for every agent species. The one place that knows the count, labels, JSON form and
/// validity of an invariant; `InvariantEvaluator` is the one place that evaluates it.
///
/// Model file form (version 2):
/// ```
/// "invariants": {"species": ["O", "H"], "blocks": [
///     {"kind": "nearest", "counts": [6, 8], "transform": "distance", "searchRadius": 5.4},
///     {"kind": "labelled-angles", "angles": ["H1-H2", "O1-O2", "O1-H1"]},
///     {"kind": "angular-sums", "cutoff": 4, "functions": [{"eta": 0.2, "lambda": 1, "zeta": 1}, ...]}]}
/// ```
/// Version 1 files (`{"family": "nearest", "counts": ..., ...}`) are read as one block.
public struct InvariantSpec: Sendable, Hashable {
    /// Element symbols of the species, in model order (the neighbour blocks follow it).
    public var species: [String]
    /// The blocks, concatenated in order.
    public var blocks: [InvariantBlock]

    /// The most invariants an agent may have (the full quadratic form has P(P+3)/2 parameters).
    public static let maximumCount = 256

    public init(species: [String], blocks: [InvariantBlock]) {
        self.species = species
        self.blocks = blocks
    }

    public static func nearest(species: [String], counts: [Int], searchRadius: Double,
                               transform: DistanceTransform = .distance) -> InvariantSpec {
        InvariantSpec(species: species, blocks: [.nearest(NearestDistances(counts: counts, transform: transform, searchRadius: searchRadius))])
    }

    public static func radial(species: [String], cutoff: Double, basis: RadialBasis) -> InvariantSpec {
        InvariantSpec(species: species, blocks: [.radial(RadialSums(cutoff: cutoff, basis: basis))])
    }

    /// This spec with `block` appended.
    public func adding(_ block: InvariantBlock) -> InvariantSpec {
        InvariantSpec(species: species, blocks: blocks + [block])
    }

    // MARK: Blocks

    /// The family of the distance block.
    public var family: InvariantFamily {
        if case .radial = blocks.first { return .radial }
        return .nearest
    }

    /// The `nearest` block, if any.
    public var nearest: NearestDistances? {
        for b in blocks { if case let .nearest(x) = b { return x } }
        return nil
    }

    /// The `radial` block, if any.
    public var radial: RadialSums? {
        for b in blocks { if case let .radial(x) = b { return x } }
        return nil
    }

    /// The `labelledAngles` block, if any.
    public var labelledAngles: LabelledAngles? {
        for b in blocks { if case let .labelledAngles(x) = b { return x } }
        return nil
    }

    /// The `angularSums` block, if any.
    public var angularSums: AngularSums? {
        for b in blocks { if case let .angularSums(x) = b { return x } }
        return nil
    }

    /// Whether some block holds angles.
    public var hasAngles: Bool { labelledAngles != nil || angularSums != nil }

    /// Sets the search radius of the `nearest` block (Å).
    public mutating func setSearchRadius(_ r: Double) {
        for i in blocks.indices { if case var .nearest(x) = blocks[i] { x.searchRadius = r; blocks[i] = .nearest(x) } }
    }

    /// Where block i starts in phi.
    public func offset(ofBlock i: Int) -> Int {
        blocks.prefix(i).reduce(0) { $0 + $1.count(speciesCount: species.count) }
    }

    /// Number of invariants P per agent.
    public var count: Int { offset(ofBlock: blocks.count) }

    /// The interaction range in Å: every atom within it of an agent may change the agent's
    /// invariants. A neighbour list that holds every atom within this distance is a valid
    /// candidate list.
    public var range: Double { blocks.map(\.range).max() ?? 0 }

    /// The radius within which every atom must be listed, whatever the nearest selection needs
    /// (radial and angular cutoffs), in Å; 0 for a `nearest` block alone.
    public var fixedRange: Double {
        blocks.map { if case .nearest = $0 { return 0 } else { return $0.range } }.max() ?? 0
    }

    // MARK: Names

    /// A short name of invariant `a`: "O1" (nearest O, rank 1), "H g@1.85" (radial),
    /// "cos H1-H2" (labelled angle), "ang O-H η0.2 λ+1 ζ4" (angular sum).
    public func label(_ a: Int) -> String {
        let s = species.count
        var start = 0
        for block in blocks {
            let n = block.count(speciesCount: s)
            defer { start += n }
            guard a < start + n else { continue }
            let i = a - start
            switch block {
            case let .nearest(b):
                var sp = 0
                while i >= b.start(sp + 1) { sp += 1 }
                return "\(species[sp])\(i - b.start(sp) + 1)"
            case let .radial(b):
                let nb = b.basis.count, sp = i / nb, n = i % nb
                switch b.basis.kind {
                case .gaussian: return String(format: "%@ g@%.2f", species[sp], b.basis.centres![n])
                case .inversePower: return String(format: "%@ r^-%g", species[sp], b.basis.powers![n])
                }
            case let .labelledAngles(b):
                return "cos \(b.pairs[i].0)-\(b.pairs[i].1)"
            case let .angularSums(b):
                let nf = b.functions.count, (pb, pc) = Self.speciesPair(i / nf, speciesCount: s)
                let f = b.functions[i % nf]
                return String(format: "ang %@-%@ η%g λ%+g ζ%g", species[pb], species[pc], f.eta, f.lambda, f.zeta)
            }
        }
        return "#\(a)"
    }

    /// The (B, C) species of pair index p of `AngularSums` (B <= C, row by row: 00, 01, 11 for two).
    public static func speciesPair(_ p: Int, speciesCount s: Int) -> (Int, Int) {
        var i = 0
        for b in 0..<s { for c in b..<s { if i == p { return (b, c) }; i += 1 } }
        return (0, 0)
    }

    /// Groups of invariants for the sensitivity table: every neighbour species of the distance
    /// block, then each of its invariants, then each labelled angle, then every species pair of the
    /// angular sums; each with a name ("all O", "O3", "cos H1-H2", "ang O-H").
    public var groups: [(name: String, members: [Int])] {
        var out: [(String, [Int])] = []
        let s = species.count
        var start = 0
        for block in blocks {
            let n = block.count(speciesCount: s)
            switch block {
            case let .nearest(b):
                for sp in 0..<s where b.counts[sp] > 0 {
                    let m = Array((start + b.start(sp))..<(start + b.start(sp) + b.counts[sp]))
                    out.append(("all " + species[sp], m))
                    if m.count > 1 { for a in m { out.append((label(a), [a])) } }
                }
            case let .radial(b):
                let nb = b.basis.count
                for sp in 0..<s {
                    let m = Array((start + sp * nb)..<(start + (sp + 1) * nb))
                    out.append(("all " + species[sp], m))
                    if m.count > 1 { for a in m { out.append((label(a), [a])) } }
                }
            case .labelledAngles:
                if n > 1 { out.append(("all labelled", Array(start..<(start + n)))) }
                for a in start..<(start + n) { out.append((label(a), [a])) }
            case let .angularSums(b):
                let nf = b.functions.count
                out.append(("all angular", Array(start..<(start + n))))
                for p in 0..<(s * (s + 1) / 2) {
                    let (pb, pc) = Self.speciesPair(p, speciesCount: s)
                    out.append(("ang \(species[pb])-\(species[pc])", Array((start + p * nf)..<(start + (p + 1) * nf))))
                }
            }
            start += n
        }
        return out
    }

    /// A one-line description: "nearest O:6,H:8 (distance, search radius 5.100 Å) + labelled
    /// angles H1-H2,O1-O2,O1-H1".
    public var summary: String {
        blocks.map { block -> String in
            switch block {
            case let .nearest(b):
                let c = zip(species, b.counts).map { "\($0):\($1)" }.joined(separator: ",")
                return String(format: "nearest %@ (%@, search radius %.3f Å)", c, b.transform.rawValue, b.searchRadius)
            case let .radial(b):
                switch b.basis.kind {
                case .gaussian:
                    guard let c = b.basis.centres, let first = c.first, let last = c.last else { return "radial" }
                    return String(format: "radial gaussian:%d (%.2f..%.2f Å, width %.3f Å), cutoff %.3f Å",
                                  b.basis.count, first, last, b.basis.width ?? 0, b.cutoff)
                case .inversePower:
                    return "radial inverse-power:" + (b.basis.powers ?? []).map { String(format: "%g", $0) }.joined(separator: ",")
                        + String(format: ", cutoff %.3f Å", b.cutoff)
                }
            case let .labelledAngles(b):
                return "labelled angles \(b.text)"
            case let .angularSums(b):
                let etas = Array(Set(b.functions.map(\.eta))).sorted().map { String(format: "%g", $0) }.joined(separator: ",")
                let zetas = Array(Set(b.functions.map(\.zeta))).sorted().map { String(format: "%g", $0) }.joined(separator: ",")
                return String(format: "%d angular sums (eta %@ /Å², zeta %@, cutoff %.2f Å)",
                              block.count(speciesCount: species.count), etas, zetas, b.cutoff)
            }
        }.joined(separator: " + ")
    }

    // MARK: Checks

    /// Checks the spec is complete and consistent; returns the problem in words (naming the
    /// field), or nil.
    public func validationProblem() -> String? {
        if species.isEmpty { return "no species" }
        if Set(species).count != species.count { return "a species is listed twice" }
        guard let first = blocks.first else { return "no invariant blocks" }
        switch first {
        case .nearest, .radial: break
        default: return "the first block must be nearest or radial (found \(first.kind))"
        }
        let s = species.count
        for (i, block) in blocks.enumerated() {
            let field = "blocks[\(i)] (\(block.kind))"
            switch block {
            case let .nearest(b):
                if i != 0 { return "\(field): only the first block may be nearest" }
                if b.counts.count != s { return "\(field).counts: one count per species needed (\(s))" }
                if b.counts.contains(where: { $0 < 0 }) { return "\(field).counts: negative neighbour count" }
                if let big = b.counts.first(where: { $0 > Self.maximumCount }) {
                    return "\(field).counts: \(big) neighbours (at most \(Self.maximumCount) invariants per agent)"
                }
                if b.counts.reduce(0, +) == 0 { return "\(field).counts: no invariants (all neighbour counts are 0)" }
                if !(b.searchRadius > 0 && b.searchRadius.isFinite) { return "\(field).searchRadius must be positive" }
            case let .radial(b):
                if i != 0 { return "\(field): only the first block may be radial" }
                if !(b.cutoff > 0 && b.cutoff.isFinite) { return "\(field).cutoff must be positive" }
                if let p = b.basis.validationProblem() { return "\(field).basis: \(p)" }
            case let .labelledAngles(b):
                guard let near = nearest else { return "\(field): labelled angles need a nearest block" }
                if b.pairs.isEmpty { return "\(field).angles: no angles" }
                for (x, y) in b.pairs {
                    for l in [x, y] {
                        guard let sp = species.firstIndex(of: l.element) else { return "\(field).angles: \(l) names no species of the model" }
                        if l.rank > near.counts[sp] { return "\(field).angles: \(l) needs at least \(l.rank) nearest \(l.element) (the nearest block has \(near.counts[sp]))" }
                    }
                    if x == y { return "\(field).angles: \(x)-\(y) is the same neighbour twice" }
                }
            case let .angularSums(b):
                if !(b.cutoff > 0 && b.cutoff.isFinite) { return "\(field).cutoff must be positive" }
                if b.functions.isEmpty { return "\(field).functions: none" }
                if b.functions.count > AngularSums.maximumFunctions { return "\(field).functions: \(b.functions.count) (at most \(AngularSums.maximumFunctions))" }
                for f in b.functions {
                    if !(f.eta >= 0 && f.eta.isFinite) { return "\(field).functions: eta must be >= 0" }
                    if !(f.zeta >= 1 && f.zeta.isFinite && f.zeta <= 64) { return "\(field).functions: zeta must be in [1, 64]" }
                    if f.lambda != 1 && f.lambda != -1 { return "\(field).functions: lambda must be 1 or -1" }
                }
            }
        }
        if count > Self.maximumCount { return "\(count) invariants per agent (at most \(Self.maximumCount))" }
        return nil
    }

    /// Checks the spec's range fits the box: at most half the shortest edge (minimum image).
    public func rangeProblem(box: Box) -> String? {
        let half = 0.5 * box.shortestEdge
        for block in blocks where block.range > half + 1e-12 {
            let what: String
            switch block {
            case .nearest: what = "search radius"
            case .radial: what = "cutoff"
            default: what = "angular cutoff"
            }
            return String(format: "%@ %.4g Å is larger than half the shortest box edge (%.4g Å of box %@)",
                          what, block.range, half, box.description)
        }
        return nil
    }
}

extension InvariantSpec: Codable {
    private enum Keys: String, CodingKey {
        case species, blocks
        // version 1: one block, its fields at the top level
        case family, counts, transform, searchRadius, cutoff, basis
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        species = try c.decode([String].self, forKey: .species)
        if c.contains(.blocks) {
            blocks = try c.decode([InvariantBlock].self, forKey: .blocks)
            return
        }
        let family = try c.decode(InvariantFamily.self, forKey: .family)
        switch family {
        case .nearest:
            blocks = [.nearest(NearestDistances(counts: try c.decode([Int].self, forKey: .counts),
                                                transform: try c.decodeIfPresent(DistanceTransform.self, forKey: .transform) ?? .distance,
                                                searchRadius: try c.decode(Double.self, forKey: .searchRadius)))]
        case .radial:
            blocks = [.radial(RadialSums(cutoff: try c.decode(Double.self, forKey: .cutoff),
                                         basis: try c.decode(RadialBasis.self, forKey: .basis)))]
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(species, forKey: .species)
        try c.encode(blocks, forKey: .blocks)
    }
}
