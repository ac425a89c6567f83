import Dispatch

/// Learned forces on the atoms one spatial domain owns, from those atoms and explicit ghost
/// copies of the atoms around them (a domain of a domain-decomposed run such as LAMMPS's).
///
/// There is no periodic box here: a periodic image is a ghost atom with its own position, so
/// the positions are used as they are. The evaluation is the CPU backend's: each agent's
/// neighbourhood (a row of every atom within the model's range plus a skin, species by species,
/// ordered by distance) goes through `LearnedModelPotential.evaluate`, the one per-agent
/// evaluator of mld. It runs in a box large enough that the minimum image never changes a
/// displacement. Rows are kept while the atoms are the same (count and species) and none moved
/// more than half the skin, as the CPU backend's Verlet list is.
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
    /// The rows' skin in Å.
    public let skin: Double
    private let workspaces: [AgentForceEvaluator]
    private var rows: DomainRows?
    /// How many times the rows were built.
    public private(set) var builds = 0

    public init(model: LearnedModel, threads: Int = 1, skin: Double = CPUBackend.defaultSkin) {
        self.model = model
        self.potential = LearnedModelPotential(model: model)
        self.threads = max(1, threads)
        self.skin = skin
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
        if rows?.isValid(positions: positions, species: species, owned: owned) != true {
            rows = DomainRows(positions: positions, species: species, owned: owned, range: range, skin: skin,
                              speciesCount: S, conservative: potential.isConservative, threads: threads)
            builds += 1
        }
        let rows = self.rows!
        let shifted = positions.map { $0 + rows.shift }
        return try evaluate(rows: rows, positions: shifted, species: species, owned: owned, forces: &forces)
    }

    private func evaluate(rows: DomainRows, positions: [SIMD3<Double>], species: UnsafeBufferPointer<Int32>,
                          owned: Int, forces: inout [SIMD3<Double>]) throws -> Double {
        let blocks = workspaces.count
        let agents = rows.agents
        let count = agents.count
        let per = (count + blocks - 1) / blocks
        let conservative = potential.isConservative
        let potential = self.potential
        let work = workspaces
        let S = potential.speciesCount
        let radius = range, r2 = range * range, skin = rows.skin
        let box = rows.box
        // Per block: owned-atom forces (atom, eV/Å) in agent order, and the owned agents' losses.
        var parts = [[(Int32, SIMD3<Double>)]](repeating: [], count: blocks)
        var lossSums = [Double](repeating: 0, count: blocks)
        var failure = [Error?](repeating: nil, count: blocks)
        positions.withUnsafeBufferPointer { pos in
        rows.offsets.withUnsafeBufferPointer { off in
        rows.indices.withUnsafeBufferPointer { idx in
        rows.distances.withUnsafeBufferPointer { dist in
            parts.withUnsafeMutableBufferPointer { partsOut in
                lossSums.withUnsafeMutableBufferPointer { lossOut in
                    failure.withUnsafeMutableBufferPointer { fail in
                        let partsOut = partsOut, lossOut = lossOut, fail = fail
                        DispatchQueue.concurrentPerform(iterations: blocks) { b in
                            let ws = work[b]
                            let starts = UnsafeMutablePointer<Int>.allocate(capacity: S + 1)
                            defer { starts.deallocate() }
                            var part: [(Int32, SIMD3<Double>)] = []
                            var loss = 0.0
                            var hood = AgentNeighbourhood(
                                agent: 0, neighbours: UnsafeBufferPointer(start: nil, count: 0),
                                speciesStarts: starts, positions: pos, species: species, box: box,
                                lengths: box.lengths, halfLengths: 0.5 * box.lengths, radius: radius,
                                buildDistances: nil, skin: skin)
                            do {
                                for a in AtomBlocks.range(b, per: per, count: count) {
                                    let k = Int(agents[a])
                                    let first = off[a * S]
                                    let row = UnsafeBufferPointer(rebasing: idx[first..<off[(a + 1) * S]])
                                    if k >= owned {
                                        // A ghost agent counts only while some owned atom is within range.
                                        let q = pos[k]
                                        var near = false
                                        for j in row where Int(j) < owned {
                                            let d = pos[Int(j)] - q
                                            if (d * d).sum() < r2 { near = true; break }
                                        }
                                        if !near { continue }
                                    }
                                    hood.agent = k
                                    hood.neighbours = row
                                    for s in 0...S { starts[s] = off[a * S + s] - first }
                                    hood.buildDistances = dist.baseAddress.map { $0 + first }
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

/// Neighbour rows of the agents of a non-periodic set of atoms (owned first, then ghosts): for
/// each agent, every atom closer than `range + skin` (Å) when the rows were built, species by
/// species, each species ordered by distance (then index), with those distances (Float, rounded
/// down), as `NeighbourList` with `orderByDistance` stores them. Built from a cell list whose
/// atoms are copied in cell order, so the scan reads memory in sequence.
struct DomainRows {
    /// The agents: the owned atoms, and for conservative models every ghost within range + skin
    /// of an owned atom.
    let agents: [Int32]
    /// `offsets[a * S + s] ..< offsets[a * S + s + 1]`: the species-s neighbours of agent a.
    let offsets: [Int]
    let indices: [Int32]
    let distances: [Float]
    /// Added to every position (Å) to place the atoms inside `box`.
    let shift: SIMD3<Double>
    /// A box in which every displacement between the atoms (while they stay within skin/2 of
    /// where they were) is its own minimum image.
    let box: Box
    let skin: Double
    private let reference: [SIMD3<Double>]
    private let referenceSpecies: [Int32]
    private let owned: Int

    init(positions: UnsafeBufferPointer<SIMD3<Double>>, species: UnsafeBufferPointer<Int32>, owned: Int,
         range: Double, skin: Double, speciesCount S: Int, conservative: Bool, threads: Int) {
        let n = positions.count
        self.skin = skin
        self.owned = owned
        reference = Array(positions)
        referenceSpecies = Array(species)
        let rl = range + skin, rl2 = rl * rl
        var lo = positions[0], hi = positions[0]
        for p in positions { lo = pointwiseMin(lo, p); hi = pointwiseMax(hi, p) }
        let pad = rl + skin
        box = Box(hi - lo + SIMD3(repeating: 2 * pad + 1))
        let sh = SIMD3(repeating: pad) - lo
        shift = sh
        // Cells of edge >= rl / 2, scanned two deep (125 cells, 42 % fewer candidates than 27
        // cells of edge rl); atoms copied in cell order.
        var g = SIMD3<Int>((box.lengths / (0.5 * rl)).rounded(.down))
        g.clamp(lowerBound: SIMD3(repeating: 1), upperBound: SIMD3(repeating: 1024))
        let grid = g
        let scale = SIMD3<Double>(grid) / box.lengths
        let cells = grid.x * grid.y * grid.z
        var cellStart = [Int](repeating: 0, count: cells + 1)
        var cellOf = [Int32](repeating: 0, count: n)
        for i in 0..<n {
            var c = SIMD3<Int>(((positions[i] + sh) * scale).rounded(.down))
            c.clamp(lowerBound: .zero, upperBound: grid &- 1)
            let id = (c.z * grid.y + c.y) * grid.x + c.x
            cellOf[i] = Int32(id)
            cellStart[id + 1] += 1
        }
        for c in 0..<cells { cellStart[c + 1] += cellStart[c] }
        var fill = Array(cellStart.prefix(cells))
        var sortedIndex = [Int32](repeating: 0, count: n)
        var sortedPosition = [SIMD3<Double>](repeating: .zero, count: n)
        var sortedSpecies = [Int32](repeating: 0, count: n)
        for i in 0..<n {
            let c = Int(cellOf[i])
            sortedIndex[fill[c]] = Int32(i)
            sortedPosition[fill[c]] = positions[i]
            sortedSpecies[fill[c]] = species[i]
            fill[c] += 1
        }

        // Agents: owned atoms, then (conservative) ghosts within rl of an owned atom.
        var agentList = (0..<Int32(owned)).map { $0 }
        if conservative {
            var near = [Bool](repeating: false, count: n)
            for i in 0..<owned {
                let q = positions[i]
                var c = SIMD3<Int>(((q + sh) * scale).rounded(.down))
                c.clamp(lowerBound: .zero, upperBound: grid &- 1)
                for z in max(0, c.z - 2)...min(grid.z - 1, c.z + 2) {
                    for y in max(0, c.y - 2)...min(grid.y - 1, c.y + 2) {
                        let base = (z * grid.y + y) * grid.x
                        for m in cellStart[base + max(0, c.x - 2)]..<cellStart[base + min(grid.x - 1, c.x + 2) + 1] {
                            let d = sortedPosition[m] - q
                            if (d * d).sum() < rl2 { near[Int(sortedIndex[m])] = true }
                        }
                    }
                }
            }
            for j in owned..<n where near[j] { agentList.append(Int32(j)) }
        }
        agents = agentList

        // Rows, in parallel blocks of agents.
        let count = agentList.count
        let blocks = count < 512 ? 1 : max(1, threads) * 4
        let per = (count + blocks - 1) / blocks
        var blockIndices = [[Int32]](repeating: [], count: blocks)
        var blockDistances = [[Float]](repeating: [], count: blocks)
        var counts = [Int](repeating: 0, count: count * S)
        sortedPosition.withUnsafeBufferPointer { sp in
        sortedSpecies.withUnsafeBufferPointer { ss in
        sortedIndex.withUnsafeBufferPointer { si in
        cellStart.withUnsafeBufferPointer { cs in
        agentList.withUnsafeBufferPointer { ag in
        blockIndices.withUnsafeMutableBufferPointer { bi in
        blockDistances.withUnsafeMutableBufferPointer { bd in
        counts.withUnsafeMutableBufferPointer { cnt in
            let bi = bi, bd = bd, cnt = cnt
            DispatchQueue.concurrentPerform(iterations: blocks) { b in
                var rowIndices: [Int32] = [], rowDistances: [Float] = []
                var keyed = [[UInt64]](repeating: [], count: S)
                for a in AtomBlocks.range(b, per: per, count: count) {
                    let k = Int(ag[a])
                    let q = positions[k]
                    for s in 0..<S { keyed[s].removeAll(keepingCapacity: true) }
                    var c = SIMD3<Int>(((q + sh) * scale).rounded(.down))
                    c.clamp(lowerBound: .zero, upperBound: grid &- 1)
                    for z in max(0, c.z - 2)...min(grid.z - 1, c.z + 2) {
                        for y in max(0, c.y - 2)...min(grid.y - 1, c.y + 2) {
                            let base = (z * grid.y + y) * grid.x
                            for m in cs[base + max(0, c.x - 2)]..<cs[base + min(grid.x - 1, c.x + 2) + 1] {
                                let d = sp[m] - q
                                let d2 = (d * d).sum()
                                if d2 < rl2 && Int(si[m]) != k {
                                    // Distance bits (a positive Float orders as its bits) above the index.
                                    let r = Float(d2.squareRoot()).nextDown
                                    keyed[Int(ss[m])].append(UInt64(r.bitPattern) << 32 | UInt64(UInt32(bitPattern: si[m])))
                                }
                            }
                        }
                    }
                    for s in 0..<S {
                        keyed[s].sort()
                        for key in keyed[s] {
                            rowIndices.append(Int32(truncatingIfNeeded: key & 0xFFFF_FFFF))
                            rowDistances.append(Float(bitPattern: UInt32(key >> 32)))
                        }
                        cnt[a * S + s] = keyed[s].count
                    }
                }
                bi[b] = rowIndices
                bd[b] = rowDistances
            }
        }
        }
        }
        }
        }
        }
        }
        }
        var off = [Int](repeating: 0, count: count * S + 1)
        for r in 0..<(count * S) { off[r + 1] = off[r] + counts[r] }
        offsets = off
        indices = blockIndices.flatMap { $0 }
        var dist = blockDistances.flatMap { $0 }
        if dist.isEmpty { dist.append(0) }
        distances = dist
    }

    /// Whether the rows still hold for these atoms: the same count, owned count and species, and
    /// no atom farther than skin/2 from where it was at the build.
    func isValid(positions: UnsafeBufferPointer<SIMD3<Double>>, species: UnsafeBufferPointer<Int32>, owned: Int) -> Bool {
        guard positions.count == reference.count, owned == self.owned else { return false }
        let limit = 0.25 * skin * skin
        for i in 0..<positions.count {
            let d = positions[i] - reference[i]
            if !((d * d).sum() <= limit) || species[i] != referenceSpecies[i] { return false }
        }
        return true
    }
}
