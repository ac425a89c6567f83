/// One atom of a neighbour-list build in cell order: its wrapped position (Å) in x, y, z and,
/// in the bits of w, its index (low 32 bits) and species (high 32 bits); 32 bytes, so a cell's
/// candidates are read from consecutive memory.
struct CellAtom {
    var packed: SIMD4<Double>

    init(position q: SIMD3<Double>, index: Int32, species: Int32) {
        let bits = UInt64(UInt32(bitPattern: index)) | UInt64(UInt32(bitPattern: species)) << 32
        packed = SIMD4(q.x, q.y, q.z, Double(bitPattern: bits))
    }
}

/// The candidate scan of a neighbour-list build: every atom closer than the list radius to a
/// point, found among the cells around the point's cell or, in a box too small for cells, among
/// all atoms.
///
/// In a cell list of at least 3 cells along every edge, each cell around the point's is scanned
/// once, with the periodic image the cell stands for: the displacement is (q_j - q_i) + shift with
/// shift -L, 0 or +L per axis, which is exactly `minimumImage`'s (q_j - q_i) - L n for every atom
/// within the list radius (the radius is at most 0.4 L, so that image is the nearest). Cells whose
/// nearest point is at least the list radius from the point are skipped whole; along x the cells
/// left form one run of consecutive cells (two or three where the run wraps around the box), whose
/// atoms are consecutive in cell order.
struct CellScan {
    let grid: SIMD3<Int>
    let lengths: SIMD3<Double>
    /// Cells scanned on either side along each axis (2 for cells of edge >= radius / 2, 1 for
    /// cells of edge >= radius, 0 for all pairs).
    let span: Int
    /// (radius + skin)², Å².
    let listRadius2: Double
    /// Cell edges, Å.
    let edges: SIMD3<Double>

    init(grid: SIMD3<Int>, lengths: SIMD3<Double>, span: Int, listRadius2: Double) {
        self.grid = grid
        self.lengths = lengths
        self.span = span
        self.listRadius2 = listRadius2
        edges = lengths / SIMD3<Double>(grid)
    }

    /// The squared gap (Å²) between a point at `f` (Å) from the lower face of its cell and the
    /// cell at offset `o` along one axis of cell edge `e`: the smallest squared distance any atom
    /// of that cell can have along that axis. Lowered by 1e-6 Å, far above the rounding of the
    /// positions and the binning, so a skipped cell never holds an atom the distance test would
    /// take.
    @inline(__always)
    private static func gap(_ o: Int, _ f: Double, _ e: Double) -> Double {
        let gap = o > 0 ? Double(o) * e - f : (o < 0 ? f + Double(-1 &- o) * e : 0)
        let lowered = max(0, gap - 1e-6)
        return lowered * lowered
    }

    /// Calls `take(j, species, r²)` for every atom j of the cell list (`starts`: the first
    /// position in `atoms` of every cell, and the end) whose periodic image is closer than the
    /// list radius to `q` (Å, wrapped), `q`'s own atom included, found in the cells around `cell`.
    @inline(__always)
    func cells(of q: SIMD3<Double>, cell: Int, starts: UnsafeBufferPointer<Int32>,
               atoms: UnsafeBufferPointer<CellAtom>, _ take: (Int32, Int32, Double) -> Void) {
        let gx = grid.x, gy = grid.y, gz = grid.z
        let cx = cell % gx, cy = (cell / gx) % gy, cz = cell / (gx * gy)
        let f = q - SIMD3<Double>(Double(cx), Double(cy), Double(cz)) * edges
        let ex = edges.x, ey = edges.y, ez = edges.z
        let rl2 = listRadius2
        let st = starts.baseAddress!, at = atoms.baseAddress!
        @inline(__always) func run(_ row: Int, _ x0: Int, _ x1: Int, _ shift: SIMD3<Double>) {
            var m = Int(st[row &+ x0])
            let end = Int(st[row &+ x1 &+ 1])
            while m < end {
                let a = at[m].packed
                m &+= 1
                let d = (SIMD3(a.x, a.y, a.z) - q) + shift
                let r2 = (d * d).sum()
                if r2 < rl2 {
                    let bits = a.w.bitPattern
                    take(Int32(truncatingIfNeeded: bits), Int32(truncatingIfNeeded: bits >> 32), r2)
                }
            }
        }
        for dz in -span...span {
            let hz = Self.gap(dz, f.z, ez)
            if !(hz < rl2) { continue }
            var z = cz &+ dz, sz = 0.0
            if z < 0 { z &+= gz; sz = -lengths.z } else if z >= gz { z &-= gz; sz = lengths.z }
            for dy in -span...span {
                let hzy = hz + Self.gap(dy, f.y, ey)
                if !(hzy < rl2) { continue }
                var y = cy &+ dy, sy = 0.0
                if y < 0 { y &+= gy; sy = -lengths.y } else if y >= gy { y &-= gy; sy = lengths.y }
                // The run of cells along x that reach within the radius.
                var lo = -span
                while lo < 0 && !(hzy + Self.gap(lo, f.x, ex) < rl2) { lo &+= 1 }
                var hi = span
                while hi > 0 && !(hzy + Self.gap(hi, f.x, ex) < rl2) { hi &-= 1 }
                let row = (z &* gy &+ y) &* gx
                var x0 = cx &+ lo
                let x1 = cx &+ hi
                if x0 < 0 {
                    run(row, x0 &+ gx, gx &- 1, SIMD3(-lengths.x, sy, sz))
                    x0 = 0
                }
                let top = min(x1, gx &- 1)
                if x0 <= top { run(row, x0, top, SIMD3(0, sy, sz)) }
                if x1 >= gx { run(row, 0, x1 &- gx, SIMD3(lengths.x, sy, sz)) }
            }
        }
    }

    /// Calls `take(j, species, r²)` for every atom j of `atoms` whose minimum image
    /// (`minimumImage`) is closer than the list radius to `q` (Å, wrapped), `q`'s own atom
    /// included: the all-pairs scan of a box too small for cells.
    @inline(__always)
    func allPairs(of q: SIMD3<Double>, atoms: UnsafeBufferPointer<CellAtom>,
                  _ take: (Int32, Int32, Double) -> Void) {
        let magic = SIMD3<Double>(repeating: 6_755_399_441_055_744.0)
        let L = lengths, inverseL = 1 / lengths, rl2 = listRadius2
        for m in 0..<atoms.count {
            let a = atoms[m].packed
            let raw = SIMD3(a.x, a.y, a.z) - q
            let d = raw - L * ((raw * inverseL + magic) - magic)
            let r2 = (d * d).sum()
            if r2 < rl2 {
                let bits = a.w.bitPattern
                take(Int32(truncatingIfNeeded: bits), Int32(truncatingIfNeeded: bits >> 32), r2)
            }
        }
    }
}
