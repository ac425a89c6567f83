import Foundation

/// The number of cores this process may run on: the CPUs of its affinity mask (Linux
/// `/proc/self/status`, `Cpus_allowed_list`), at most `ProcessInfo.activeProcessorCount`.
/// `activeProcessorCount` alone counts every online CPU, so a process started under
/// `taskset -c 0` or in a container pinned to a subset of the cores would start more worker
/// threads than it has cores.
public enum AvailableCores {
    /// The cores of this process (at least 1), read once.
    public static let count: Int = {
        let online = max(1, ProcessInfo.processInfo.activeProcessorCount)
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return online }
        for line in status.split(separator: "\n") where line.hasPrefix("Cpus_allowed_list:") {
            let list = line.dropFirst("Cpus_allowed_list:".count)
            if let n = cpuListCount(String(list)), n > 0 { return min(n, online) }
        }
        return online
    }()

    /// The number of CPUs in a Linux CPU list such as "0-3,8,10-11" (ranges inclusive), or nil
    /// when the text is not such a list.
    public static func cpuListCount(_ text: String) -> Int? {
        var total = 0
        for part in text.split(separator: ",") {
            let item = part.trimmingCharacters(in: .whitespaces)
            let ends = item.split(separator: "-", omittingEmptySubsequences: false)
            switch ends.count {
            case 1:
                guard Int(ends[0]) != nil else { return nil }
                total += 1
            case 2:
                guard let a = Int(ends[0]), let b = Int(ends[1]), a <= b else { return nil }
                total += b - a + 1
            default:
                return nil
            }
        }
        return total > 0 ? total : nil
    }
}
