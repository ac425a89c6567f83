/// A fitted `LearnedModel` as the CPU backend's per-agent evaluation: each thread owns one of the
/// model's `AgentForceEvaluator`s and calls it with the agent's neighbour-list row as candidates.
/// The list holds every atom within the model's range (search radius or cutoff), as the
/// evaluator requires. Works for both invariant families.
public struct LearnedModelPotential: AgentPotential {
    public let model: LearnedModel

    public init(model: LearnedModel) { self.model = model }

    public var speciesCount: Int { model.species.count }
    public var interactionRange: Double { model.invariants.range }
    public var isAdaptive: Bool { false }
    public var wantsDistanceOrder: Bool { false }
    public func initialRadius(counts: [Int], box: Box) -> Double { interactionRange }
    public func makeWorkspace() -> AgentForceEvaluator { model.makeAgentEvaluator() }

    @inline(__always)
    public func evaluate(_ n: AgentNeighbourhood, workspace ev: AgentForceEvaluator) throws -> AgentResult {
        let r = try ev.force(agent: n.agent, positions: n.positions, species: n.species, box: n.box,
                             candidates: n.neighbours)
        return AgentResult(loss: r.loss, force: r.force)
    }
}

extension NearestQuadraticPotential {
    /// The fast `nearest` evaluation of a fitted model (adaptive neighbour-list radius); nil for
    /// other invariant families.
    public init?(model: LearnedModel) {
        let spec = model.invariants
        guard spec.family == .nearest, let counts = spec.counts, let radius = spec.searchRadius else { return nil }
        self.init(counts: counts, inverse: spec.transform == .inverse, searchRadius: radius,
                  w: model.losses.map(\.w), W: model.losses.map(\.W), symbols: model.species.map(\.symbol))
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
