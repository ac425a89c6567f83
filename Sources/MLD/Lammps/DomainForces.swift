import Dispatch

/// Learned forces on the atoms one spatial domain owns, from those atoms and explicit ghost
/// copies of the atoms around them (a domain of a domain-decomposed run such as LAMMPS's).
///
/// There is no periodic box here: a periodic image is a ghost atom with its own position, so
/// the positions are used as they are. The evaluation is the CPU backend's: each agent's
/// neighbourhood (every atom within the model's range, species by species, ordered by
/// distance) goes through `LearnedModelPotential.evaluate`, the one per-agent evaluator of mld.
/// It runs in a box large enough that the minimum image never changes a displacement.
///
/// - Selfish models: agent k's force depends only on the atoms within `range` of k, so the
///   owned agents are evaluated and ghosts only need to reach `range` beyond the domain.
/// - Conservative models: F_i = -dU/dq_i sums the terms of every agent whose loss depends on
///   i, and those agents lie within `range` of i, owned or ghost. Each owned atom's force is
///   computed here from every such agent, so no force has to be sent back to the rank owning a
///   ghost (no reverse communication); the price is that ghosts must reach `2 range` beyond the
///   domain (`ghostReach`), since a ghost agent needs its own neighbourhood.
public final class DomainForces {
    public let model: LearnedModel
    public let potential: LearnedModelPotential
    /// Worker threads.
    public let threads: Int
    private let workspaces: [AgentForceEvaluator]

    public init(model: LearnedModel, threads: Int = 1) {
        self.model = model
        self.potential = LearnedModelPotential(model: model)
        self.threads = max(1, threads)
        workspaces = (0..<(self.threads == 1 ? 1 : self.threads * 4)).map { _ in model.makeAgentEvaluator() }
    }

    /// The model's range in Å: every atom within it of an agent may enter the agent's loss.
    public var range: Double { potential.interactionRange }

    /// How far beyond its domain, in Å, a domain needs ghost atoms: `range` for selfish agents,
    /// `2 range` for conservative ones (see the type's comment).
    public var ghostReach: Double { potential.isConservative ? 2 * range : range }

    /// The forces in eV/Å on the first `owned` atoms and the sum of their agents' losses in eV.
    ///
    /// - Parameters:
    ///   - positions: owned atoms first, then ghosts, in Å (every atom within `ghostReach` of
    ///     an owned atom must be among them).
    ///   - species: species index (model order) of every atom.
    ///   - owned: how many of the atoms the domain owns.
    ///   - forces: resized to `owned`; receives the forces.
    /// - Throws: `MLDError.numerical` naming the agent when it cannot be evaluated (too few
    ///   atoms of a species within the search radius).
    @discardableResult
    public func compute(positions: UnsafeBufferPointer<SIMD3<Double>>, species: UnsafeBufferPointer<Int32>,
                        owned: Int, forces: inout [SIMD3<Double>]) throws -> Double {
        let n = positions.count
        precondition(species.count == n && owned <= n)
        if forces.count != owned { forces = [SIMD3<Double>](repeating: .zero, count: owned) }
        guard owned > 0 else { return 0 }
        let S = potential.speciesCount
        for s in species where s < 0 || Int(s) >= S {
            throw MLDError.backend("species index \(s) is not in the model (\(S) species)")
        }
        let r = range
        // The frame: positions shifted by `r - lo` into [r, extent + r], in a box of edge
        // extent + 2r + 1 Å, so that every displacement within the atoms is its own minimum image.
        var lo = positions[0], hi = positions[0]
        for p in positions { lo = pointwiseMin(lo, p); hi = pointwiseMax(hi, p) }
        let extent = hi - lo
        let box = Box(extent + SIMD3(repeating: 2 * r + 1))
        let shift = SIMD3(repeating: r) - lo
        let shifted = positions.map { $0 + shift }

        let rows = DomainRows(positions: shifted, species: species, radius: r, speciesCount: S, box: box)
        let agents: [Int32]
        if potential.isConservative {
            agents = rows.agentsNear(owned: owned)
        } else {
            agents = (0..<Int32(owned)).map { $0 }
        }
        return try evaluate(agents: agents, rows: rows, positions: shifted, species: species, box: box,
                            owned: owned, forces: &forces)
    }

    private func evaluate(agents: [Int32], rows: DomainRows, positions: [SIMD3<Double>],
                          species: UnsafeBufferPointer<Int32>, box: Box, owned: Int,
                          forces: inout [SIMD3<Double>]) throws -> Double {
        let blocks = workspaces.count
        let count = agents.count
        let per = (count + blocks - 1) / blocks
        let conservative = potential.isConservative
        let potential = self.potential
        let work = workspaces
        let S = potential.speciesCount
        let radius = range
        // Per block: owned-atom forces (atom, eV/Å) in agent order, and the owned agents' losses.
        var parts = [[(Int32, SIMD3<Double>)]](repeating: [], count: blocks)
        var lossSums = [Double](repeating: 0, count: blocks)
        var failure = [Error?](repeating: nil, count: blocks)
        positions.withUnsafeBufferPointer { pos in
            agents.withUnsafeBufferPointer { ag in
                parts.withUnsafeMutableBufferPointer { partsOut in
                    lossSums.withUnsafeMutableBufferPointer { lossOut in
                        failure.withUnsafeMutableBufferPointer { fail in
                            let partsOut = partsOut, lossOut = lossOut, fail = fail
                            DispatchQueue.concurrentPerform(iterations: blocks) { b in
                                let ws = work[b]
                                let starts = UnsafeMutablePointer<Int>.allocate(capacity: S + 1)
                                defer { starts.deallocate() }
                                let scratch = DomainRows.Scratch(speciesCount: S)
                                var part: [(Int32, SIMD3<Double>)] = []
                                var loss = 0.0
                                var hood = AgentNeighbourhood(
                                    agent: 0, neighbours: UnsafeBufferPointer(start: nil, count: 0),
                                    speciesStarts: starts, positions: pos, species: species, box: box,
                                    lengths: box.lengths, halfLengths: 0.5 * box.lengths, radius: radius,
                                    buildDistances: nil, skin: 0)
                                do {
                                    for a in (b * per)..<min(count, (b + 1) * per) {
                                        let k = Int(ag[a])
                                        try rows.withRow(k, scratch: scratch) { neighbours, speciesStarts, distances in
                                            hood.agent = k
                                            hood.neighbours = neighbours
                                            for s in 0...S { starts[s] = speciesStarts[s] }
                                            hood.buildDistances = distances
                                            let result = try potential.evaluate(hood, workspace: ws)
                                            guard result.neededRadius == 0 else {
                                                throw MLDError.backend("agent \(k) asked for a neighbourhood of \(result.neededRadius) Å, beyond the model's range \(radius) Å")
                                            }
                                            if k < owned {
                                                loss += result.loss
                                                part.append((Int32(k), result.force))
                                            }
                                            if conservative {
                                                potential.forEachNeighbourForce(workspace: ws) { j, f in
                                                    if j < owned { part.append((Int32(j), f)) }
                                                }
                                            }
                                        }
                                    }
                                } catch {
                                    fail[b] = error
                                }
                                partsOut[b] = part
                                lossOut[b] = loss
                            }
                        }
                    }
                }
            }
        }
        if let e = failure.first(where: { $0 != nil }) { throw e! }
        for i in 0..<owned { forces[i] = .zero }
        for part in parts {
            for (j, f) in part { forces[Int(j)] += f }
        }
        return lossSums.reduce(0, +)
    }
}

/// Neighbour rows of a non-periodic set of atoms: for an agent, every atom closer than
/// `radius` (Å), species by species, each species ordered by distance (the order
/// `NeighbourList` gives with `orderByDistance`, with the same Float distances rounded down).
/// Atoms are binned into cells of edge at least `radius`; rows are made on demand.
struct DomainRows {
    let positions: [SIMD3<Double>]
    let species: UnsafeBufferPointer<Int32>
    let radius: Double
    let speciesCount: Int
    private let grid: SIMD3<Int>
    private let scale: SIMD3<Double>
    private let cellStart: [Int32]
    private let members: [Int32]

    init(positions: [SIMD3<Double>], species: UnsafeBufferPointer<Int32>, radius: Double, speciesCount: Int, box: Box) {
        self.positions = positions
        self.species = species
        self.radius = radius
        self.speciesCount = speciesCount
        var g = SIMD3<Int>((box.lengths / radius).rounded(.down))
        g.clamp(lowerBound: SIMD3(repeating: 1), upperBound: SIMD3(repeating: 1024))
        grid = g
        scale = SIMD3<Double>(g) / box.lengths
        let n = positions.count
        let cells = g.x * g.y * g.z
        var start = [Int32](repeating: 0, count: cells + 1)
        var cellOf = [Int32](repeating: 0, count: n)
        for i in 0..<n {
            let id = DomainRows.cell(positions[i], scale: scale, grid: g)
            cellOf[i] = Int32(id)
            start[id + 1] += 1
        }
        for c in 0..<cells { start[c + 1] += start[c] }
        var fill = Array(start.prefix(cells))
        var mem = [Int32](repeating: 0, count: n)
        for i in 0..<n {
            let c = Int(cellOf[i])
            mem[Int(fill[c])] = Int32(i)
            fill[c] += 1
        }
        cellStart = start
        members = mem
    }

    @inline(__always)
    private static func cell(_ p: SIMD3<Double>, scale: SIMD3<Double>, grid: SIMD3<Int>) -> Int {
        var c = SIMD3<Int>((p * scale).rounded(.down))
        c.clamp(lowerBound: .zero, upperBound: grid &- 1)
        return (c.z * grid.y + c.y) * grid.x + c.x
    }

    /// Calls `body` for every atom closer than `radius` to atom `k` (k excluded) with the
    /// squared distance in Å².
    @inline(__always)
    private func forEachNeighbour(of k: Int, _ body: (Int, Double) -> Void) {
        let q = positions[k]
        var c = SIMD3<Int>((q * scale).rounded(.down))
        c.clamp(lowerBound: .zero, upperBound: grid &- 1)
        let r2 = radius * radius
        for z in max(0, c.z - 1)...min(grid.z - 1, c.z + 1) {
            for y in max(0, c.y - 1)...min(grid.y - 1, c.y + 1) {
                for x in max(0, c.x - 1)...min(grid.x - 1, c.x + 1) {
                    let id = (z * grid.y + y) * grid.x + x
                    for m in Int(cellStart[id])..<Int(cellStart[id + 1]) {
                        let j = Int(members[m])
                        let d = positions[j] - q
                        let d2 = (d * d).sum()
                        if d2 < r2 && j != k { body(j, d2) }
                    }
                }
            }
        }
    }

    /// The agents whose losses can act on the first `owned` atoms: the owned atoms and every
    /// ghost within `radius` of one of them, in ascending index order.
    func agentsNear(owned: Int) -> [Int32] {
        var near = [Bool](repeating: false, count: positions.count)
        for i in 0..<owned {
            near[i] = true
            forEachNeighbour(of: i) { j, _ in near[j] = true }
        }
        return near.indices.filter { near[$0] }.map(Int32.init)
    }

    /// Working memory for `withRow`, one per thread.
    final class Scratch {
        var keyed: [[(Float, Int32)]]
        var indices: [Int32] = []
        var distances: [Float] = []
        var starts: [Int] = []
        init(speciesCount: Int) { keyed = [[(Float, Int32)]](repeating: [], count: speciesCount) }
    }

    /// Calls `body` with atom k's row: neighbour indices species by species, where each species
    /// starts (`speciesCount + 1` entries) and the Float distances (Å, rounded down) aligned with
    /// the indices.
    func withRow<T>(_ k: Int, scratch: Scratch,
                    _ body: (UnsafeBufferPointer<Int32>, [Int], UnsafePointer<Float>) throws -> T) rethrows -> T {
        for s in 0..<speciesCount { scratch.keyed[s].removeAll(keepingCapacity: true) }
        forEachNeighbour(of: k) { j, d2 in
            scratch.keyed[Int(species[j])].append((Float(d2.squareRoot()).nextDown, Int32(j)))
        }
        scratch.indices.removeAll(keepingCapacity: true)
        scratch.distances.removeAll(keepingCapacity: true)
        scratch.starts.removeAll(keepingCapacity: true)
        scratch.starts.append(0)
        for s in 0..<speciesCount {
            scratch.keyed[s].sort { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
            for (d, j) in scratch.keyed[s] { scratch.indices.append(j); scratch.distances.append(d) }
            scratch.starts.append(scratch.indices.count)
        }
        if scratch.distances.isEmpty { scratch.distances.append(0) }
        return try scratch.indices.withUnsafeBufferPointer { idx in
            try scratch.distances.withUnsafeBufferPointer { dist in
                try body(idx, scratch.starts, dist.baseAddress!)
            }
        }
    }
}
