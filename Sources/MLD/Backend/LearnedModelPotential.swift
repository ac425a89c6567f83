import Foundation

/// A fitted `LearnedModel` as the CPU backend's per-agent evaluation: each thread owns one of the
/// model's `AgentForceEvaluator`s (the one `InvariantEvaluator` plus the loss) and calls it with
/// the agent's neighbour-list row.
///
/// With a `nearest` block the list is adaptive: it starts at a radius that holds on average
/// `radiusMargin` times the needed count of every species (and at least every radial or angular
/// cutoff), rows are ordered by build-time distance so the nearest search stops early, and it
/// grows when some agent needs more (`AgentResult.neededRadius`). Without one, the list holds
/// every atom within the model's range.
public struct LearnedModelPotential: AgentPotential {
    public let model: LearnedModel

    public init(model: LearnedModel) { self.model = model }

    /// The first list radius holds on average this many times the needed count (plus one).
    public var radiusMargin = 1.2

    public var speciesCount: Int { model.species.count }
    public var interactionRange: Double { model.invariants.range }
    public var isAdaptive: Bool { model.invariants.nearest != nil }
    public var wantsDistanceOrder: Bool { isAdaptive }
    /// Evaluate a distance-only model through the general invariant evaluator instead of its
    /// fused path (`AgentForceEvaluator.usesGeneralPath`); for tests that compare the two.
    public var usesGeneralEvaluator = false
    /// The arithmetic of the angular sums' per-neighbour terms (see `CPUPrecision`).
    public var precision = CPUPrecision.double

    public func makeWorkspace() -> AgentForceEvaluator {
        let ev = model.makeAgentEvaluator()
        ev.usesGeneralPath = usesGeneralEvaluator
        ev.invariants.singlePrecisionLanes = precision == .mixed
        return ev
    }

    /// The radius in Å holding on average `radiusMargin` times the needed count of every species,
    /// and at least every radial or angular cutoff.
    public func initialRadius(counts n: [Int], box: Box) -> Double {
        let spec = model.invariants
        guard let near = spec.nearest else { return interactionRange }
        var r = spec.fixedRange
        for (s, c) in near.counts.enumerated() where c > 0 {
            let density = Double(max(n[s], 1)) / box.volume
            r = max(r, pow(3 * radiusMargin * Double(c + 1) / (4 * Double.pi * density), 1.0 / 3))
        }
        return min(interactionRange, r)
    }

    @inline(__always)
    public func evaluate(_ n: AgentNeighbourhood, workspace ev: AgentForceEvaluator) throws -> AgentResult {
        try ev.force(n)
    }

    public var isConservative: Bool { model.agents == .conservative }

    /// Selfish agents on a distance-ordered list: the nearest selection orders by distance, and
    /// every sum over neighbours runs in ascending identity (`InvariantEvaluator.evaluate`), so
    /// a renumbering changes no bit. Conservative agents add their neighbours' forces in agent
    /// order, and a list ordered by index would order the sums by the backend's numbering.
    public var allowsRenumbering: Bool { !isConservative && wantsDistanceOrder }

    /// With a `nearest` block (a distance-ordered list) every agent certifies its row from the
    /// list's build radius and the displacements (`InvariantEvaluator.certifiedRadius`).
    public var certifiesNeighbourhood: Bool { wantsDistanceOrder }

    public var hasTrainingRange: Bool { true }

    @inline(__always)
    public func isOutsideTrainingRange(workspace ev: AgentForceEvaluator, species s: Int) -> Bool {
        ev.lastOutOfRange(species: s)
    }

    @inline(__always)
    public func forEachNeighbourForce(workspace ev: AgentForceEvaluator, _ body: (Int, SIMD3<Double>) -> Void) {
        for i in 0..<ev.neighbourCount {
            let (j, f) = ev.neighbourForce(i)
            body(Int(j), f)
        }
    }
}

/// One agent outside the training range: which invariant, its value and the range seen in
/// training.
public struct Extrapolation: Sendable, Equatable {
    /// Fraction of the agents with some invariant outside the training range.
    public var fraction: Double
    /// The agent of lowest index outside the range, with its first invariant outside.
    public var atom: Int?
    public var species: String?
    public var invariant: String?
    public var value: Double?
    public var range: ClosedRange<Double>?

    /// "atom 17 (O): invariant cos H1-H2 = -0.612 outside the training range [-0.498, -0.102]".
    public var offender: String? {
        guard let atom, let species, let invariant, let value, let range else { return nil }
        return String(format: "atom %d (%@): invariant %@ = %.4g outside the training range [%.4g, %.4g]",
                      atom, species, invariant, value, range.lowerBound, range.upperBound)
    }
}

extension LearnedModel {
    /// Which agents of `c` have invariants outside the training range, found with a neighbour
    /// list (O(N)) and the model's evaluator.
    public func extrapolation(_ c: Configuration) throws -> Extrapolation {
        try extrapolation(c, flags: nil)
    }

    /// Whether each agent of `c` has some invariant outside the training range.
    public func outsideTrainingRange(_ c: Configuration) throws -> [Bool] {
        var flags = [Bool](repeating: false, count: c.count)
        _ = try extrapolation(c, flags: &flags)
        return flags
    }

    private func extrapolation(_ c: Configuration, flags: UnsafeMutablePointer<[Bool]>?) throws -> Extrapolation {
        let sp = try speciesIndices(elements: c.elements, species: c.species)
        var list = NeighbourList(radius: invariants.range, skin: 0)
        list.build(c.positions, box: c.box)
        let ev = makeAgentEvaluator()
        var out = Extrapolation(fraction: 0)
        var outside = 0
        try c.positions.withUnsafeBufferPointer { pos in
            try sp.withUnsafeBufferPointer { spp in
                try list.indices.withUnsafeBufferPointer { idx in
                    for k in 0..<c.count {
                        let row = UnsafeBufferPointer(rebasing: idx[list.offsets[k]..<list.offsets[k + 1]])
                        _ = try ev.force(agent: k, positions: pos, species: spp, box: c.box, candidates: row)
                        let s = Int(spp[k])
                        guard ev.lastOutOfRange(species: s) else { continue }
                        outside += 1
                        flags?.pointee[k] = true
                        if out.atom == nil {
                            let r = ranges[s]
                            for a in 0..<invariantCount {
                                let x = ev.invariants.phi[a]
                                if x < r.min[a] || x > r.max[a] {
                                    out.atom = k; out.species = species[s].symbol; out.invariant = invariants.label(a)
                                    out.value = x; out.range = r.min[a]...r.max[a]
                                    break
                                }
                            }
                        }
                    }
                }
            }
        }
        out.fraction = Double(outside) / Double(max(c.count, 1))
        return out
    }

    /// The same as `extrapolation(_:)` from flags already known (`outside[k]`: agent k of `c` has
    /// some invariant outside the training range): the fraction is counted, and only the first
    /// flagged agent is evaluated, to name its invariant.
    public func extrapolation(_ c: Configuration, outside: [Bool]) throws -> Extrapolation {
        guard outside.count == c.count else { return try extrapolation(c) }
        var out = Extrapolation(fraction: Double(outside.lazy.filter { $0 }.count) / Double(max(c.count, 1)))
        guard let k = outside.firstIndex(of: true) else { return out }
        let sp = try speciesIndices(elements: c.elements, species: c.species)
        let ev = makeAgentEvaluator()
        let all = (0..<Int32(c.count)).map { $0 }
        try c.positions.withUnsafeBufferPointer { pos in
            try sp.withUnsafeBufferPointer { spp in
                try all.withUnsafeBufferPointer { row in
                    _ = try ev.force(agent: k, positions: pos, species: spp, box: c.box, candidates: row)
                }
            }
        }
        let s = Int(sp[k]), r = ranges[s]
        for a in 0..<invariantCount {
            let x = ev.invariants.phi[a]
            if x < r.min[a] || x > r.max[a] {
                out.atom = k; out.species = species[s].symbol; out.invariant = invariants.label(a)
                out.value = x; out.range = r.min[a]...r.max[a]
                break
            }
        }
        return out
    }

    /// Fraction of the agents of `c` whose invariants lie outside the training range.
    public func outOfRangeFraction(_ c: Configuration) throws -> Double { try extrapolation(c).fraction }
}
