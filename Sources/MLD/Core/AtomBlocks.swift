import Foundation

/// Atoms split into fixed blocks of `size` consecutive indices, for passes over every atom that
/// run on all cores and still give the same bits on any machine.
///
/// A pass writes one partial result per block (a sum taken atom by atom in index order inside the
/// block); the partials are then added in block order. The blocking depends only on the atom
/// count, never on the thread count, so every reduction (kinetic energy, momentum, work) is a pure
/// function of the arrays: a run resumed from a checkpoint recomputes exactly the sums the
/// uninterrupted run kept.
public struct AtomBlocks: Sendable {
    /// Atoms per block: small enough that a box of a thousand or two atoms still fills two cores
    /// (a block's host work is some 20 µs), large enough that the per-block partials cost nothing.
    public static let size = 256
    /// Atom count.
    public let atoms: Int
    /// Number of blocks (at least 1).
    public let count: Int
    /// Whether blocks run on several threads (only when there are at least two blocks).
    public let parallel: Bool

    public init(atoms: Int, threads: Int = AtomBlocks.defaultThreads) {
        self.atoms = atoms
        count = max(1, (atoms + Self.size - 1) / Self.size)
        parallel = threads > 1 && count > 1
    }

    /// The cores this process may run on (`AvailableCores`).
    public static let defaultThreads = AvailableCores.count

    /// The atoms of block `b`.
    @inline(__always)
    public func range(_ b: Int) -> Range<Int> { (b * Self.size)..<min(atoms, (b + 1) * Self.size) }

    /// The atoms of block `b` when `count` atoms are split into blocks of `per` for a pass with a
    /// block count of its own: the last blocks may be short, and those that would start past
    /// `count` (more blocks than it fills, a small box on many threads) are empty.
    @inline(__always)
    public static func range(_ b: Int, per: Int, count: Int) -> Range<Int> {
        min(count, b * per)..<min(count, (b + 1) * per)
    }

    /// Runs `body(b)` for every block: concurrently when `parallel`, else in order on this thread.
    @inline(__always)
    public func forEach(_ body: (Int) -> Void) {
        if parallel {
            WorkerPool.shared.perform(iterations: count, body)
        } else {
            for b in 0..<count { body(b) }
        }
    }
}
