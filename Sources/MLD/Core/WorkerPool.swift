import Foundation
import Synchronization

/// Runs the blocks of one parallel pass at a time on threads that stay alive between passes: the
/// passes of an MD step (forces, neighbour-list builds, the thermostat, the fused half steps)
/// each take well under a millisecond on small boxes, and a worker that has gone to sleep since
/// the last pass costs tens of microseconds to wake.
///
/// The calling thread runs blocks too; the `threads - 1` workers claim the rest one at a time (so
/// a core that another process holds delays a pass by one block, not by a fixed share). After a
/// pass a worker keeps watching for the next one for `spinNanoseconds` (the serial work between
/// the passes of a step is shorter than that), then sleeps until it is woken.
///
/// While another program's threads share the cores between passes (an OpenCL driver that runs
/// its kernels on the CPU), watching would take their time: `holdQuiet` makes the workers sleep
/// right after every pass until the matching `releaseQuiet`.
///
/// Which thread runs a block never matters to the results: every pass here writes per-block
/// results into per-block storage. `perform` from inside a block, or while another thread's pass
/// holds the pool, runs through `DispatchQueue.concurrentPerform` instead.
public final class WorkerPool: @unchecked Sendable {
    /// The pool of the cores this process may run on (`AvailableCores`), its workers started at
    /// the first pass with two blocks or more. `MLD_WORKER_WATCH_US` in the environment sets how
    /// long a worker watches (µs; default 200): 0 makes workers sleep right after every pass and
    /// the caller yield the core while it waits, so that an instruction count
    /// (`scripts/callgrind-phases.sh`, under valgrind, which runs one thread at a time) holds the
    /// passes' work and not the waiting.
    public static let shared = WorkerPool(threads: AvailableCores.count,
                                          spinNanoseconds: watchFromEnvironment() ?? 200_000)

    /// `MLD_WORKER_WATCH_US` in ns (`watch(microseconds:)`).
    static func watchFromEnvironment() -> UInt64? {
        watch(microseconds: ProcessInfo.processInfo.environment["MLD_WORKER_WATCH_US"])
    }

    /// A watch given in µs as text, in ns; nil when absent or not a number from 0 to 10^6 (the
    /// default then holds).
    static func watch(microseconds text: String?) -> UInt64? {
        guard let text, let us = Double(text), us >= 0, us <= 1e6 else { return nil }
        return UInt64(us * 1000)
    }

    /// Threads that run a pass, the caller's included.
    public let threads: Int
    /// How long (ns) a worker watches for the next pass before it sleeps.
    public let spinNanoseconds: UInt64

    /// The pass being run: generation (bits 40-63), block count (bits 20-39) and the next block
    /// to claim (bits 0-19). A block is claimed by a compare-and-swap that checks the generation,
    /// so a worker that arrives late claims nothing of a later pass.
    private let state = Atomic<UInt64>(0)
    /// Blocks of the current pass finished.
    private let finished = Atomic<Int>(0)
    /// Workers asleep (or about to sleep) on `condition`.
    private let sleepers = Atomic<Int>(0)
    private let holder = Atomic<Bool>(false)
    /// Holders of `holdQuiet`: the workers do not watch while there are any.
    private let quietHolders = Atomic<Int>(0)
    private let started = Atomic<Bool>(false)
    private let condition = NSCondition()
    /// The current pass's body: written before its generation is published, and cleared only
    /// after its last block finished.
    private var body: ((Int) -> Void)?

    private static let countShift: UInt64 = 20
    private static let generationShift: UInt64 = 40
    private static let field: UInt64 = (1 << 20) - 1
    /// Passes with more blocks than this go through `concurrentPerform`.
    public static let maximumBlocks = Int(field)

    public init(threads: Int, spinNanoseconds: UInt64 = 200_000) {
        self.threads = max(1, threads)
        self.spinNanoseconds = spinNanoseconds
    }

    /// From now until the matching `releaseQuiet`, workers sleep as soon as a pass is done.
    public func holdQuiet() { quietHolders.wrappingAdd(1, ordering: .relaxed) }

    /// Ends one `holdQuiet`.
    public func releaseQuiet() { quietHolders.wrappingSubtract(1, ordering: .relaxed) }

    /// Whether the workers watch for the next pass (no `holdQuiet` in force).
    public var watches: Bool { quietHolders.load(ordering: .relaxed) == 0 }

    /// Runs `body(b)` for every b in 0..<iterations, on this thread and the workers, and returns
    /// once every block has finished (as `DispatchQueue.concurrentPerform`).
    public func perform(iterations n: Int, _ body: (Int) -> Void) {
        if n <= 0 { return }
        if n == 1 || threads == 1 {
            for b in 0..<n { body(b) }
            return
        }
        guard n <= Self.maximumBlocks,
              holder.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            DispatchQueue.concurrentPerform(iterations: n, execute: body)
            return
        }
        defer { holder.store(false, ordering: .releasing) }
        startWorkers()
        withoutActuallyEscaping(body) { body in
            self.body = body
            finished.store(0, ordering: .relaxed)
            let old = state.load(ordering: .relaxed)
            let generation = ((old >> Self.generationShift) &+ 1) & ((1 << 24) - 1)
            let generationBits = generation << Self.generationShift
            state.store(generationBits | (UInt64(n) << Self.countShift), ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                condition.lock()
                condition.broadcast()
                condition.unlock()
            }
            run(generation: generationBits)
            // Wait for the blocks the workers took: watching, or yielding the core at once when
            // the workers do not watch either.
            let yieldMask = watches && spinNanoseconds > 0 ? 1023 : 0
            var spins = 0
            while finished.load(ordering: .acquiring) < n {
                spins &+= 1
                if spins & yieldMask == 0 { sched_yield() }
            }
            self.body = nil
        }
    }

    /// Claims and runs blocks of the pass of `generation` (its bits in place) until none is left.
    private func run(generation: UInt64) {
        while true {
            var s = state.load(ordering: .acquiring)
            var claimed = -1
            while s & ~((1 << Self.generationShift) - 1) == generation {
                let index = s & Self.field, count = (s >> Self.countShift) & Self.field
                if index >= count { break }
                let (exchanged, now) = state.compareExchange(expected: s, desired: s &+ 1, ordering: .acquiringAndReleasing)
                if exchanged { claimed = Int(index); break }
                s = now
            }
            if claimed < 0 { return }
            body!(claimed)
            finished.wrappingAdd(1, ordering: .releasing)
        }
    }

    private func startWorkers() {
        guard !started.load(ordering: .relaxed) else { return }
        started.store(true, ordering: .relaxed)
        for _ in 1..<threads {
            let thread = Thread { [self] in self.work() }
            thread.name = "mld worker"
            thread.start()
        }
    }

    /// A worker: waits for a pass with a generation it has not seen, runs its blocks, repeats.
    private func work() {
        let generationMask: UInt64 = ~((1 << Self.generationShift) - 1)
        var seen = state.load(ordering: .acquiring) & generationMask
        while true {
            var g = state.load(ordering: .acquiring) & generationMask
            if g == seen {
                let budget = watches ? spinNanoseconds : 0
                let deadline = DispatchTime.now().uptimeNanoseconds &+ budget
                var spins = 0
                while g == seen {
                    spins &+= 1
                    if budget == 0 || (spins & 255 == 0 && DispatchTime.now().uptimeNanoseconds > deadline) {
                        condition.lock()
                        sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
                        g = state.load(ordering: .sequentiallyConsistent) & generationMask
                        while g == seen {
                            condition.wait()
                            g = state.load(ordering: .sequentiallyConsistent) & generationMask
                        }
                        sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                        condition.unlock()
                        break
                    }
                    g = state.load(ordering: .acquiring) & generationMask
                }
            }
            seen = g
            run(generation: g)
        }
    }
}
