import COpenCL
import Foundation
import MLD

/// Floating-point precision of the OpenCL kernels (`--precision single|double`).
public enum OpenCLPrecision: String, CaseIterable, Sendable, Codable {
    /// Positions as float hi/lo pairs, distances in float, sums in double where the device has
    /// fp64 (else Kahan-compensated float). The default.
    case single
    /// Everything in double; needs a device with fp64 (cl_khr_fp64).
    case double
}

/// Positions in the device layout of Kernels/common.cl: wrapped into the box in double on the
/// host, then double4 {x, y, z, 0} (double precision) or float8 {hi, 0, lo, 0} with x = hi + lo
/// (single precision). 32 bytes per atom either way.
struct PositionStager {
    let precision: OpenCLPrecision
    let box: Box
    private(set) var doubles: [SIMD4<Double>] = []
    private(set) var floats: [SIMD8<Float>] = []
    /// The wrapped positions last staged, and those at the last neighbour-list build (Å).
    private(set) var wrapped: [SIMD3<Double>] = []
    private(set) var reference: [SIMD3<Double>] = []

    init(precision: OpenCLPrecision, box: Box) {
        self.precision = precision
        self.box = box
    }

    /// A point (or the box edges) in the device layout, as 32 raw bytes.
    static func split(_ x: SIMD3<Double>) -> SIMD8<Float> {
        let hi = SIMD3<Float>(x)
        let lo = SIMD3<Float>(x - SIMD3<Double>(hi))
        return SIMD8(hi.x, hi.y, hi.z, 0, lo.x, lo.y, lo.z, 0)
    }

    /// Wraps and stages `positions`; returns the largest squared minimum-image displacement
    /// from the positions at the last build (`markBuilt`) in Å², or infinity before any build.
    @discardableResult
    mutating func stage(_ positions: [SIMD3<Double>]) -> Double {
        let n = positions.count
        if wrapped.count != n { wrapped = Array(repeating: .zero, count: n) }
        let box = self.box
        positions.withUnsafeBufferPointer { p in
            wrapped.withUnsafeMutableBufferPointer { w in
                for i in 0..<n { w[i] = box.wrap(p[i]) }
            }
        }
        switch precision {
        case .double:
            if doubles.count != n { doubles = Array(repeating: .zero, count: n) }
            wrapped.withUnsafeBufferPointer { w in
                doubles.withUnsafeMutableBufferPointer { d in
                    for i in 0..<n { d[i] = SIMD4(w[i].x, w[i].y, w[i].z, 0) }
                }
            }
        case .single:
            if floats.count != n { floats = Array(repeating: .zero, count: n) }
            wrapped.withUnsafeBufferPointer { w in
                floats.withUnsafeMutableBufferPointer { f in
                    for i in 0..<n { f[i] = Self.split(w[i]) }
                }
            }
        }
        guard reference.count == n else { return .infinity }
        var most = 0.0
        wrapped.withUnsafeBufferPointer { w in
            reference.withUnsafeBufferPointer { r in
                for i in 0..<n {
                    let d = box.displacement(from: r[i], to: w[i])
                    let d2 = (d * d).sum()
                    if !(d2 <= most) { most = d2 }   // NaN wins: it forces a rebuild
                }
            }
        }
        return most
    }

    /// Records the positions last staged as those of the last neighbour-list build.
    mutating func markBuilt() { reference = wrapped }

    /// Enqueues the upload of the staged positions (returns at once; the staged arrays are not
    /// touched until the next `stage`, after the step's blocking read).
    func enqueueUpload(to buffer: CLBuffer<SIMD4<Double>>) throws {
        switch precision {
        case .double: try doubles.withUnsafeBytes { try buffer.enqueueWrite(raw: $0) }
        case .single: try floats.withUnsafeBytes { try buffer.enqueueWrite(raw: $0) }
        }
    }

    func upload(to buffer: CLBuffer<SIMD4<Double>>) throws {
        switch precision {
        case .double: try doubles.withUnsafeBytes { try buffer.write(raw: $0) }
        case .single: try floats.withUnsafeBytes { try buffer.write(raw: $0) }
        }
    }
}

/// Sets a `real`, `real4` or `pos_t` kernel argument in the program's precision.
extension CLKernel {
    func setReal(_ i: Int, _ v: Double, _ p: OpenCLPrecision) throws {
        if p == .double { try set(i, v) } else { try set(i, Float(v)) }
    }
    func setReal4(_ i: Int, _ v: SIMD3<Double>, _ p: OpenCLPrecision) throws {
        if p == .double { try set(i, SIMD4(v.x, v.y, v.z, 0)) }
        else { try set(i, SIMD4<Float>(Float(v.x), Float(v.y), Float(v.z), 0)) }
    }
    func setPos(_ i: Int, _ v: SIMD3<Double>, _ p: OpenCLPrecision) throws {
        if p == .double { try set(i, SIMD4(v.x, v.y, v.z, 0)) } else { try set(i, PositionStager.split(v)) }
    }
}

/// Status words of Kernels/common.cl.
enum DeviceStatus {
    static let maxDisplacement2 = 0, maxCount = 1, rebuilt = 2, shortAgent = 3, needRadius2 = 4, words = 8

    /// The reset value: no displacement yet (or +inf to force a rebuild), nothing short.
    static func reset(forceRebuild: Bool) -> [Int32] {
        var s = [Int32](repeating: 0, count: words)
        s[maxDisplacement2] = forceRebuild ? Int32(bitPattern: Float.infinity.bitPattern) : 0
        s[shortAgent] = Int32.max
        return s
    }
}

/// The Verlet neighbour list of Kernels/neighbors.cl, kept on the device: a cell list binned
/// by counting sort, per-agent lists of every atom within `cutoff + skin` (Å), rebuilt on the
/// device only when some atom moved more than half the skin since the last build. The list has
/// a fixed capacity per agent; an overflow is seen by the host in the status words, answered by
/// `grow(to:)` and a rebuild, never by dropping neighbours.
final class DeviceNeighbourList {
    let ctx: CLContext
    let precision: OpenCLPrecision
    let n: Int
    let box: Box
    /// Interaction cutoff and skin, in Å.
    let cutoff: Double, skin: Double
    /// Cells per axis and their count.
    let cells: SIMD4<Int32>
    let cellCount: Int
    /// Neighbours stored per agent.
    private(set) var capacity: Int
    let groupSize: Int, scanGroupSize: Int
    /// Layout of the lists (Kernels/common.cl SLOT).
    let agentMajor: Bool

    let ref: CLBuffer<SIMD4<Double>>
    let cellOf, cellCounts, cellStart, cursor, order, nbrCount, status: CLBuffer<Int32>
    /// The lists; nil only between `release()` (or the start of `grow`) and the next allocation,
    /// so a list is freed before its replacement is allocated.
    private var listBuffer: CLBuffer<Int32>?
    var nbr: CLBuffer<Int32> { listBuffer! }
    /// Host copies of the status words: the reset values written and the words read back, kept
    /// alive here because the copies are enqueued without waiting.
    private var resetWords = (DeviceStatus.reset(forceRebuild: false), DeviceStatus.reset(forceRebuild: true))
    private(set) var statusWords = [Int32](repeating: 0, count: DeviceStatus.words)
    private let kMaxDisp, kClear, kCount, kScan, kScatter, kSort, kBuild: CLKernel

    var rlist: Double { cutoff + skin }

    init(ctx: CLContext, program: CLProgram, precision: OpenCLPrecision, count n: Int, box: Box,
         cutoff: Double, skin: Double, capacity: Int? = nil) throws {
        self.ctx = ctx
        self.precision = precision
        self.n = n
        self.box = box
        self.cutoff = cutoff
        self.skin = skin
        agentMajor = program.agentMajor
        let rl = cutoff + skin
        // Cells at least r_list wide (with a margin for rounding in the binning), at most 256
        // per axis.
        let per = (box.lengths / (rl * (1 + 1e-6))).rounded(.down)
        let nc = SIMD3<Int32>(Int32(max(1, min(256, per.x))), Int32(max(1, min(256, per.y))),
                              Int32(max(1, min(256, per.z))))
        cells = SIMD4(nc.x, nc.y, nc.z, 0)
        cellCount = Int(nc.x) * Int(nc.y) * Int(nc.z)
        let density = Double(n) / box.volume
        let expected = density * 4.0 / 3.0 * Double.pi * rl * rl * rl
        let initial = capacity ?? Int((expected * 1.3 + 16) / 32 + 1) * 32
        self.capacity = max(1, min(initial, max(n - 1, 1)))
        let maxWG = ctx.device.maxWorkGroupSize
        groupSize = Self.powerOfTwo(atMost: min(128, maxWG))
        scanGroupSize = Self.powerOfTwo(atMost: min(256, maxWG))

        try Self.checkIndexRange(capacity: self.capacity, atoms: n)
        ref = try ctx.buffer(SIMD4<Double>.self, count: n, what: "the neighbour-list reference positions")
        cellOf = try ctx.buffer(Int32.self, count: n, what: "the cell index per atom")
        cellCounts = try ctx.buffer(Int32.self, count: cellCount, what: "the cell counts")
        cellStart = try ctx.buffer(Int32.self, count: cellCount, what: "the cell starts")
        cursor = try ctx.buffer(Int32.self, count: cellCount, what: "the cell cursors")
        order = try ctx.buffer(Int32.self, count: n, what: "the cell order")
        nbrCount = try ctx.buffer(Int32.self, count: n, what: "the neighbour counts")
        status = try ctx.buffer(Int32.self, count: DeviceStatus.words, what: "the status words")
        listBuffer = try ctx.buffer(Int32.self, count: self.capacity * n,
                                    what: "the neighbour lists (\(self.capacity) per agent)")
        // The reference positions start at zero, never at whatever the allocation held (a NaN
        // there would defeat the displacement check; see needs_rebuild in common.cl).
        try ref.enqueueZero()
        kMaxDisp = try program.kernel("max_displacement")
        kClear = try program.kernel("clear_cells")
        kCount = try program.kernel("count_cells")
        kScan = try program.kernel("scan_cells")
        kScatter = try program.kernel("scatter_atoms")
        kSort = try program.kernel("sort_cells")
        kBuild = try program.kernel("build_lists")
    }

    /// Atom indices and counts are 32-bit ints in the kernels; slots (capacity x N) are 64-bit
    /// (SLOT in common.cl), so only the atom count and the capacity themselves are bounded.
    static func checkIndexRange(capacity: Int, atoms: Int) throws {
        if atoms >= Int(Int32.max) || capacity >= Int(Int32.max) {
            throw MLDError.backend("OpenCL neighbour lists for \(atoms) atoms of \(capacity) neighbours exceed the kernels' 32-bit atom indices; use fewer atoms per device")
        }
    }

    static func powerOfTwo(atMost m: Int) -> Int {
        var p = 1
        while p * 2 <= max(m, 1) { p *= 2 }
        return p
    }

    /// Device memory held, in bytes.
    var deviceBytes: Int {
        ref.bytes + cellOf.bytes + 3 * cellCounts.bytes + order.bytes + nbrCount.bytes + (listBuffer?.bytes ?? 0)
    }

    /// Frees the lists (the largest buffer) before a replacement list is made.
    func release() { listBuffer = nil }

    /// Reallocates the lists for `newCapacity` neighbours per agent (contents lost: rebuild).
    func grow(to newCapacity: Int) throws {
        capacity = min(max(newCapacity, capacity + 1), max(n - 1, 1))
        try Self.checkIndexRange(capacity: capacity, atoms: n)
        listBuffer = nil   // free the old lists first: both would not fit where memory is tight
        listBuffer = try ctx.buffer(Int32.self, count: capacity * n, what: "the neighbour lists (\(capacity) per agent)")
    }

    /// Enqueues the reset of the status words (returns at once); `forceRebuild` makes the next
    /// `enqueueUpdate` rebuild.
    func resetStatus(forceRebuild: Bool) throws {
        if forceRebuild {
            try resetWords.1.withUnsafeBytes { try status.enqueueWrite(raw: $0) }
        } else {
            try resetWords.0.withUnsafeBytes { try status.enqueueWrite(raw: $0) }
        }
    }

    /// Enqueues the displacement check and the (conditional) rebuild for positions `pos`.
    /// `rebuild` nil: the device decides (max_displacement, then every build kernel checks the
    /// status word). true: the caller knows the list is due and has reset the status with
    /// `forceRebuild`; the build chain runs without the displacement check. false: the caller
    /// knows it is not due; nothing is enqueued.
    func enqueueUpdate(positions pos: CLBuffer<SIMD4<Double>>, rebuild: Bool? = nil) throws {
        if rebuild == false { return }
        let p = precision
        let halfSkin2 = Float(0.25 * skin * skin)
        let inv = SIMD3<Double>(Double(cells.x), Double(cells.y), Double(cells.z)) / box.lengths
        let n32 = Int32(n), nc32 = Int32(cellCount)

        if rebuild == nil {
            try kMaxDisp.set(0, pos); try kMaxDisp.set(1, ref); try kMaxDisp.setPos(2, box.lengths, p)
            try kMaxDisp.set(3, n32); try kMaxDisp.set(4, status)
            try kMaxDisp.setLocal(5, bytes: groupSize * 4)
            try kMaxDisp.enqueue(ctx, global: n, local: groupSize)
        }

        try kClear.set(0, cellCounts); try kClear.set(1, nc32); try kClear.set(2, status)
        try kClear.set(3, halfSkin2)
        try kClear.enqueue(ctx, global: cellCount, local: groupSize)

        try kCount.set(0, pos); try kCount.set(1, n32); try kCount.setReal4(2, inv, p)
        try kCount.set(3, cells); try kCount.set(4, cellOf); try kCount.set(5, cellCounts)
        try kCount.set(6, status); try kCount.set(7, halfSkin2)
        try kCount.enqueue(ctx, global: n, local: groupSize)

        try kScan.set(0, cellCounts); try kScan.set(1, nc32); try kScan.set(2, cellStart)
        try kScan.set(3, cursor); try kScan.set(4, status); try kScan.set(5, halfSkin2)
        try kScan.setLocal(6, bytes: scanGroupSize * 4)
        try kScan.enqueue(ctx, global: scanGroupSize, local: scanGroupSize)

        try kScatter.set(0, n32); try kScatter.set(1, cellOf); try kScatter.set(2, cursor)
        try kScatter.set(3, order); try kScatter.set(4, status); try kScatter.set(5, halfSkin2)
        try kScatter.enqueue(ctx, global: n, local: groupSize)

        try kSort.set(0, nc32); try kSort.set(1, cellStart); try kSort.set(2, cellCounts)
        try kSort.set(3, order); try kSort.set(4, status); try kSort.set(5, halfSkin2)
        try kSort.enqueue(ctx, global: cellCount, local: groupSize)

        try kBuild.set(0, pos); try kBuild.set(1, ref); try kBuild.set(2, n32)
        try kBuild.setPos(3, box.lengths, p); try kBuild.setReal4(4, inv, p); try kBuild.set(5, cells)
        try kBuild.setReal(6, rlist * rlist, p); try kBuild.set(7, cellStart); try kBuild.set(8, cellCounts)
        try kBuild.set(9, order); try kBuild.set(10, Int32(capacity)); try kBuild.set(11, nbr)
        try kBuild.set(12, nbrCount); try kBuild.set(13, status); try kBuild.set(14, halfSkin2)
        try kBuild.setLocal(15, bytes: groupSize * 4)
        try kBuild.enqueue(ctx, global: n, local: groupSize)
    }

    /// The status words (waits for the queue).
    func readStatus() throws -> [Int32] { try status.read() }

    /// Enqueues the read of the status words into `statusWords` (returns at once: they are
    /// there after the next blocking call on the queue).
    func enqueueStatusRead() throws {
        try statusWords.withUnsafeMutableBytes { try status.enqueueRead(raw: $0) }
    }

    /// Reads the status words into `statusWords`, waiting for the queue.
    func readStatusWords() throws {
        try statusWords.withUnsafeMutableBytes { try status.read(raw: $0) }
    }

    /// The lists as the device holds them, per atom, sorted (tests and diagnostics).
    func lists() throws -> [[Int]] {
        let ord = try order.read(), counts = try nbrCount.read(), flat = try nbr.read()
        var out = [[Int]](repeating: [], count: n)
        for i in 0..<n {
            let m = min(Int(counts[i]), capacity)
            out[Int(ord[i])] = (0..<m).map { Int(flat[agentMajor ? i * capacity + $0 : $0 * n + i]) }.sorted()
        }
        return out
    }

    /// The true neighbour count of every atom at the last build (beyond capacity too).
    func counts() throws -> [Int] {
        let ord = try order.read(), c = try nbrCount.read()
        var out = [Int](repeating: 0, count: n)
        for i in 0..<n { out[Int(ord[i])] = Int(c[i]) }
        return out
    }
}
