import Foundation
import MLD

/// Runs targets over seeded mutations of their seeds. A crash ends the process: the harness
/// first writes the input under way to `crashFile` (target, index, seed and the bytes), so it can
/// be replayed. An input still running after `hangLimit` seconds ends the process the same way
/// (a watchdog thread).
final class FuzzHarness: @unchecked Sendable {
    /// The seed of the whole run; input k of target t uses `inputSeed(t, k)`.
    let seed: UInt64
    let hangLimit: Double
    let scratch: String
    /// Where the input under way is written before it runs (read after a crash).
    let crashFile: String

    private let lock = NSLock()
    private var current: (target: String, index: Int, started: Double)?
    private var watchdog: Thread?

    init(seed: UInt64, hangLimit: Double = 10) throws {
        self.seed = seed
        self.hangLimit = hangLimit
        // In memory where there is a tmpfs (the inputs are written and read a million times).
        var isDir: ObjCBool = false
        let base = FileManager.default.fileExists(atPath: "/dev/shm", isDirectory: &isDir) && isDir.boolValue
            ? "/dev/shm" : NSTemporaryDirectory()
        scratch = (base as NSString).appendingPathComponent("mld-fuzz-\(getpid())-\(seed)")
        try? FileManager.default.removeItem(atPath: scratch)
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        crashFile = (NSTemporaryDirectory() as NSString).appendingPathComponent("mld-fuzz-last-input-\(getpid())")
    }

    deinit { try? FileManager.default.removeItem(atPath: scratch) }

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + 1e-9 * Double(t.tv_nsec)
    }

    func inputSeed(_ target: String, _ index: Int) -> UInt64 {
        var h: UInt64 = seed ^ 0xcbf2_9ce4_8422_2325
        for b in target.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        var g = SplitMix64(seed: h &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
        return g.next()
    }

    /// The input `index` of `target`: a seed (the first `seeds.count` inputs are the seeds
    /// unchanged) or a mutation of one.
    func input(_ target: FuzzTarget, _ index: Int) -> [UInt8] {
        if index < target.seeds.count { return target.seeds[index] }
        var m = Mutator(seed: inputSeed(target.name, index))
        let base = target.seeds[m.below(target.seeds.count)]
        return m.mutate(base)
    }

    private func startWatchdog() {
        guard watchdog == nil else { return }
        // Weak: the harness may be released while the watchdog sleeps; the thread then ends.
        let t = Thread { [weak self] in
            while true {
                Thread.sleep(forTimeInterval: 0.5)
                guard let self else { return }
                self.lock.lock()
                let c = self.current
                self.lock.unlock()
                if let c, Self.now() - c.started > self.hangLimit {
                    let line = "mld fuzz: HANG: \(c.target) input \(c.index) (run seed \(self.seed)) ran over \(self.hangLimit) s; the input is in \(self.crashFile)\n"
                    FileHandle.standardError.write(Data(line.utf8))
                    exit(70)
                }
            }
        }
        t.start()
        watchdog = t
    }

    /// Runs `count` inputs of `target`, starting at input `from`.
    func run(_ target: FuzzTarget, count: Int, from: Int = 0, into report: inout FuzzReport) {
        startWatchdog()
        // One directory per target, emptied before each input.
        let dir = (scratch as NSString).appendingPathComponent(target.name)
        for k in from..<(from + count) {
            let bytes = input(target, k)
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            var saved = Data("target \(target.name)\nindex \(k)\nrun seed \(seed)\n\n".utf8)
            saved.append(contentsOf: bytes)
            try? saved.write(to: URL(fileURLWithPath: crashFile))
            let started = Self.now()
            lock.lock(); current = (target.name, k, started); lock.unlock()
            var outcome: Error?
            do { try target.consume(bytes, dir) } catch { outcome = error }
            let took = Self.now() - started
            lock.lock(); current = nil; lock.unlock()
            report.inputs += 1
            if took > report.slowest { report.slowest = took; report.slowestTarget = "\(target.name) #\(k)" }
            if took > hangLimit { report.hangs += 1 }
            guard let outcome else { report.results += 1; continue }
            if let problem = Self.problem(with: outcome, line: target.errorLine(outcome)) {
                report.findings.append("\(target.name) input \(k) (run seed \(seed)): \(problem)")
            } else {
                report.refusals += 1
            }
        }
        try? FileManager.default.removeItem(atPath: crashFile)
    }

    /// Why a thrown error is not a clear one-line error, or nil when it is.
    static func problem(with error: Error, line: String?) -> String? {
        if let finding = error as? FuzzFinding { return finding.description }
        guard let line else { return "not a one-line mld error: \(String(reflecting: error).prefix(300))" }
        if line.trimmingCharacters(in: .whitespaces).isEmpty { return "an empty error line" }
        if let bad = line.unicodeScalars.first(where: { $0.value < 0x20 || $0.value == 0x7f || $0.value == 0xfeff }) {
            return "error line with the raw character U+\(String(bad.value, radix: 16, uppercase: true)): \(line.debugDescription.prefix(300))"
        }
        return nil
    }
}
