import MLD

/// The two passes of conservative forces on the device (Kernels/conservative.cl), run in place
/// of the selfish gradient kernel when the model's agents are conservative: pass 1 stores in
/// each agent's list entries the forces its loss puts on those atoms (and its own force, their
/// negated sum), pass 2 lets every atom gather, through its own list, the entries of the agents
/// that list it. The reverse index joining the two entries of a pair is rebuilt on the device
/// only on steps that rebuilt the neighbour list. No atomics: the result is deterministic.
///
/// Memory per atom, with K neighbours stored per agent: 32 K bytes of terms (16 K without
/// fp64), 8 K bytes of reverse index, 36 bytes of own force and row index.
final class ConservativePass {
    let ctx: CLContext
    let n: Int
    private(set) var capacity = 0
    let item: CLBuffer<Int32>
    let own: CLBuffer<SIMD4<Double>>
    private(set) var rev: CLBuffer<Int64>
    /// acc4 entries: 32 bytes with fp64 accumulation, 16 without (counted in float4).
    private(set) var terms: CLBuffer<SIMD4<Float>>
    let accDouble: Bool
    let kInvert, kReverse, kTerms, kGather: CLKernel

    init(ctx: CLContext, program: CLProgram, atoms n: Int, accumulateInDouble: Bool) throws {
        self.ctx = ctx
        self.n = n
        accDouble = accumulateInDouble
        item = try ctx.buffer(Int32.self, count: n)
        own = try ctx.buffer(SIMD4<Double>.self, count: n)
        rev = try ctx.buffer(Int64.self, count: 1)
        terms = try ctx.buffer(SIMD4<Float>.self, count: 2)
        kInvert = try program.kernel("conservative_invert")
        kReverse = try program.kernel("conservative_reverse")
        kTerms = try program.kernel("conservative_terms")
        kGather = try program.kernel("conservative_gather")
    }

    /// Device memory held, in bytes.
    var deviceBytes: Int { item.bytes + own.bytes + rev.bytes + terms.bytes }

    /// Status word set when a list entry has no reverse entry (Kernels/conservative.cl).
    static let unpairedWord = 7

    /// Sizes the per-entry buffers for `capacity` neighbours per agent (the list grew: its
    /// rebuild also rebuilds the reverse index).
    private func reserve(capacity k: Int) throws {
        guard k != capacity else { return }
        rev = try ctx.buffer(Int64.self, count: k * n)
        terms = try ctx.buffer(SIMD4<Float>.self, count: k * n * (accDouble ? 2 : 1))
        capacity = k
    }

    /// Enqueues the reverse index (a no-op on the device unless the list was rebuilt), pass 1
    /// and pass 2 for backend `b`, after its invariant kernels.
    func enqueue(_ b: OpenCLBackend) throws {
        let nl = b.nl
        try reserve(capacity: nl.capacity)
        let n32 = Int32(n), cap = Int32(nl.capacity), group = nl.groupSize
        try kInvert.set(0, n32); try kInvert.set(1, nl.order); try kInvert.set(2, nl.status); try kInvert.set(3, item)
        try kInvert.enqueue(ctx, global: n, local: group)

        try kReverse.set(0, n32); try kReverse.set(1, nl.order); try kReverse.set(2, nl.nbr)
        try kReverse.set(3, nl.nbrCount); try kReverse.set(4, cap); try kReverse.set(5, item)
        try kReverse.set(6, nl.status); try kReverse.set(7, rev)
        try kReverse.enqueue(ctx, global: n, local: group)

        let t = kTerms
        try t.set(0, b.positionsBuffer); try t.set(1, n32); try t.setPos(2, b.box.lengths, b.precision)
        try t.set(3, b.speciesBuffer); try t.set(4, nl.order); try t.set(5, b.phi)
        // sel: the nearest slots; a radial model has none and passes any int buffer.
        try t.set(6, b.selected ?? b.speciesBuffer)
        try t.set(7, nl.nbr); try t.set(8, nl.nbrCount); try t.set(9, cap)
        try t.set(10, b.w); try t.set(11, b.W)
        try t.set(12, terms); try t.set(13, own); try t.set(14, b.lossesBuffer)
        try t.enqueue(ctx, global: n, local: group)

        try kGather.set(0, n32); try kGather.set(1, nl.order); try kGather.set(2, nl.nbrCount)
        try kGather.set(3, cap); try kGather.set(4, rev); try kGather.set(5, terms); try kGather.set(6, own)
        try kGather.set(7, b.forcesBuffer)
        try kGather.enqueue(ctx, global: n, local: group)
    }

    /// Throws when the status words say a list entry had no reverse entry (an asymmetric list).
    func check(_ status: [Int32]) throws {
        if status[Self.unpairedWord] != 0 {
            throw MLDError.backend("OpenCL backend: the neighbour list is not symmetric (an entry without its reverse entry); conservative forces cannot be gathered")
        }
    }
}
