import Foundation
import Testing
@testable import MLD

/// The cores a process may use: Linux CPU lists, and the live count within the online CPUs.
@Suite struct AvailableCoresTests {
    @Test func cpuLists() {
        #expect(AvailableCores.cpuListCount("0") == 1)
        #expect(AvailableCores.cpuListCount("0-1") == 2)
        #expect(AvailableCores.cpuListCount("\t0-3,8,10-11") == 7)
        #expect(AvailableCores.cpuListCount("5") == 1)
        #expect(AvailableCores.cpuListCount("") == nil)
        #expect(AvailableCores.cpuListCount("3-1") == nil)
        #expect(AvailableCores.cpuListCount("a-b") == nil)
        #expect(AvailableCores.cpuListCount("0-1-2") == nil)
    }

    @Test func liveCountIsWithinTheOnlineCPUs() throws {
        let n = AvailableCores.count
        #expect(n >= 1 && n <= ProcessInfo.processInfo.activeProcessorCount)
        #expect(AtomBlocks.defaultThreads == n)
        // Where the kernel reports the affinity list, the count is that list's size (capped by
        // the online CPUs).
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }),
           let listed = AvailableCores.cpuListCount(String(line.dropFirst("Cpus_allowed_list:".count))) {
            #expect(n == min(listed, ProcessInfo.processInfo.activeProcessorCount))
        }
    }
}
