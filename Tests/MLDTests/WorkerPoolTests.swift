import Foundation
import Synchronization
import Testing
@testable import MLD

/// `WorkerPool`: every block of a pass runs exactly once, and `perform` returns only after all of
/// them, whether the workers were watching, asleep, busy in another caller's pass or inside the
/// pass itself.
@Suite struct WorkerPoolTests {
    /// Runs a pass of `blocks` blocks and checks that each ran once and had finished on return.
    static func pass(_ pool: WorkerPool, blocks: Int, work: Int = 0) -> Bool {
        let runs = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(blocks, 1))
        runs.initialize(repeating: 0)
        defer { runs.deallocate() }
        let sink = UnsafeMutableBufferPointer<Double>.allocate(capacity: max(blocks, 1))
        sink.initialize(repeating: 0)
        defer { sink.deallocate() }
        pool.perform(iterations: blocks) { b in
            var x = 0.0
            for i in 0..<work { x += Double(i &* b) }
            sink[b] = x
            runs[b] &+= 1
        }
        return runs.prefix(blocks).allSatisfy { $0 == 1 }
    }

    @Test func everyBlockRunsOncePassAfterPass() {
        let pool = WorkerPool(threads: 4, spinNanoseconds: 50_000)
        var good = 0
        for i in 0..<3000 {
            // block counts from 0 up, some passes with real work, so that workers arrive late
            if Self.pass(pool, blocks: i % 37, work: i % 5 == 0 ? 2000 : 0) { good += 1 }
        }
        #expect(good == 3000)
    }

    @Test func sleepingWorkersWakeForTheNextPass() {
        let pool = WorkerPool(threads: 3, spinNanoseconds: 1_000)
        var good = 0
        for _ in 0..<20 {
            if Self.pass(pool, blocks: 16, work: 500) { good += 1 }
            usleep(3_000)   // longer than the spin: the workers are asleep at the next pass
        }
        #expect(good == 20)
    }

    @Test func aPassInsideAPassAndPassesFromSeveralThreads() {
        let pool = WorkerPool(threads: 2)
        // inside a block the pool is held: the inner pass goes through concurrentPerform
        let inner = Atomic<Int>(0)
        pool.perform(iterations: 8) { _ in
            pool.perform(iterations: 4) { _ in inner.wrappingAdd(1, ordering: .relaxed) }
        }
        #expect(inner.load(ordering: .relaxed) == 32)
        // callers on several threads at once: one holds the pool, the others fall back
        let good = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 6) { _ in
            for _ in 0..<200 where Self.pass(pool, blocks: 9, work: 100) { good.wrappingAdd(1, ordering: .relaxed) }
        }
        #expect(good.load(ordering: .relaxed) == 1200)
    }

    @Test func quietWorkersSleepBetweenPassesAndStillRunThem() {
        let pool = WorkerPool(threads: 3)
        #expect(pool.watches)
        pool.holdQuiet(); pool.holdQuiet()
        #expect(!pool.watches)
        var good = 0
        for _ in 0..<200 where Self.pass(pool, blocks: 12, work: 300) { good += 1 }
        pool.releaseQuiet()
        #expect(!pool.watches)
        pool.releaseQuiet()
        #expect(pool.watches)
        for _ in 0..<200 where Self.pass(pool, blocks: 12, work: 300) { good += 1 }
        #expect(good == 400)
    }

    @Test func watchFromTheEnvironmentsText() {
        #expect(WorkerPool.watch(microseconds: "0") == 0)
        #expect(WorkerPool.watch(microseconds: "150") == 150_000)
        #expect(WorkerPool.watch(microseconds: "2.5") == 2_500)
        for bad in [nil, "", "-1", "fast", "1e9", "nan"] as [String?] { #expect(WorkerPool.watch(microseconds: bad) == nil) }
        // a pool that does not watch still runs every block
        let pool = WorkerPool(threads: 2, spinNanoseconds: 0)
        var good = 0
        for _ in 0..<300 where Self.pass(pool, blocks: 5, work: 50) { good += 1 }
        #expect(good == 300)
    }

    @Test func oneThreadRunsInOrderOnTheCaller() {
        let pool = WorkerPool(threads: 1)
        var order: [Int] = []
        pool.perform(iterations: 5) { order.append($0) }
        #expect(order == [0, 1, 2, 3, 4])
    }
}
