import Dispatch

/// A Verlet neighbour list built from a cell list: for every atom `i`, the atoms `j != i` whose
/// minimum-image distance was below `radius + skin` when the list was built.
///
/// Storage is compressed sparse rows: the neighbours of atom `i` are
/// `indices[offsets[i] ..< offsets[i + 1]]`, in ascending order (so sums over them have a fixed
/// order, whatever the cell layout). The list is full, not half: both `i -> j` and `j -> i` are
/// stored, because learned forces are per agent and do not pair up (no third law).
///
/// Validity: while no atom has moved more than `skin / 2` since the build, every pair now closer
/// than `radius` is in the list (each of the two atoms moved less than `skin / 2`). `needsRebuild`
/// checks exactly that.
///
/// Building is O(N): atoms are binned (after wrapping into the box, so atoms outside the primary
/// box are fine) into cells of edge at least `radius + skin`, and each atom scans the 27 cells
/// around its own. A box with fewer than 3 cells along some edge falls back to all pairs with the
/// minimum image (the model contract keeps the radius at most half the shortest edge there).
/// The build runs in parallel over blocks of atoms.
public struct NeighbourList: Sendable {
    /// The radius in Å within which the list is exact while it is valid.
    public private(set) var radius: Double
    /// The padding in Å added to `radius` at build time.
    public private(set) var skin: Double
    /// Row offsets, `count + 1` entries.
    public private(set) var offsets: [Int] = [0]
    /// Neighbour indices, ascending within each row.
    public private(set) var indices: [Int32] = []
    /// Positions (Å) at the last build, to decide when to rebuild.
    public private(set) var reference: [SIMD3<Double>] = []
    /// How many times the list was built.
    public private(set) var builds = 0
    /// Whether the last build used the all-pairs fallback.
    public private(set) var usedAllPairs = false
    /// Worker blocks for the parallel build.
    public var threads: Int

    /// - Parameters:
    ///   - radius: interaction radius in Å (the list is exact within it while valid).
    ///   - skin: padding in Å; the list is rebuilt once some atom moved more than `skin / 2`.
    ///   - threads: parallel blocks for the build (1 = serial).
    public init(radius: Double, skin: Double, threads: Int = 1) {
        precondition(radius > 0 && skin >= 0)
        self.radius = radius
        self.skin = skin
        self.threads = max(1, threads)
    }

    /// Atom count of the last build.
    public var count: Int { offsets.count - 1 }

    /// The neighbours of atom `i`.
    @inline(__always)
    public func neighbours(of i: Int) -> ArraySlice<Int32> { indices[offsets[i]..<offsets[i + 1]] }

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
                for i in 0..<p.count {
                    let d = p[i] - r[i]
                    if (d * d).sum() > limit { return true }
                }
                return false
            }
        }
    }

    /// Builds the list for `positions` (Å) in `box`.
    public mutating func build(_ positions: [SIMD3<Double>], box: Box) {
        let n = positions.count
        let rl = radius + skin
        let cells = SIMD3<Int>((box.lengths / rl).rounded(.down))
        usedAllPairs = cells.min() < 3
        let blocks = n < 256 ? 1 : min(threads * 4, max(1, n / 64))
        let per = (n + blocks - 1) / max(blocks, 1)
        var rows = [[Int32]](repeating: [], count: blocks)
        var counts = [Int](repeating: 0, count: n)

        if usedAllPairs {
            let rl2 = rl * rl
            positions.withUnsafeBufferPointer { p in
                rows.withUnsafeMutableBufferPointer { rowsPtr in
                    counts.withUnsafeMutableBufferPointer { cnt in
                        let rowsBase = rowsPtr.baseAddress!, cntBase = cnt.baseAddress!
                        DispatchQueue.concurrentPerform(iterations: blocks) { b in
                            var row: [Int32] = []
                            for i in (b * per)..<min(n, (b + 1) * per) {
                                var c = 0
                                for j in 0..<n where j != i {
                                    let d = box.displacement(from: p[i], to: p[j])
                                    if (d * d).sum() < rl2 { row.append(Int32(j)); c += 1 }
                                }
                                cntBase[i] = c
                            }
                            rowsBase[b] = row
                        }
                    }
                }
            }
        } else {
            // Bin the wrapped positions into cells (counting sort: atoms stay in index order).
            let nCells = cells.x * cells.y * cells.z
            var cellOf = [Int32](repeating: 0, count: n)
            var start = [Int32](repeating: 0, count: nCells + 1)
            let scale = SIMD3<Double>(cells) / box.lengths
            for i in 0..<n {
                let w = box.wrap(positions[i])
                var c = SIMD3<Int>((w * scale).rounded(.down))
                c.clamp(lowerBound: .zero, upperBound: cells &- 1)
                let id = (c.z * cells.y + c.y) * cells.x + c.x
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
            let rl2 = rl * rl
            positions.withUnsafeBufferPointer { p in
                rows.withUnsafeMutableBufferPointer { rowsPtr in
                    counts.withUnsafeMutableBufferPointer { cnt in
                        let rowsBase = rowsPtr.baseAddress!, cntBase = cnt.baseAddress!
                        DispatchQueue.concurrentPerform(iterations: blocks) { b in
                            var row: [Int32] = []
                            row.reserveCapacity(per * 64)
                            for i in (b * per)..<min(n, (b + 1) * per) {
                                let qi = p[i]
                                let ci = Int(cellOf[i])
                                let cx = ci % cells.x, cy = (ci / cells.x) % cells.y, cz = ci / (cells.x * cells.y)
                                let rowStart = row.count
                                for dz in -1...1 {
                                    let z = (cz + dz + cells.z) % cells.z
                                    for dy in -1...1 {
                                        let y = (cy + dy + cells.y) % cells.y
                                        for dx in -1...1 {
                                            let x = (cx + dx + cells.x) % cells.x
                                            let c = (z * cells.y + y) * cells.x + x
                                            for m in Int(start[c])..<Int(start[c + 1]) {
                                                let j = Int(members[m])
                                                if j == i { continue }
                                                let d = box.displacement(from: qi, to: p[j])
                                                if (d * d).sum() < rl2 { row.append(Int32(j)) }
                                            }
                                        }
                                    }
                                }
                                row[rowStart...].sort()
                                cntBase[i] = row.count - rowStart
                            }
                            rowsBase[b] = row
                        }
                    }
                }
            }
        }
        var off = [Int](repeating: 0, count: n + 1)
        for i in 0..<n { off[i + 1] = off[i] + counts[i] }
        var idx = [Int32]()
        idx.reserveCapacity(off[n])
        for r in rows { idx.append(contentsOf: r) }
        offsets = off
        indices = idx
        reference = positions
        builds += 1
    }
}
