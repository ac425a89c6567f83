import Dispatch

/// A Verlet neighbour list built from a cell list: for every atom `i`, the atoms `j != i` whose
/// minimum-image distance was below `radius + skin` when the list was built.
///
/// Storage is compressed sparse rows split by species: the neighbours of atom `i` of species `s`
/// are `indices[offsets[i * S + s] ..< offsets[i * S + s + 1]]` (S = `speciesCount`), in
/// ascending index order, and the whole row of `i` is `offsets[i * S] ..< offsets[(i + 1) * S]`.
/// Rows therefore have a fixed order whatever the cell layout or rebuild history, so sums over
/// them are reproducible. The list is full, not half: both `i -> j` and `j -> i` are stored,
/// because learned forces are per agent and do not pair up (no third law).
///
/// Validity: while no atom has moved more than `skin / 2` since the build, every pair now closer
/// than `radius` is in the list (each of the two atoms moved less than `skin / 2`). `needsRebuild`
/// checks exactly that. More generally, every atom now within `radius + skin - m_i - m_j` of atom
/// i is listed, m being how far each moved since the build: the CPU backend keeps a list past
/// half the skin where its agents check that (`CPUBackend.certifies`).
///
/// Building is O(N): atoms are wrapped into the box (so atoms outside the primary box are fine)
/// and binned into cells of edge at least `(radius + skin) / 2`; each atom scans the 125 cells
/// around its own (cells of edge `radius + skin` and 27 of them where fewer than 5 fit), less
/// those wholly beyond `radius + skin`, reading the atoms in cell order with each cell's periodic
/// shift (`CellScan`). A box with fewer than 3 cells along some edge falls back to all pairs with
/// the minimum image (the model contract keeps the radius at most half the shortest edge there).
/// The scan runs in parallel over blocks of atoms; the storage of the last build is reused.
public struct NeighbourList: Sendable {
    /// The radius in Å within which the list is exact while it is valid.
    public private(set) var radius: Double
    /// The padding in Å added to `radius` at build time.
    public private(set) var skin: Double
    /// Number of species the rows are split into.
    public let speciesCount: Int
    /// Row offsets, `count * speciesCount + 1` entries.
    public private(set) var offsets: [Int] = [0]
    /// Neighbour indices, ascending within each (atom, species) segment, or in ascending order
    /// of their distance at build time when `orderByDistance` is set.
    public private(set) var indices: [Int32] = []
    /// With `orderByDistance`: the distance in Å of every neighbour at build time (rounded down
    /// to Float), aligned with `indices`. Since no atom moves more than skin/2 before a rebuild,
    /// a neighbour listed at distance d0 is now farther than d0 - skin.
    public private(set) var buildDistances: [Float] = []
    /// With `orderByDistance`: each neighbour's place (from 0) in ascending order of rank key
    /// (`build`'s `rankKeys`, else the index) among the neighbours of its (atom, species)
    /// segment, aligned with `indices`: the order a sum over a segment's neighbours runs in,
    /// known from the build so that an evaluation need not sort (`InvariantEvaluator.gather`).
    /// Empty without `orderByDistance`, or where a segment holds more than 65,536 neighbours.
    public private(set) var identityRanks: [UInt16] = []
    /// Order each segment by build-time distance instead of index (for nearest-neighbour
    /// searches, which can then stop early; sums over rows then depend on the build history).
    public let orderByDistance: Bool
    /// Positions (Å) at the last build, to decide when to rebuild.
    public private(set) var reference: [SIMD3<Double>] = []
    /// How many times the list was built.
    public private(set) var builds = 0
    /// Whether the last build used the all-pairs fallback.
    public private(set) var usedAllPairs = false
    /// Worker blocks for the parallel build.
    public var threads: Int
    /// Neighbours the blocks of the next build reserve room for, all together (from the last).
    private var keyCapacityHint = 0
    /// The blocks' key storage, kept from build to build so that its pages stay mapped; a copy
    /// of the list that builds takes its own (`isKnownUniquelyReferenced`).
    private var scratch = KeyScratchPool()

    /// - Parameters:
    ///   - radius: interaction radius in Å (the list is exact within it while valid).
    ///   - skin: padding in Å; the list is rebuilt once some atom moved more than `skin / 2`.
    ///   - speciesCount: species the rows are split by (1: no split).
    ///   - threads: parallel blocks for the build (1 = serial).
    public init(radius: Double, skin: Double, speciesCount: Int = 1, threads: Int = 1,
                orderByDistance: Bool = false) {
        precondition(radius > 0 && skin >= 0 && speciesCount >= 1)
        self.orderByDistance = orderByDistance
        self.radius = radius
        self.skin = skin
        self.speciesCount = speciesCount
        self.threads = max(1, threads)
    }

    /// Atom count of the last build.
    public var count: Int { (offsets.count - 1) / speciesCount }

    /// All neighbours of atom `i` (species by species, ascending within each).
    @inline(__always)
    public func neighbours(of i: Int) -> ArraySlice<Int32> {
        indices[offsets[i * speciesCount]..<offsets[(i + 1) * speciesCount]]
    }

    /// The neighbours of atom `i` of species `s`, ascending.
    @inline(__always)
    public func neighbours(of i: Int, species s: Int) -> ArraySlice<Int32> {
        indices[offsets[i * speciesCount + s]..<offsets[i * speciesCount + s + 1]]
    }

    /// Changes the radius; the next `needsRebuild` answers true.
    public mutating func setRadius(_ r: Double) {
        precondition(r > 0)
        radius = r
        reference = []
    }

    /// True when the list was never built for this many atoms, or some atom moved more than
    /// half the skin (Å) since the build.
    public func needsRebuild(_ positions: [SIMD3<Double>]) -> Bool {
        guard reference.count == positions.count, !positions.isEmpty else { return true }
        let limit = 0.25 * skin * skin
        return positions.withUnsafeBufferPointer { p in
            reference.withUnsafeBufferPointer { r in
                var worst = 0.0
                for i in 0..<p.count {
                    let d = p[i] - r[i]
                    worst = max(worst, (d * d).sum())
                }
                return !(worst <= limit)
            }
        }
    }

    /// Builds the list for `positions` (Å) in `box`; `species` (one index per atom, below
    /// `speciesCount`) may be nil when `speciesCount` is 1. `rankKeys` (one distinct number per
    /// atom, at least 0) orders `identityRanks`: where a caller numbered the atoms its own way,
    /// each atom's number in the original numbering; nil for the index itself.
    public mutating func build(_ positions: [SIMD3<Double>], box: Box, species: [Int32]? = nil,
                               rankKeys: [Int32]? = nil) {
        precondition(rankKeys == nil || rankKeys?.count == positions.count)
        let n = positions.count
        let S = speciesCount
        precondition(S == 1 || species?.count == n)
        let spc = species ?? [Int32](repeating: 0, count: n)
        let rl = radius + skin
        let rl2 = rl * rl
        let L = box.lengths
        let wrapped = positions.map { box.wrap($0) }
        // Cells of edge >= rl/2 scanned 2 deep (125 cells, 42 % fewer candidates than 27 cells
        // of edge rl) where at least 5 fit along every edge, else cells of edge >= rl.
        let halfCells = SIMD3<Int>((L / (0.5 * rl)).rounded(.down))
        let fullCells = SIMD3<Int>((L / rl).rounded(.down))
        let fine = halfCells.min() >= 5
        let cells = fine ? halfCells : fullCells
        usedAllPairs = !fine && fullCells.min() < 3
        // Blocks by the scan's work (candidate distances): one below about 30,000, where a fork
        // and join costs more than it saves, one per thread up to about 250,000 (the all-pairs
        // scan of a 192-atom box is 36,864), then four per thread to even out the blocks.
        let work = usedAllPairs ? n * n : n * 256
        let blocks = work < 30_000 ? 1 : (work < 250_000 ? threads : threads * 4)
        let per = (n + blocks - 1) / blocks

        // Candidate cells: all atoms as one cell (fallback), or a cell list (counting sort, so
        // atoms stay in index order within a cell).
        let grid = usedAllPairs ? SIMD3(1, 1, 1) : cells
        let nCells = grid.x * grid.y * grid.z
        var cellOf = [Int32](repeating: 0, count: n)
        var start = [Int32](repeating: 0, count: nCells + 1)
        let scale = SIMD3<Double>(grid) / L
        for i in 0..<n {
            let c = NeighbourList.cell(of: wrapped[i], grid: grid, scale: scale)
            let id = (c.z * grid.y + c.y) * grid.x + c.x
            cellOf[i] = Int32(id)
            start[id + 1] += 1
        }
        for c in 0..<nCells { start[c + 1] += start[c] }
        var fill = Array(start.prefix(nCells))
        var members = [Int32](repeating: 0, count: n)
        for i in 0..<n {
            let c = Int(cellOf[i])
            members[Int(fill[c])] = Int32(i)
            fill[c] += 1
        }
        let span = usedAllPairs ? 0 : (fine ? 2 : 1)
        // The atoms in cell order: position, index and species side by side, so a cell's
        // candidates are read from consecutive memory.
        let cellAtoms = [CellAtom](unsafeUninitializedCapacity: n) { buffer, count in
            for m in 0..<n {
                let j = Int(members[m])
                buffer[m] = CellAtom(position: wrapped[j], index: Int32(j), species: spc[j])
            }
            count = n
        }

        let byDistance = orderByDistance
        let sortRows = byDistance || !usedAllPairs
        // Shells for the distance sort: the keys are first distributed over `shellCount` shells
        // of the list radius, which leaves only the order within each shell to an insertion sort.
        let shellScale = Float(KeyScratch.shellCount) / Float(rl)
        var counts = [Int](repeating: 0, count: n * S)
        // Pass 1, per block: every row's keys in row order (see `KeyScratch`).
        let reserve = keyCapacityHint / blocks + 1024
        if !isKnownUniquelyReferenced(&scratch) { scratch = KeyScratchPool() }
        let blockKeys = scratch.blocks(blocks, species: S, capacity: reserve)
        let scan = CellScan(grid: grid, lengths: L, span: span, listRadius2: rl2)
        wrapped.withUnsafeBufferPointer { p in
            cellAtoms.withUnsafeBufferPointer { ca in
                start.withUnsafeBufferPointer { st in
                    counts.withUnsafeMutableBufferPointer { cnt in
                        let cntBase = cnt.baseAddress!
                        WorkerPool.shared.perform(iterations: blocks) { b in
                            let scratch = blockKeys[b]
                            for i in AtomBlocks.range(b, per: per, count: n) {
                                scratch.clear()
                                @inline(__always) func take(_ j: Int32, _ species: Int32, _ r2: Double) {
                                    if Int(j) == i { return }
                                    var key = UInt64(UInt32(truncatingIfNeeded: j))
                                    if byDistance {
                                        let r = Float(r2.squareRoot())
                                        let below = r > 0 ? Float(bitPattern: r.bitPattern &- 1) : r.nextDown
                                        key |= UInt64(below.bitPattern) << 32
                                    }
                                    scratch.append(key, species: Int(species))
                                }
                                if usedAllPairs {
                                    scan.allPairs(of: p[i], atoms: ca, take)
                                } else {
                                    scan.cells(of: p[i], cell: Int(cellOf[i]), starts: st, atoms: ca, take)
                                }
                                for s in 0..<S {
                                    let count = scratch.count(s)
                                    if byDistance {
                                        scratch.sortByDistance(s, shellScale: shellScale)
                                    } else if sortRows {
                                        scratch.sortByIndex(s)
                                    }
                                    scratch.emit(s)
                                    cntBase[i * S + s] = count
                                }
                            }
                        }
                    }
                }
            }
        }
        // Pass 2: the offsets, then every block decodes its keys into place.
        var off = [Int](repeating: 0, count: n * S + 1)
        for r in 0..<(n * S) { off[r + 1] = off[r] + counts[r] }
        let total = off[n * S]
        var blockStart = [Int](repeating: 0, count: blocks + 1)
        for b in 0..<blocks { blockStart[b + 1] = blockStart[b] + blockKeys[b].emitted }
        // The last build's storage is refilled (its pages are mapped already; a large array
        // allocated afresh would fault every page in again), only resized: the decode below
        // writes every entry, so the entries kept need no clearing first.
        var idx = indices, dist = buildDistances, ranks = identityRanks
        indices = []
        buildDistances = []
        identityRanks = []
        let ranked = byDistance && (counts.max() ?? 0) <= Int(UInt16.max) + 1
        NeighbourList.resize(&idx, to: total)
        NeighbourList.resize(&dist, to: byDistance ? total : 0)
        NeighbourList.resize(&ranks, to: ranked ? total : 0)
        let noKeys = [Int32]()
        (rankKeys ?? noKeys).withUnsafeBufferPointer { keyBuf in
        off.withUnsafeBufferPointer { offBuf in
        ranks.withUnsafeMutableBufferPointer { rb in
        idx.withUnsafeMutableBufferPointer { ib in
            dist.withUnsafeMutableBufferPointer { db in
                let ib = ib.baseAddress, db = byDistance ? db.baseAddress : nil
                let rb = ranked ? rb.baseAddress : nil, keys = rankKeys == nil ? nil : keyBuf.baseAddress
                let o = offBuf.baseAddress!
                WorkerPool.shared.perform(iterations: blocks) { b in
                    guard let ib else { return }
                    blockKeys[b].decode(indices: ib + blockStart[b], distances: db.map { $0 + blockStart[b] })
                    guard let rb else { return }
                    let atoms = AtomBlocks.range(b, per: per, count: n)
                    for r in (atoms.lowerBound * S)..<(atoms.upperBound * S) {
                        NeighbourList.rankSegment(ib + o[r], count: o[r + 1] - o[r], keys: keys, into: rb + o[r])
                    }
                }
            }
        }
        }
        }
        }
        keyCapacityHint = total + total / 8
        offsets = off
        indices = idx
        buildDistances = dist
        identityRanks = ranks
        reference = positions
        builds += 1
    }

    /// ranks[t] = the number of the `count` atoms at `atoms` whose key (`keys[atom]`, or the atom
    /// itself without keys) is below atom t's (`RankCount`; the keys are distinct, so the ranks
    /// are a permutation of 0..<count).
    static func rankSegment(_ atoms: UnsafePointer<Int32>, count n: Int, keys: UnsafePointer<Int32>?,
                            into ranks: UnsafeMutablePointer<UInt16>) {
        if n == 0 { return }
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: n + 8) { buffer in
            let key = buffer.baseAddress!
            for t in 0..<n { key[t] = keys.map { $0[Int(atoms[t])] } ?? atoms[t] }
            for t in n..<(n + 8) { key[t] = 0 }
            RankCount.countBelow(key, count: n, base: 0) { c, count in
                for l in 0..<min(8, n - c) { ranks[c + l] = UInt16(truncatingIfNeeded: count[l]) }
            }
        }
    }

    /// The cell (x, y, z) of a grid of `grid` cells that a wrapped position `q` (Å) lies in,
    /// `scale` being the grid over the box lengths (cells per Å). Clamped as Doubles: a far-away or
    /// non-finite position (a blown-up state) lands in an edge cell instead of trapping in the
    /// conversion to Int.
    @inline(__always)
    static func cell(of q: SIMD3<Double>, grid: SIMD3<Int>, scale: SIMD3<Double>) -> SIMD3<Int> {
        let x = (q * scale).rounded(.down)
        var c = SIMD3<Int>.zero
        for d in 0..<3 { c[d] = x[d] >= 0 ? (x[d] < Double(grid[d]) ? Int(x[d]) : grid[d] - 1) : 0 }
        return c
    }

    /// Gives `array` `count` entries, keeping (not clearing) the ones it has: for storage that is
    /// overwritten whole next.
    static func resize<T: ExpressibleByIntegerLiteral>(_ array: inout [T], to count: Int) {
        if array.count > count {
            array.removeLast(array.count - count)
        } else if array.count < count {
            array.append(contentsOf: repeatElement(0, count: count - array.count))
        }
    }
}

/// The `KeyScratch` of every block of a neighbour list's builds.
final class KeyScratchPool: @unchecked Sendable {
    private var held: [KeyScratch] = []

    /// `count` scratches for `species` species, emptied, each with room for `capacity` keys.
    func blocks(_ count: Int, species: Int, capacity: Int) -> [KeyScratch] {
        if held.count != count || held.first?.speciesCount != species {
            held = (0..<count).map { _ in KeyScratch(species: species, capacity: capacity) }
        }
        for k in held { k.reset(capacity: capacity) }
        return held
    }
}

/// One block of a neighbour-list build: per species, the keys of the row being built, and all
/// the rows emitted so far, as 64-bit keys: the neighbour index in the low 32 bits and, for
/// distance-ordered rows, the bits of the rounded-down Float distance above them (positive
/// Floats order as their bit patterns), so that one integer order is distance, then index.
final class KeyScratch {
    /// Shells of the list radius that `sortByDistance` distributes the keys over first.
    static let shellCount = 32
    private let buffers: UnsafeMutablePointer<UnsafeMutablePointer<UInt64>>
    private let capacities: UnsafeMutablePointer<Int>
    private let counts: UnsafeMutablePointer<Int>
    let speciesCount: Int
    private var spare: UnsafeMutablePointer<UInt64>
    private var spareCapacity = 128
    private let shellStarts: UnsafeMutablePointer<Int>
    /// Every row emitted, in order.
    private var out: UnsafeMutablePointer<UInt64>
    private var outCapacity = 1024
    private(set) var emitted = 0

    /// A scratch for `species` species whose emitted rows hold `capacity` keys before growing.
    init(species: Int, capacity: Int = 1024) {
        speciesCount = species
        outCapacity = max(capacity, 1)
        buffers = .allocate(capacity: species)
        capacities = .allocate(capacity: species)
        counts = .allocate(capacity: species)
        for s in 0..<species {
            (buffers + s).initialize(to: .allocate(capacity: 128))
            (capacities + s).initialize(to: 128)
            (counts + s).initialize(to: 0)
        }
        spare = .allocate(capacity: spareCapacity)
        shellStarts = .allocate(capacity: Self.shellCount + 1)
        out = .allocate(capacity: outCapacity)
    }

    deinit {
        for s in 0..<speciesCount { buffers[s].deallocate() }
        buffers.deallocate(); capacities.deallocate(); counts.deallocate()
        spare.deallocate(); shellStarts.deallocate(); out.deallocate()
    }

    @inline(__always) func clear() { for s in 0..<speciesCount { counts[s] = 0 } }

    /// Forgets the emitted rows, keeping room for at least `capacity` keys.
    func reset(capacity: Int) {
        emitted = 0
        clear()
        if capacity > outCapacity {
            out.deallocate()
            outCapacity = capacity
            out = .allocate(capacity: outCapacity)
        }
    }
    @inline(__always) func count(_ s: Int) -> Int { counts[s] }

    @inline(__always)
    func append(_ key: UInt64, species s: Int) {
        let c = counts[s]
        if c == capacities[s] { grow(s) }
        buffers[s][c] = key
        counts[s] = c &+ 1
    }

    private func grow(_ s: Int) {
        let bigger = UnsafeMutablePointer<UInt64>.allocate(capacity: 2 * capacities[s])
        bigger.update(from: buffers[s], count: counts[s])
        buffers[s].deallocate()
        buffers[s] = bigger
        capacities[s] *= 2
    }

    /// Appends the keys of species `s` to the emitted rows.
    @inline(__always)
    func emit(_ s: Int) {
        let c = counts[s]
        if emitted + c > outCapacity {
            var capacity = 2 * outCapacity
            while capacity < emitted + c { capacity *= 2 }
            let bigger = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)
            bigger.update(from: out, count: emitted)
            out.deallocate()
            out = bigger
            outCapacity = capacity
        }
        (out + emitted).update(from: buffers[s], count: c)
        emitted += c
    }

    /// Writes the emitted rows' indices (and distances, if asked) from `indices` on.
    func decode(indices: UnsafeMutablePointer<Int32>, distances: UnsafeMutablePointer<Float>?) {
        for t in 0..<emitted {
            let key = out[t]
            indices[t] = Int32(truncatingIfNeeded: UInt32(truncatingIfNeeded: key))
            if let distances { distances[t] = Float(bitPattern: UInt32(truncatingIfNeeded: key >> 32)) }
        }
    }

    /// Sorts the keys of species `s` by index (they hold no distance).
    @inline(__always)
    func sortByIndex(_ s: Int) { Self.insertionSort(buffers[s], count: counts[s]) }

    /// Sorts the keys of species `s` (distance, then index): a counting sort into shells of the
    /// distance (`shellScale` shells per Å), then an insertion sort, which only has to order the
    /// keys within each shell.
    @inline(__always)
    func sortByDistance(_ s: Int, shellScale: Float) {
        let c = counts[s]
        let keys = buffers[s]
        if c <= 16 { Self.insertionSort(keys, count: c); return }
        if c > spareCapacity {
            spare.deallocate()
            spareCapacity = max(c, 2 * spareCapacity)
            spare = .allocate(capacity: spareCapacity)
        }
        let K = Self.shellCount
        // The shell: the scaled distance rounded to the nearest integer by adding 2^23 (its low
        // mantissa bits are then that integer), at most K - 1; non-decreasing in the key, which
        // is all the distribution needs.
        @inline(__always) func shell(_ key: UInt64) -> Int {
            let r = Float(bitPattern: UInt32(truncatingIfNeeded: key >> 32)) * shellScale
            let rounded = Int((r + 0x1p23).bitPattern & 0x7f_ffff)
            return min(rounded, K - 1)
        }
        for k in 0...K { shellStarts[k] = 0 }
        for t in 0..<c { shellStarts[shell(keys[t]) &+ 1] &+= 1 }
        for k in 0..<K { shellStarts[k + 1] &+= shellStarts[k] }
        for t in 0..<c {
            let key = keys[t]
            let k = shell(key)
            spare[shellStarts[k]] = key
            shellStarts[k] &+= 1
        }
        buffers[s] = spare
        spare = keys
        let cap = capacities[s]
        capacities[s] = spareCapacity
        spareCapacity = cap
        Self.insertionSort(buffers[s], count: c)
    }

    @inline(__always)
    static func insertionSort(_ keys: UnsafeMutablePointer<UInt64>, count: Int) {
        var t = 1
        while t < count {
            let key = keys[t]
            var i = t
            while i > 0 && keys[i - 1] > key {
                keys[i] = keys[i - 1]
                i -= 1
            }
            keys[i] = key
            t += 1
        }
    }
}
