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
    public func makeWorkspace() -> AgentForceEvaluator { model.makeAgentEvaluator() }

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
}

extension LearnedModel {
    /// Fraction of the agents of `c` whose invariants lie outside the training range, found with
    /// a neighbour list (O(N)).
    public func outOfRangeFraction(_ c: Configuration) throws -> Double {
        let sp = try speciesIndices(elements: c.elements, species: c.species)
        var list = NeighbourList(radius: invariants.range, skin: 0)
        list.build(c.positions, box: c.box)
        let ev = makeAgentEvaluator()
        var outside = 0
        try c.positions.withUnsafeBufferPointer { pos in
            try sp.withUnsafeBufferPointer { spp in
                try list.indices.withUnsafeBufferPointer { idx in
                    for k in 0..<c.count {
                        let row = UnsafeBufferPointer(rebasing: idx[list.offsets[k]..<list.offsets[k + 1]])
                        _ = try ev.force(agent: k, positions: pos, species: spp, box: c.box, candidates: row)
                        if ev.lastOutOfRange(species: Int(spp[k])) { outside += 1 }
                    }
                }
            }
        }
        return Double(outside) / Double(max(c.count, 1))
    }
}
