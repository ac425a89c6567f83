import Dispatch
import Foundation

/// The reference backend: pure Swift, double precision, parallel over blocks of agents.
///
/// Each call wraps the positions into the box, rebuilds the Verlet neighbour list when some atom
/// moved more than half the skin (or an adaptive potential asked for a longer list; a potential
/// that certifies its neighbourhoods keeps the list for as long as every agent can decide from
/// it, see `certifies`), and runs the
/// potential's per-agent evaluation over the agents in blocks with
/// `DispatchQueue.concurrentPerform`, one workspace per block. Every agent's result depends only
/// on the positions and its neighbour set (rows are sorted), never on the blocking, so results
/// are identical for any thread count and any rebuild history.
///
/// Where the potential allows it (`AgentPotential.allowsRenumbering`: the selfish learned
/// models), the backend numbers the atoms its own way: in the order of the cells of a grid over
/// the box (`renumber`), redone at every list build, so that an agent's neighbours lie near it in
/// memory whatever order the caller's atoms come in. Positions are read and forces and losses
/// written in the caller's order; the agents see every atom's number in that order
/// (`AgentNeighbourhood.identities`) and sum over neighbours in it, so the forces are the same
/// bits with or without the renumbering.
public final class CPUBackend: ForceBackend {
    public let name = "cpu"
    public var deviceName: String {
        "\(threads) thread\(threads == 1 ? "" : "s") (Swift, \(precision == .double ? "double precision" : "mixed precision: angular terms in single"))"
    }
    /// The arithmetic of the force evaluation (`CPUPrecision`; a learned model's potential
    /// carries it, any other potential is double).
    public var precision: CPUPrecision { (potential as? LearnedModelPotential)?.precision ?? .double }
    public var neighbourListBuilds: Int { list.builds }
    /// Wall seconds spent rebuilding the neighbour list so far.
    public var rebuildSeconds: Double? { rebuildTotal }
    private var rebuildTotal = 0.0

    /// The per-agent evaluation.
    public let potential: any AgentPotential
    /// The periodic box.
    public let box: Box
    /// Species index of every atom (model order).
    public let species: [Int32]
    /// Worker threads.
    public let threads: Int
    /// The neighbour list (read access for tests and diagnostics), in the backend's numbering.
    public private(set) var list: NeighbourList
    /// Whether the backend numbers the atoms its own way (see the type's comment).
    public let renumbers: Bool
    /// Atom k in the backend's numbering is atom `order[k]` in the caller's (the identity without
    /// renumbering): cell order of the positions at the last list build.
    public private(set) var order: [Int32]
    /// Species of every atom in the backend's numbering.
    private var agentSpecies: [Int32]
    /// Whether `order` is not the identity, and its inverse: atom i in the caller's numbering is
    /// atom `inverse[i]` in the backend's.
    private var permuted = false
    private var inverse: [Int32] = []
    /// Where `order` permutes: the forces (eV/Å) and losses (eV) in the backend's numbering, as
    /// the agents write them, before the gather into the caller's.
    private var agentForces: [SIMD3<Double>] = []
    private var agentLosses: [Double] = []
    /// Where `order` permutes: the positions (Å) as given, in the backend's numbering (the list's
    /// reference at a build).
    private var ordered: [SIMD3<Double>] = []

    private var wrapped: [SIMD3<Double>] = []
    /// How far (Å) every atom moved since the list was built, and the largest, when the list was
    /// not rebuilt in this call (the nearest search skips on them; at the next call's start,
    /// `movedValid` says they are against the current list, so the growth can be taken).
    private var moved: [Double] = []
    private var movedValid = false
    private var largestMoved = 0.0
    /// Whether the list is kept by the agents' margins (`AgentPotential.certifiesNeighbourhood`)
    /// rather than rebuilt when some atom moved half the skin.
    public let certifies: Bool
    /// The least `AgentResult.listMargin` (Å) of the last evaluation.
    private var listMargin = -Double.infinity
    /// The radius (Å) passed to the agents as `AgentNeighbourhood.radius` in this call.
    private var certainRadius = 0.0
    /// List builds forced by an agent whose neighbourhood the kept list could no longer certify
    /// (its evaluation was then repeated on the new list); the margin rule is meant to make
    /// them rare.
    public private(set) var lateRebuilds = 0
    /// With `certifies`: the list is rebuilt before an evaluation once the least margin of the
    /// last one is within this many estimated steps (the largest growth of a displacement since
    /// the last call) plus 0.01 Å. Each step can take at most 4 largest steps from a margin; the
    /// default leaves room for steps half again as large as estimated. 0 keeps the list until an
    /// agent cannot decide (then the evaluation is repeated on a new list).
    public var marginReserve = 6.0
    /// At the last evaluation that computed losses, for a potential with a training range: whether
    /// each agent's invariants lay outside it, and the positions (Å) it was for.
    public private(set) var outsideTrainingRange: (positions: [SIMD3<Double>], flags: [Bool])?
    private var pendingOutside: [Bool] = []
    /// Conservative potentials: per block, the forces (atom, eV/Å) of its agents' losses in agent
    /// order (each agent's own force first), added up after the parallel pass in block order so
    /// the sum does not depend on the thread count.
    private var contributions: [Contributions] = []
    final class Contributions {
        var atoms: [Int32] = []
        var forces: [SIMD3<Double>] = []
    }
    private let blocks: Int
    private var workspaces: [Any]

    /// - Parameters:
    ///   - potential: the per-agent loss.
    ///   - species: species index of every atom (model order).
    ///   - box: the periodic box; the potential's range must not exceed half its shortest edge.
    ///   - skin: neighbour-list padding in Å.
    ///   - threads: worker threads (default: every core).
    ///   - renumber: number the atoms in cell order where the potential allows it (the forces are
    ///     the same bits either way; off, the backend works in the caller's order).
    public init(potential: any AgentPotential, species: [Int], box: Box, skin: Double = CPUBackend.defaultSkin,
                threads: Int = AvailableCores.count, renumber: Bool = true) throws {
        guard potential.interactionRange <= box.shortestEdge / 2 + 1e-12 else {
            throw MLDError.backend("the model's range \(potential.interactionRange) Å exceeds half the shortest box edge (\(box.shortestEdge / 2) Å)")
        }
        if let bad = species.first(where: { $0 < 0 || $0 >= potential.speciesCount }) {
            throw MLDError.backend("species index \(bad) is not in the model (\(potential.speciesCount) species)")
        }
        self.potential = potential
        self.box = box
        self.species = species.map(Int32.init)
        agentSpecies = self.species
        order = (0..<species.count).map { Int32($0) }
        renumbers = renumber && potential.allowsRenumbering
        self.threads = max(1, threads)
        var counts = [Int](repeating: 0, count: potential.speciesCount)
        for s in species { counts[s] += 1 }
        let radius = potential.isAdaptive ? potential.initialRadius(counts: counts, box: box)
                                          : potential.interactionRange
        certifies = potential.certifiesNeighbourhood && potential.wantsDistanceOrder
        list = NeighbourList(radius: radius, skin: skin, speciesCount: potential.speciesCount, threads: self.threads,
                             orderByDistance: potential.wantsDistanceOrder)
        let n = species.count
        // Blocks of about `agentsPerBlock` agents (at least four and at most 64 per thread): a
        // thread takes a block at a time, so small blocks even the threads out when another
        // process holds a core for a while.
        let b = self.threads == 1 ? 1
            : (n < 1024 ? self.threads : min(max(self.threads * 4, n / Self.agentsPerBlock), self.threads * 64))
        blocks = b
        workspaces = CPUBackend.makeWorkspaces(potential, count: b)
    }

    private static func makeWorkspaces<P: AgentPotential>(_ p: P, count: Int) -> [Any] {
        (0..<count).map { _ in p.makeWorkspace() as Any }
    }

    /// Agents per block of the force pass in a large box.
    public static let agentsPerBlock = 1024

    /// The default neighbour-list skin in Å.
    public static let defaultSkin = 1.4

    /// A backend for a fitted model: the model's own per-agent evaluator (`LearnedModelPotential`).
    ///
    /// - Parameter precision: the arithmetic of the angular sums' per-neighbour terms (`CPUPrecision`).
    public convenience init(model: LearnedModel, species: [Int], box: Box, skin: Double = CPUBackend.defaultSkin,
                            threads: Int = AvailableCores.count, renumber: Bool = true,
                            precision: CPUPrecision = .double) throws {
        var lp = LearnedModelPotential(model: model)
        lp.precision = precision
        let p: any AgentPotential = lp
        try self.init(potential: p, species: species, box: box, skin: skin, threads: threads, renumber: renumber)
    }

    public func computeForces(positions: [SIMD3<Double>], forces: inout [SIMD3<Double>],
                              losses: inout [Double]?) throws {
        let n = positions.count
        guard n == species.count else {
            throw MLDError.backend("\(n) positions for a backend built for \(species.count) atoms")
        }
        if forces.count != n { forces = [SIMD3<Double>](repeating: .zero, count: n) }
        if losses != nil && losses!.count != n { losses = [Double](repeating: 0, count: n) }
        if wrapped.count != n { wrapped = [SIMD3<Double>](repeating: .zero, count: n) }
        if moved.count != n { moved = [Double](repeating: 0, count: n) }
        let check = wrapAndCheck(positions)
        let largest = check.largest.squareRoot()
        var rebuild = check.rebuild
        if certifies && check.listed {
            // Every agent's margin shrinks by at most 4 x the largest step since the last call
            // (its own displacement, the largest one, and its n-th nearest distance twice); the
            // step is estimated from the displacements' growth (`marginReserve`), and a miss only
            // costs a repeated evaluation (below). Kept at most until some atom moved the skin.
            rebuild = !(listMargin - marginReserve * check.growth - 0.01 > 0) || !(largest <= list.skin)
        }
        if rebuild && renumbers {
            renumber(positions)
            // the wrapped positions in the new numbering (its displacements, measured against
            // the last build's numbering, mean nothing: the list is rebuilt)
            _ = wrapAndCheck(positions)
        }
        // A neighbour listed at d0 is now at least d0 - 2 x (the largest displacement since the
        // build) away, which is at most the skin where the list is rebuilt at half the skin: the
        // nearest search may stop that much earlier.
        let twice = 2 * largest * (1 + 1e-12) + 1e-12
        reach = rebuild ? 0 : (certifies ? twice : min(list.skin, twice))
        // Every atom now within the radius less what the two moved beyond the skin is listed.
        certainRadius = rebuild ? list.radius : max(0, min(list.radius, list.radius + list.skin - reach))
        movedValid = !rebuild
        largestMoved = largest
        var built = rebuild
        if rebuild {
            let t0 = DispatchTime.now().uptimeNanoseconds
            list.build(permuted ? ordered : positions, box: box, species: agentSpecies, rankKeys: permuted ? order : nil)
            rebuildTotal += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        }

        while true {
            let needed: Double
            if let p = potential as? LearnedModelPotential {
                needed = try evaluate(p, forces: &forces, losses: &losses)   // specialised
            } else {
                needed = try evaluate(potential, forces: &forces, losses: &losses)
            }
            if needed == 0 {
                if !pendingOutside.isEmpty { outsideTrainingRange = (positions, pendingOutside) }
                return
            }
            reach = 0
            movedValid = false
            if built {
                // The list was too short to find every nearest neighbour: grow it and start over.
                let r = min(potential.interactionRange, max(needed * 1.05, list.radius * 1.1))
                list.setRadius(r)
            } else {
                // The kept list no longer certifies some agent: build it anew and start over.
                lateRebuilds += 1
            }
            certainRadius = list.radius
            built = true
            let t0 = DispatchTime.now().uptimeNanoseconds
            list.build(permuted ? ordered : positions, box: box, species: agentSpecies, rankKeys: permuted ? order : nil)
            rebuildTotal += Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        }
    }

    /// Numbers the atoms by the cells of a grid over the box (edge about half the list's reach)
    /// their wrapped positions lie in, the cells in Morton order (x, y, z bits interleaved, so
    /// that cells near in space are near in the order at every scale) and the atoms of a cell
    /// by caller's index, with their species; a counting sort, O(N). The new numbering is kept
    /// only where the caller's order is not already local (`isLocal`): else the backend works
    /// in the caller's order, which spares it reading positions and writing forces out of order.
    private func renumber(_ positions: [SIMD3<Double>]) {
        let n = positions.count
        let L = box.lengths
        let edge = 0.5 * (list.radius + list.skin)
        let grid = SIMD3<Int>(max(1, Int((L.x / edge).rounded(.down))), max(1, Int((L.y / edge).rounded(.down))),
                              max(1, Int((L.z / edge).rounded(.down))))
        if grid != mortonGrid {
            mortonGrid = grid
            mortonRank = Self.mortonRanks(grid)
        }
        let cells = grid.x * grid.y * grid.z
        let scale = SIMD3<Double>(grid) / L
        var cellOf = [Int32](repeating: 0, count: n)
        var starts = [Int](repeating: 0, count: cells + 1)
        for i in 0..<n {
            let c = NeighbourList.cell(of: box.wrap(positions[i]), grid: grid, scale: scale)
            let rank = mortonRank[(c.z * grid.y + c.y) * grid.x + c.x]
            cellOf[i] = rank
            starts[Int(rank) + 1] += 1
        }
        for c in 0..<cells { starts[c + 1] += starts[c] }
        var cellOrder = [Int32](repeating: 0, count: n)
        for i in 0..<n {
            let c = Int(cellOf[i])
            cellOrder[starts[c]] = Int32(i)
            starts[c] += 1
        }
        if Self.isLocal(positions, box: box, comparedWith: Self.meanStep(positions, order: cellOrder, box: box)) {
            for k in 0..<n { order[k] = Int32(k) }
            permuted = false
        } else {
            order = cellOrder
            permuted = true
            if ordered.count != n { ordered = [SIMD3<Double>](repeating: .zero, count: n) }
            if inverse.count != n { inverse = [Int32](repeating: 0, count: n) }
            for k in 0..<n { inverse[Int(order[k])] = Int32(k) }
        }
        for k in 0..<n { agentSpecies[k] = species[Int(order[k])] }
    }

    /// Atom i of the caller's `forces` (and `losses`, `outside`, where they are not empty) is
    /// atom `inverse[i]` of `agentForces` (`agentLosses`, and `outside` as the agents wrote it):
    /// one pass over fixed blocks of atoms on all cores, writing in the caller's order.
    private func gatherIntoCallersOrder(forces: inout [SIMD3<Double>], losses: inout [Double], outside: inout [Bool]) {
        let n = forces.count
        let blocks = AtomBlocks(atoms: n, threads: threads)
        let flags = outside
        let wantLoss = losses.count == n, wantRange = flags.count == n
        inverse.withUnsafeBufferPointer { inv in
            agentForces.withUnsafeBufferPointer { af in
                agentLosses.withUnsafeBufferPointer { al in
                    flags.withUnsafeBufferPointer { fl in
                        forces.withUnsafeMutableBufferPointer { f in
                            losses.withUnsafeMutableBufferPointer { l in
                                outside.withUnsafeMutableBufferPointer { o in
                                    let f = f, l = l, o = o
                                    blocks.forEach { b in
                                        for i in blocks.range(b) {
                                            let k = Int(inv[i])
                                            f[i] = af[k]
                                            if wantLoss { l[i] = al[k] }
                                            if wantRange { o[i] = fl[k] }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The grid of `mortonRank`, and every cell's place (cell index x + X (y + Y z)) in Morton
    /// order.
    private var mortonGrid = SIMD3<Int>(0, 0, 0)
    private var mortonRank: [Int32] = []

    /// The Morton order of the cells of a grid: every cell's place when the cells are sorted by
    /// their coordinates' bits interleaved (x lowest).
    static func mortonRanks(_ grid: SIMD3<Int>) -> [Int32] {
        @inline(__always) func spread(_ v: Int) -> UInt64 {
            var out: UInt64 = 0
            for b in 0..<21 where (v >> b) & 1 == 1 { out |= 1 << (3 * b) }
            return out
        }
        let cells = grid.x * grid.y * grid.z
        var keys = [(UInt64, Int32)]()
        keys.reserveCapacity(cells)
        for z in 0..<grid.z {
            for y in 0..<grid.y {
                for x in 0..<grid.x {
                    keys.append((spread(x) | spread(y) << 1 | spread(z) << 2, Int32((z * grid.y + y) * grid.x + x)))
                }
            }
        }
        keys.sort { $0.0 < $1.0 }
        var rank = [Int32](repeating: 0, count: cells)
        for (place, key) in keys.enumerated() { rank[Int(key.1)] = Int32(place) }
        return rank
    }

    /// Mean minimum-image distance (Å) between atoms one apart in `order` (nil: as they come).
    static func meanStep(_ positions: [SIMD3<Double>], order: [Int32]?, box: Box) -> Double {
        let n = positions.count
        if n < 2 { return 0 }
        var sum = 0.0
        for k in 1..<n {
            let a = order.map { Int($0[k - 1]) } ?? k - 1, b = order.map { Int($0[k]) } ?? k
            let d = minimumImage(positions[b] - positions[a], lengths: box.lengths)
            sum += (d * d).sum().squareRoot()
        }
        return sum / Double(n - 1)
    }

    /// Whether atoms one apart in the caller's order are on average no more than twice as far
    /// apart as in the cell order (whose mean step is `cellStep`, Å): then the caller's order is
    /// local already (molecule by molecule, or the tiled boxes of `mld box`) and is kept; a
    /// shuffled one is not.
    static func isLocal(_ positions: [SIMD3<Double>], box: Box, comparedWith cellStep: Double) -> Bool {
        meanStep(positions, order: nil, box: box) <= 2 * cellStep
    }

    /// How much nearer (Å) than its build-time distance a listed neighbour can be now: twice the
    /// largest displacement since the last build (at most the skin).
    private var reach = 0.0

    /// Wraps `positions` into `wrapped` and answers whether the list needs a rebuild (as
    /// `NeighbourList.needsRebuild`), whether there is a list for these atoms at all, the largest
    /// squared displacement since the last build (Å²), and the largest growth of an atom's
    /// displacement since the last call (Å; a lower bound on the largest step, taken as its
    /// estimate), in one pass over fixed blocks of atoms on all cores.
    private func wrapAndCheck(_ positions: [SIMD3<Double>]) -> (rebuild: Bool, listed: Bool, largest: Double,
                                                                growth: Double) {
        let n = positions.count
        let blocks = AtomBlocks(atoms: n, threads: threads)
        let box = self.box
        let reference = list.reference
        let check = reference.count == n && n > 0
        let permuted = self.permuted
        // the last call's displacements are against this list (see `movedValid`)
        let since = movedValid
        let worst = UnsafeMutableBufferPointer<Double>.allocate(capacity: 2 * blocks.count)
        defer { worst.deallocate() }
        positions.withUnsafeBufferPointer { p in
            reference.withUnsafeBufferPointer { ref in
                wrapped.withUnsafeMutableBufferPointer { w in
                    moved.withUnsafeMutableBufferPointer { m in
                    ordered.withUnsafeMutableBufferPointer { o in
                    order.withUnsafeBufferPointer { ord in
                        let o = o
                        blocks.forEach { b in
                            var most = 0.0, grown = 0.0
                            for i in blocks.range(b) {
                                let q: SIMD3<Double>
                                if permuted {
                                    q = p[Int(ord[i])]
                                    o[i] = q
                                } else {
                                    q = p[i]
                                }
                                w[i] = box.wrap(q)
                                if check {
                                    let d = q - ref[i]
                                    let d2 = (d * d).sum()
                                    let r = d2.squareRoot()
                                    grown = max(grown, since ? r - m[i] : r)
                                    m[i] = r
                                    most = max(most, d2)
                                }
                            }
                            worst[b] = most
                            worst[blocks.count + b] = grown
                        }
                    }
                    }
                    }
                }
            }
        }
        guard check else { return (true, false, 0, 0) }
        let limit = 0.25 * list.skin * list.skin
        var most = 0.0, grown = 0.0
        for b in 0..<blocks.count { most = max(most, worst[b]); grown = max(grown, worst[blocks.count + b]) }
        return (!(most <= limit), true, most, grown)
    }

    /// Runs every agent; returns 0, or the largest neighbour-list radius an agent asked for.
    private func evaluate<P: AgentPotential>(_ potential: P, forces: inout [SIMD3<Double>],
                                             losses: inout [Double]?) throws -> Double {
        let n = species.count
        let blocks = self.blocks
        let per = (n + blocks - 1) / blocks
        var needed = [Double](repeating: 0, count: blocks)
        var failure = [Error?](repeating: nil, count: blocks)
        let wantLoss = losses != nil
        var lossBuffer = losses ?? []
        // In a permuted numbering the agents write in theirs (consecutive stores), and one pass
        // gathers the results into the caller's below.
        let permuted = self.permuted
        if permuted {
            if agentForces.count != n { agentForces = [SIMD3<Double>](repeating: .zero, count: n) }
            swap(&forces, &agentForces)
            if wantLoss {
                if agentLosses.count != n { agentLosses = [Double](repeating: 0, count: n) }
                swap(&lossBuffer, &agentLosses)
            }
        }
        let wantRange = wantLoss && potential.hasTrainingRange
        var outside = [Bool](repeating: false, count: wantRange ? n : 0)
        let L = box.lengths
        let box = self.box
        let radius = certainRadius, skin = reach
        let buildRadius = certifies ? list.radius + list.skin : 0
        let margins = UnsafeMutableBufferPointer<Double>.allocate(capacity: blocks)
        margins.initialize(repeating: .infinity)
        defer { margins.deallocate() }
        let S = list.speciesCount
        let work = workspaces.map { $0 as! P.Workspace }
        let conservative = potential.isConservative
        if conservative && contributions.count != blocks { contributions = (0..<blocks).map { _ in Contributions() } }
        let parts = contributions
        let useMoved = movedValid && list.orderByDistance, largest = largestMoved
        moved.withUnsafeBufferPointer { movedBuf in
        let movedBy = useMoved ? movedBuf.baseAddress : nil
        list.buildDistances.withUnsafeBufferPointer { distBuf in
        let dist = distBuf.count > 0 ? distBuf.baseAddress : nil
        list.identityRanks.withUnsafeBufferPointer { rankBuf in
        let ranks = rankBuf.count > 0 ? rankBuf.baseAddress : nil
        wrapped.withUnsafeBufferPointer { pos in
            agentSpecies.withUnsafeBufferPointer { spc in
            order.withUnsafeBufferPointer { ordBuf in
                // (in the caller's order, where the numbering kept it, every atom is its own)
                let identities = permuted ? ordBuf.baseAddress : nil
                list.offsets.withUnsafeBufferPointer { off in
                    list.indices.withUnsafeBufferPointer { idx in
                        forces.withUnsafeMutableBufferPointer { frc in
                            lossBuffer.withUnsafeMutableBufferPointer { lss in
                              outside.withUnsafeMutableBufferPointer { out in
                                needed.withUnsafeMutableBufferPointer { need in
                                    failure.withUnsafeMutableBufferPointer { fail in
                                        let frc = frc, lss = lss, need = need, fail = fail, out = out
                                        WorkerPool.shared.perform(iterations: blocks) { b in
                                            let ws = work[b]
                                            let starts = UnsafeMutablePointer<Int>.allocate(capacity: S + 1)
                                            defer { starts.deallocate() }
                                            var hood = AgentNeighbourhood(
                                                agent: 0, neighbours: UnsafeBufferPointer(start: nil, count: 0),
                                                speciesStarts: starts,
                                                positions: pos, species: spc, box: box,
                                                lengths: L, halfLengths: 0.5 * L, radius: radius,
                                                buildRadius: buildRadius, buildDistances: nil, skin: skin,
                                                displacements: movedBy, largestDisplacement: largest,
                                                identities: identities)
                                            var most = 0.0, least = Double.infinity
                                            let part = conservative ? parts[b] : nil
                                            part?.atoms.removeAll(keepingCapacity: true)
                                            part?.forces.removeAll(keepingCapacity: true)
                                            do {
                                                for k in AtomBlocks.range(b, per: per, count: n) {
                                                    hood.agent = k
                                                    let row = off.baseAddress! + k &* S
                                                    let first = row[0]
                                                    for s in 0...S { starts[s] = row[s] &- first }
                                                    hood.neighbours = UnsafeBufferPointer(
                                                        start: idx.baseAddress.map { $0 + first }, count: row[S] &- first)
                                                    if let dist { hood.buildDistances = dist + first }
                                                    if let ranks { hood.identityRanks = ranks + first }
                                                    let r = try potential.evaluate(hood, workspace: ws)
                                                    frc[k] = r.force
                                                    if wantLoss { lss[k] = r.loss }
                                                    if wantRange && r.neededRadius == 0 {
                                                        out[k] = potential.isOutsideTrainingRange(workspace: ws, species: Int(spc[k]))
                                                    }
                                                    most = max(most, r.neededRadius)
                                                    least = min(least, r.listMargin)
                                                    if let part, r.neededRadius == 0 {
                                                        part.atoms.append(Int32(k)); part.forces.append(r.force)
                                                        potential.forEachNeighbourForce(workspace: ws) { j, f in
                                                            part.atoms.append(Int32(j)); part.forces.append(f)
                                                        }
                                                    }
                                                }
                                            } catch {
                                                fail[b] = error
                                            }
                                            need[b] = most
                                            margins[b] = least
                                        }
                                    }
                                }
                              }
                            }
                        }
                    }
                }
            }
        }
        }
        }
        }
        }
        if permuted {
            swap(&forces, &agentForces)
            if wantLoss { swap(&lossBuffer, &agentLosses) }
            gatherIntoCallersOrder(forces: &forces, losses: &lossBuffer, outside: &outside)
        }
        if let e = failure.first(where: { $0 != nil }) { throw e! }
        if wantLoss { losses = lossBuffer }
        pendingOutside = wantRange ? outside : []
        listMargin = margins.min() ?? .infinity
        let most = needed.max() ?? 0
        if conservative && most == 0 {
            for i in 0..<n { forces[i] = .zero }
            for part in parts {
                for (j, f) in zip(part.atoms, part.forces) { forces[Int(j)] += f }
            }
        }
        return most
    }
}
